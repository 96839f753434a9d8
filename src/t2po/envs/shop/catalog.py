"""Products, goals and the seeded catalog generator.

``Product`` and ``Goal`` mirror the fields WebShop's engine works with after loading
(``Title``, ``product_category``, ``query``, ``Attributes``, ``options``, ``BulletPoints``,
``Description``, price), so the reward and the pages treat a generated catalog and a loaded
WebShop catalog alike.

``generate_catalog(seed, n)`` is deterministic: product ``i`` is drawn from its own
``random.Random`` seeded by ``(seed, i)``, so a catalog of 10,000 products builds in well
under a second and any prefix of it is the same whatever ``n`` is. ``load_catalog`` caches
one catalog (and its search index) per process.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field, replace
from functools import cached_property

from t2po.envs.shop.vocab import (
    BRANDS,
    CATEGORIES,
    GENERIC_BULLETS,
    REVIEW_BODIES,
    REVIEW_TITLES,
    Category,
    ProductType,
)

PATH_SEP = " › "
DEFAULT_PRODUCTS = 10_000
# One round over the product types in this many is held out (test targets); the rest train.
TEST_EVERY = 10


@dataclass(frozen=True)
class Review:
    score: int  # 1-5 stars
    title: str
    body: str


@dataclass(frozen=True)
class Product:
    """One listing, with the fields WebShop's reward and pages read."""

    asin: str  # upper case id shown on result pages, e.g. "B0K3X9QZ2M"
    title: str
    category: str  # top category: beauty, fashion, food, furniture, electronics
    query: str  # the product type (WebShop's search query the listing was scraped for)
    product_category: str  # full category path joined with " › "
    attributes: tuple[str, ...]
    options: dict[str, tuple[str, ...]]  # group -> values (lower case)
    price: float
    description: str
    bullet_points: tuple[str, ...]
    reviews: tuple[Review, ...] = ()

    @property
    def price_text(self) -> str:
        return f"${self.price:.2f}"

    @property
    def rating(self) -> str:
        if not self.reviews:
            return "N.A."
        return f"{sum(r.score for r in self.reviews) / len(self.reviews):.1f}"


@dataclass(frozen=True)
class Goal:
    """What the shopper wants (WebShop's goal dict): the target and the instruction."""

    asin: str  # the listing the goal was written from
    instruction: str
    query: str
    category: str
    product_category: str
    name: str  # the target's title (the type factor compares titles)
    attributes: tuple[str, ...]
    options: dict[str, str]  # group -> wanted value
    price_upper: float


@dataclass
class Catalog:
    """All products, by id, and the target products of each split."""

    products: list[Product]
    split_targets: dict[str, list[str]] = field(default_factory=dict)  # split -> asins
    fixed_goals: dict[str, list[Goal]] = field(default_factory=dict)  # loaded human goals
    source: str = "generated"

    def __post_init__(self) -> None:
        self.by_asin: dict[str, Product] = {p.asin: p for p in self.products}
        if len(self.by_asin) != len(self.products):
            raise ValueError("product ids (asin) must be unique")

    @cached_property
    def charset(self) -> str:
        """Every character a page can show (for the Gymnasium ``Text`` space)."""
        chars = set(string.printable) | set("›")
        for p in self.products:
            chars.update(p.title, p.description, p.product_category, p.price_text)
            for text in (*p.bullet_points, *p.attributes):
                chars.update(text)
            for group, values in p.options.items():
                chars.update(group)
                for v in values:
                    chars.update(v)
            for r in p.reviews:
                chars.update(r.title, r.body)
        return "".join(sorted(chars))


def all_types() -> list[tuple[Category, ProductType]]:
    """Every (category, product type) pair, in a fixed order."""
    return [(cat, ptype) for cat in CATEGORIES for ptype in cat.types]


def _asin(rng: random.Random) -> str:
    return "B0" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=8))


def _title(brand: str, ptype: ProductType, attrs: list[str], rng: random.Random) -> str:
    shown = attrs[: rng.randint(1, min(2, len(attrs)))]
    lead = " ".join(a.title() for a in shown[:1])
    tail = f", {shown[1].title()}" if len(shown) > 1 else ""
    detail = rng.choice(ptype.details)
    return f"{brand} {lead} {ptype.name.title()} {detail}{tail}"


def make_product(seed: int, index: int) -> Product:
    """Product ``index`` of the catalog with ``seed`` (independent of the catalog size)."""
    rng = random.Random(f"shop-product/{seed}/{index}")
    types = all_types()
    category, ptype = types[index % len(types)]  # every type equally often
    brand = rng.choice(BRANDS)
    attrs = rng.sample(ptype.attributes, rng.randint(2, 4))
    options = {
        group: tuple(sorted(rng.sample(values, rng.randint(min(2, len(values)), len(values)))))
        for group, values in ptype.options
    }
    low, high = ptype.price
    price = max(round(rng.uniform(low, high)) - 0.01, 0.99)
    bullets = [f"{a.capitalize()}: made with care for everyday use." for a in attrs]
    bullets.append(rng.choice(GENERIC_BULLETS))
    rng.shuffle(bullets)
    description = (
        f"The {brand} {ptype.name} is {', '.join(attrs[:-1])} and {attrs[-1]}. "
        f"{rng.choice(GENERIC_BULLETS)}"
    )
    reviews = tuple(
        Review(
            score=rng.randint(3, 5),
            title=rng.choice(REVIEW_TITLES),
            body=rng.choice(REVIEW_BODIES).format(type=ptype.name),
        )
        for _ in range(2)
    )
    return Product(
        asin=_asin(rng),
        title=_title(brand, ptype, attrs, rng),
        category=category.name,
        query=ptype.name,
        product_category=f"{category.department}{PATH_SEP}{ptype.path}",
        attributes=tuple(attrs),
        options=options,
        price=float(price),
        description=description,
        bullet_points=tuple(bullets),
        reviews=reviews,
    )


def generate_catalog(seed: int = 0, n_products: int = DEFAULT_PRODUCTS) -> Catalog:
    """``n_products`` products; every ``TEST_EVERY``-th one is a held-out target."""
    if n_products < len(all_types()):
        raise ValueError(f"n_products must be >= {len(all_types())} (one per product type)")
    products: list[Product] = []
    seen: set[str] = set()
    for i in range(n_products):
        product = make_product(seed, i)
        salt = 0
        while product.asin in seen:  # ids are random; re-draw the rare duplicate
            salt += 1
            product = replace(product, asin=_asin(random.Random(f"shop-asin/{seed}/{i}/{salt}")))
        seen.add(product.asin)
        products.append(product)
    # Whole rounds over the product types go to one split, so both splits hold every type.
    n_types = len(all_types())
    split_targets = {
        "train": [p.asin for i, p in enumerate(products) if (i // n_types) % TEST_EVERY != 0],
        "test": [p.asin for i, p in enumerate(products) if (i // n_types) % TEST_EVERY == 0],
    }
    return Catalog(products=products, split_targets=split_targets)
