"""The shop environment: conformance, determinism, splits, search, actions and the expert."""

from __future__ import annotations

import random

import pytest

from t2po.envs import get_family, make_env
from t2po.envs.checker import check_family
from t2po.envs.shop.catalog import generate_catalog, make_product
from t2po.envs.shop.env import ShopEnv
from t2po.envs.shop.expert import ShopExpert, key_words
from t2po.envs.shop.instructions import goal_for
from t2po.envs.shop.session import parse_shop_action
from t2po.envs.shop.store import generated_shop


@pytest.fixture(scope="module")
def env() -> ShopEnv:
    return ShopEnv()  # the default 10,000-product catalog, built once per process


def play_expert(env: ShopEnv, seed: int, split: str, max_steps: int = 30) -> dict:
    obs, info = env.reset(seed=seed, options={"split": split})
    expert = ShopExpert(env)
    for _ in range(max_steps):
        step = expert.act(obs, info)
        obs, _, terminated, truncated, info = env.step(step.action)
        assert info["action_is_valid"], (step, info.get("error"))
        if terminated or truncated:
            break
    return info


def test_family_conforms_to_the_env_contract():
    assert check_family("shop", seeds=(0, 1, 2)) == []
    family = get_family("t2po/Shop-v0")
    assert family.splits == ("train", "test") and family.eval_split == "test"
    assert family.list_admissible and family.memory_window == 2


def test_catalog_is_deterministic_per_seed_and_large():
    a, b = generate_catalog(3, 200), generate_catalog(3, 200)
    assert a.products == b.products
    assert generate_catalog(4, 200).products != a.products
    assert make_product(0, 150) == generated_shop().catalog.products[150]  # prefix-stable
    catalog = generated_shop().catalog
    assert len(catalog.products) >= 10_000
    assert {p.category for p in catalog.products} == {
        "beauty",
        "fashion",
        "food",
        "furniture",
        "electronics",
    }


def test_instructions_are_deterministic_and_splits_disjoint(env):
    catalog = env.shop.catalog
    assert goal_for(catalog, "train", 5) == goal_for(catalog, "train", 5)
    train = {goal_for(catalog, "train", s).asin for s in range(300)}
    test = {goal_for(catalog, "test", s).asin for s in range(300)}
    assert train.isdisjoint(test)
    assert set(catalog.split_targets["train"]).isdisjoint(catalog.split_targets["test"])
    # both splits cover every top category
    assert {catalog.by_asin[a].category for a in test} == {p.category for p in catalog.products}
    with pytest.raises(ValueError, match="unknown split"):
        env.reset(seed=0, options={"split": "valid"})


def test_instruction_names_type_attributes_options_and_price(env):
    goal = goal_for(env.shop.catalog, "train", 11)
    target = env.shop.catalog.by_asin[goal.asin]
    assert goal.query in goal.instruction
    assert all(a in goal.instruction for a in goal.attributes) and 1 <= len(goal.attributes) <= 3
    assert all(v in goal.instruction for v in goal.options.values())
    assert set(goal.options) == set(target.options)
    assert f"{goal.price_upper:.2f}" in goal.instruction and target.price <= goal.price_upper


def test_search_finds_targets_in_the_first_results(env):
    hits = 0
    for seed in range(40):
        goal = goal_for(env.shop.catalog, "test", seed)
        target = env.shop.catalog.by_asin[goal.asin]
        hits += goal.asin in env.shop.index.search(target.title)[:10]
    assert hits == 40
    results = env.shop.index.search(key_words(goal_for(env.shop.catalog, "test", 0)))
    assert len(results) == 50 and len(set(results)) == 50
    assert env.shop.index.search("zzqx unknownword") == []


def test_actions_parse_strictly():
    assert parse_shop_action("search[ Natural  Hair ]") == "search[natural hair]"
    assert parse_shop_action("Click[Buy Now]") == "click[buy now]"
    for bad in ("buy now", "click[]", "search[a]b", "jump[x]", "click[ ]", "x" * 400):
        assert parse_shop_action(bad) is None
    assert parse_shop_action("click[size [eu]]") == "click[size [eu]]"  # option text may hold []


def test_pages_reward_and_invalid_actions(env):
    obs, info = env.reset(seed=2, options={"split": "test"})
    assert obs["text"] == f"Instruction: [SEP] {info['task']} [SEP] Search"
    assert info["admissible_actions"] == ["search[<your query>]"]
    assert info["task"] and info["task_type"] in {
        "beauty",
        "fashion",
        "food",
        "furniture",
        "electronics",
    }
    for bad in ("click[buy now]", "hello", "click[back to search]"):
        obs2, reward, term, trunc, info2 = env.step(bad)
        assert not info2["action_is_valid"] and reward == 0.0 and info2["anchor"] == obs["text"]
    obs, _, _, _, info = env.step("search[" + key_words(env.session.goal) + "]")
    assert obs["text"].startswith("Back to Search [SEP] Page 1 (1-10 of 50 results)")
    assert (
        "click[next >]" in info["admissible_actions"]
        and "click[< prev]" not in info["admissible_actions"]
    )
    _, _, _, _, info = env.step("search[again]")  # no search box on a results page
    assert not info["action_is_valid"]
    first = info["admissible_actions"][2]  # back to search, next >, then the first asin
    obs, _, _, _, info = env.step(first)
    assert "[SEP] Buy Now" in obs["text"] and "click[description]" in info["admissible_actions"]
    obs, _, _, _, info = env.step("click[features]")
    assert "click[buy now]" not in info["admissible_actions"]
    env.step("click[< prev]")
    _, reward, terminated, _, info = env.step("click[buy now]")
    assert terminated and 0.0 <= info["score"] <= 1.0
    assert reward == pytest.approx(10.0 * info["won"] + info["score"])
    assert {"r_type", "r_att", "r_option", "r_price", "title_score"} <= set(info)


def test_truncation_after_max_steps():
    env = ShopEnv(max_steps=2)
    env.reset(seed=0)
    assert env.step("click[nothing]")[3] is False
    assert env.step("click[nothing]")[3] is True


@pytest.mark.parametrize("split", ["train", "test"])
def test_expert_reaches_score_one_on_generated_instructions(env, split):
    seeds = random.Random(split).sample(range(10**6), 60)
    won = [play_expert(env, seed, split)["won"] for seed in seeds]
    assert sum(won) / len(won) >= 0.95


def test_make_env_and_rollout_options():
    env = make_env("shop", num_products=300, max_steps=5)
    try:
        obs, info = env.reset(seed=1, options={"split": "train"})
        assert info["split"] == "train" and info["won"] is False and info["score"] == 0.0
    finally:
        env.close()
