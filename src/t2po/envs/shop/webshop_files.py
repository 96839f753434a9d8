"""Load the original WebShop data files (Yao et al. 2022) into a ``Catalog``.

WebShop publishes (in its ``data/`` folder):

* ``items_shuffle.json`` (or ``items_shuffle_1000.json``): a list of scraped products with
  ``asin``, ``name``, ``full_description``, ``small_description`` (str or list),
  ``pricing`` (text such as ``"$12.99"`` or ``"$10.99$15.99"``), ``product_category``
  (``"A › B › C"``), ``query``, ``category`` and ``customization_options``
  (``{group: [{"value": ..., "image": ...}, ...]}``);
* ``items_ins_v2.json`` (or ``items_ins_v2_1000.json``): ``{asin: {"attributes": [...],
  "instruction": ..., "instruction_attributes": [...]}}``;
* ``items_human_ins.json``: ``{asin: [{"instruction": ..., "instruction_attributes": [...],
  "instruction_options": [...]}, ...]}``, the human goals;
* optionally ``reviews.json``: ``[{"asin": ..., "reviews": [{"title", "score"|"stars",
  "body"|"review"}]}]``.

Cleaning follows upstream ``load_products``: ids that are ``"nan"`` or longer than 10 are
skipped, duplicates keep the first, option values are stripped, lower-cased and ``/`` becomes
``" | "``, a missing price is $100. Where upstream draws a random price inside a price range on
every start, here the draw is seeded by the product id (same catalog on every run).

Goals: the human goals (those with at least one attribute), price bound by WebShop's rule,
shuffled with upstream's seed 233; the first 500 are ``test`` and goals 1500 onward ``train``
(WebShop's and GiGPO's split; 500-1500 is their validation range). A file with 1500 goals or
fewer is split 10% test / 90% train. Without a human-goal file, goals are written from every
product by this project's instruction generator.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from t2po.envs.shop.catalog import Catalog, Goal, Product, Review
from t2po.envs.shop.instructions import NO_PRICE_BOUND, make_goal, price_bound

PRODUCT_FILES = ("items_shuffle.json", "items_shuffle_1000.json")
ATTRIBUTE_FILES = ("items_ins_v2.json", "items_ins_v2_1000.json")
HUMAN_GOALS_FILE = "items_human_ins.json"
REVIEWS_FILE = "reviews.json"
DEFAULT_PRICE = 100.0
GOAL_SHUFFLE_SEED = 233
TEST_GOALS, VALID_END = 500, 1500


class WebShopFileError(ValueError):
    """A WebShop data file is missing or not in the published format."""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise WebShopFileError(f"cannot read WebShop file {path}: {exc}") from exc


def _first_existing(folder: Path, names: Iterable[str]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def parse_pricing(pricing: Any, asin: str) -> float:
    """One price from upstream's pricing text (a range gives a seeded draw inside it)."""
    if not pricing or not isinstance(pricing, str):
        return DEFAULT_PRICE
    values = []
    for part in pricing.split("$")[1:]:
        digits = re.sub(r"[^\d.]", "", part)
        try:
            values.append(float(digits))
        except ValueError:
            continue
    if not values:
        return DEFAULT_PRICE
    if len(values) == 1:
        return values[0]
    low, high = sorted(values[:2])
    return round(random.Random(f"webshop-price/{asin}").uniform(low, high), 2)


def _options(raw: Any) -> dict[str, tuple[str, ...]]:
    options: dict[str, tuple[str, ...]] = {}
    if not isinstance(raw, dict):
        return options
    for group, contents in raw.items():
        if not contents:
            continue
        values = [
            str(c["value"]).strip().replace("/", " | ").lower()
            for c in contents
            if isinstance(c, dict) and c.get("value") is not None
        ]
        if values:
            options[str(group).lower()] = tuple(dict.fromkeys(values))
    return options


def _reviews(raw: Any) -> tuple[Review, ...]:
    reviews = []
    for r in raw or ():
        if not isinstance(r, dict):
            continue
        score = r.get("score", r.get("stars", 0))
        try:
            stars = int(float(str(score)))
        except (TypeError, ValueError):
            stars = 0
        body = r.get("body", r.get("review", ""))
        reviews.append(Review(stars, str(r.get("title", "")), str(body or "")))
    return tuple(reviews)


