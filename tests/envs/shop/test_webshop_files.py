"""Loading a small catalog written in WebShop's published file format, and playing it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from t2po.envs.shop.env import ShopEnv
from t2po.envs.shop.expert import ShopExpert
from t2po.envs.shop.webshop_files import (
    WebShopFileError,
    load_webshop_dir,
    parse_pricing,
    split_goals,
)


def _product(asin: str, name: str, query: str, pricing: str, colors: list[str]) -> dict:
    return {
        "asin": asin,
        "name": name,
        "full_description": f"{name}. Soft and warm for winter days.",
        "small_description": ["machine wash", "imported"],
        "pricing": pricing,
        "images": ["https://example.invalid/a.jpg"],
        "product_category": "Clothing, Shoes & Jewelry › Women › Clothing › Sweaters",
        "query": f" {query.upper()} ",
        "category": "fashion",
        "customization_options": {
            "Color": [{"value": c, "image": None} for c in colors],
            "Size": [{"value": "Small"}, {"value": "Large"}],
        },
    }


@pytest.fixture()
def webshop_dir(tmp_path: Path) -> Path:
    products = [
        _product(
            "B000000001",
            "Cozy Knit Sweater for Women",
            "women sweater",
            "$25.99",
            ["Navy/Blue", "Red"],
        ),
        _product(
            "B000000002", "Chunky Cardigan Sweater", "women sweater", "$30.00$40.00", ["Grey"]
        ),
        _product("B000000001", "Duplicate id is skipped", "x", "$1.00", ["Red"]),
        _product("nan", "Bad id is skipped", "x", "$1.00", ["Red"]),
        _product("B000000003", "Leather Office Chair", "office chair", "", ["Black"]),
    ]
    attributes = {
        "B000000001": {
            "attributes": ["machine wash", "long sleeve"],
            "instruction": "x",
            "instruction_attributes": ["machine wash"],
        },
        "B000000002": {"attributes": ["button closure"]},
    }
    human = {
        "B000000001": [
            {
                "asin": "B000000001",
                "instruction": "i want a long sleeve sweater in navy blue.",
                "instruction_attributes": ["long sleeve"],
                "instruction_options": ["navy | blue", "small"],
            },
            {
                "asin": "B000000001",
                "instruction": "skipped: no attributes",
                "instruction_attributes": [],
                "instruction_options": [],
            },
        ],
        "B000000002": [
            {
                "asin": "B000000002",
                "instruction": "a grey cardigan with button closure",
                "instruction_attributes": ["button closure"],
                "instruction_options": ["grey"],
            },
        ],
    }
    reviews = [
        {
            "asin": "B000000001",
            "average_rating": 4.5,
            "reviews": [{"title": "Warm", "stars": "5", "review": "Love it"}],
        }
    ]
    for name, data in (
        ("items_shuffle_1000.json", products),
        ("items_ins_v2_1000.json", attributes),
        ("items_human_ins.json", human),
        ("reviews.json", reviews),
    ):
        (tmp_path / name).write_text(json.dumps(data))
    return tmp_path


def test_products_are_cleaned_like_upstream(webshop_dir):
    catalog = load_webshop_dir(webshop_dir)
    assert [p.asin for p in catalog.products] == ["B000000001", "B000000002", "B000000003"]
    sweater = catalog.by_asin["B000000001"]
    assert sweater.options == {"color": ("navy | blue", "red"), "size": ("small", "large")}
    assert sweater.query == "women sweater" and sweater.price == 25.99
    assert sweater.attributes == ("machine wash", "long sleeve")
    assert sweater.reviews[0].score == 5 and sweater.reviews[0].body == "Love it"
    assert catalog.by_asin["B000000003"].price == 100.0  # no pricing -> $100
    assert 30.0 <= catalog.by_asin["B000000002"].price <= 40.0
    assert (
        catalog.by_asin["B000000002"].price
        == load_webshop_dir(webshop_dir).by_asin["B000000002"].price
    )  # seeded draw


def test_human_goals_with_options_mapped_to_groups(webshop_dir):
    catalog = load_webshop_dir(webshop_dir)
    goals = [g for split in catalog.fixed_goals.values() for g in split]
    assert len(goals) == 2  # the goal without attributes is skipped
    sweater_goal = next(g for g in goals if g.asin == "B000000001")
    assert sweater_goal.options == {"color": "navy | blue", "size": "small"}
    assert sweater_goal.instruction.startswith("i want a long sleeve sweater in navy blue, and")
    assert sweater_goal.price_upper in (40.0, 50.0, 60.0)
    assert sorted(catalog.fixed_goals) == ["test", "train"]
    assert len(catalog.fixed_goals["test"]) == 1 and len(catalog.fixed_goals["train"]) == 1


def test_the_env_plays_the_loaded_catalog(webshop_dir):
    env = ShopEnv(webshop_dir=str(webshop_dir))
    for split in ("train", "test"):
        obs, info = env.reset(seed=0, options={"split": split})
        expert = ShopExpert(env)
        for _ in range(15):
            step = expert.act(obs, info)
            obs, _, terminated, _, info = env.step(step.action)
            assert info["action_is_valid"]
            if terminated:
                break
        assert info["won"] and info["score"] == 1.0 and info["task_type"] == "fashion"


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(WebShopFileError, match="no WebShop product file"):
        load_webshop_dir(tmp_path)
    (tmp_path / "items_shuffle.json").write_text("{not json")
    with pytest.raises(WebShopFileError, match="cannot read"):
        load_webshop_dir(tmp_path)
    (tmp_path / "items_shuffle.json").write_text(json.dumps([{"asin": "B1", "name": "x"}]))
    with pytest.raises(WebShopFileError, match="lacks"):
        load_webshop_dir(tmp_path)


def test_pricing_text_and_upstream_split_sizes():
    assert parse_pricing("$1,299.50", "A") == 1299.5 and parse_pricing(None, "A") == 100.0
    goals = list(range(2000))
    split = split_goals(goals)  # type: ignore[arg-type]
    assert len(split["test"]) == 500 and len(split["train"]) == 500
    assert set(split["test"]).isdisjoint(split["train"])