def parse_product(
    raw: dict[str, Any], attributes: dict[str, Any], reviews: dict[str, Any]
) -> Product | None:
    """One upstream product record as a ``Product`` (None when upstream would skip it)."""
    asin = str(raw.get("asin", ""))
    if not asin or asin == "nan" or len(asin) > 10:
        return None
    missing = [k for k in ("name", "product_category", "query", "category") if k not in raw]
    if missing:
        raise WebShopFileError(f"product {asin} lacks {', '.join(missing)}")
    bullets = raw.get("small_description") or []
    if not isinstance(bullets, list):
        bullets = [bullets]
    attrs = attributes.get(asin, {}).get("attributes") or []
    return Product(
        asin=asin,
        title=str(raw["name"]),
        category=str(raw["category"]),
        query=str(raw["query"]).lower().strip(),
        product_category=str(raw["product_category"]),
        attributes=tuple(str(a) for a in attrs),
        options=_options(raw.get("customization_options")),
        price=parse_pricing(raw.get("pricing"), asin),
        description=str(raw.get("full_description") or ""),
        bullet_points=tuple(str(b) for b in bullets),
        reviews=_reviews(reviews.get(asin)),
    )


def _human_goals(products: dict[str, Product], human: dict[str, Any]) -> list[Goal]:
    goals = []
    for asin, product in products.items():
        for i, entry in enumerate(human.get(asin) or []):
            wanted = [str(a) for a in entry.get("instruction_attributes") or []]
            if not wanted:
                continue  # upstream skips goals without attributes
            rng = random.Random(f"webshop-goal/{asin}/{i}")
            upper = price_bound(product.price, rng)
            price_text = (
                f", and price lower than {upper:.2f} dollars" if upper < NO_PRICE_BOUND else ""
            )
            options: dict[str, str] = {}
            wanted_options = [str(v).lower() for v in entry.get("instruction_options") or []]
            for k, value in enumerate(wanted_options):
                group = next((g for g, vs in product.options.items() if value in vs), f"option {k}")
                options.setdefault(group, value)
            goals.append(
                Goal(
                    asin=asin,
                    instruction=str(entry.get("instruction", "")).strip(".") + price_text,
                    query=product.query,
                    category=product.category,
                    product_category=product.product_category,
                    name=product.title,
                    attributes=tuple(wanted),
                    options=options,
                    price_upper=upper,
                )
            )
    return goals


def split_goals(goals: list[Goal]) -> dict[str, list[Goal]]:
    """Upstream's shuffle and split (see the module docstring)."""
    shuffled = list(goals)
    random.Random(GOAL_SHUFFLE_SEED).shuffle(shuffled)
    if len(shuffled) > VALID_END:
        return {"test": shuffled[:TEST_GOALS], "train": shuffled[VALID_END:]}
    n_test = max(1, len(shuffled) // 10)
    return {"test": shuffled[:n_test], "train": shuffled[n_test:]}


def load_webshop_files(
    products_path: Path,
    attributes_path: Path | None = None,
    human_goals_path: Path | None = None,
    reviews_path: Path | None = None,
    n_products: int | None = None,
) -> Catalog:
    """A catalog from WebShop's files (the first ``n_products`` products when given)."""
    raw_products = _read_json(Path(products_path))
    if not isinstance(raw_products, list):
        raise WebShopFileError(f"{products_path}: expected a JSON list of products")
    attributes = _read_json(Path(attributes_path)) if attributes_path else {}
    reviews_raw = _read_json(Path(reviews_path)) if reviews_path else []
    reviews = {r["asin"]: r.get("reviews") for r in reviews_raw if isinstance(r, dict)}
    products: dict[str, Product] = {}
    for raw in raw_products[:n_products] if n_products else raw_products:
        if not isinstance(raw, dict):
            raise WebShopFileError(f"{products_path}: every product must be a JSON object")
        product = parse_product(raw, attributes, reviews)
        if product is not None and product.asin not in products:
            products[product.asin] = product
    if not products:
        raise WebShopFileError(f"{products_path}: no usable product")
    if human_goals_path:
        goals = _human_goals(products, _read_json(Path(human_goals_path)))
    else:
        goals = [
            make_goal(p, random.Random(f"webshop-synthetic/{p.asin}"))
            for p in products.values()
            if p.attributes
        ]
    if not goals:
        raise WebShopFileError("no goal could be built (no instruction with attributes)")
    return Catalog(
        products=list(products.values()),
        fixed_goals=split_goals(goals),
        source=str(Path(products_path).parent),
    )


def load_webshop_dir(folder: Path, n_products: int | None = None) -> Catalog:
    """Find WebShop's files in ``folder`` (names as published) and load them."""
    folder = Path(folder)
    products = _first_existing(folder, PRODUCT_FILES)
    if products is None:
        raise WebShopFileError(
            f"no WebShop product file in {folder}: expected one of {', '.join(PRODUCT_FILES)}"
        )
    return load_webshop_files(
        products,
        attributes_path=_first_existing(folder, ATTRIBUTE_FILES),
        human_goals_path=_first_existing(folder, (HUMAN_GOALS_FILE,)),
        reviews_path=_first_existing(folder, (REVIEWS_FILE,)),
        n_products=n_products,
    )
