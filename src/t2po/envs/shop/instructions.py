"""Shopping instructions written from a target product, and the goal of each task seed.

An instruction names the product type, 1-3 of the target's attributes, one value of each
of its option groups and a price bound, e.g. "i need a hair extension that is natural
looking and heat resistant, in blonde, with length 18 inch, and price lower than 40.00
dollars". The price bound follows WebShop: the tens above the price, take the first four,
pick two at random and keep the larger, so the target always fits and some distractors do
not.
"""

from __future__ import annotations

import random

from t2po.envs.shop.catalog import Catalog, Goal, Product
from t2po.envs.shop.vocab import (
    ATTRIBUTE_JOINS,
    OPENINGS,
    OPTION_PHRASES,
    PRICE_PHRASES,
    UNCOUNTABLE_TYPES,
)

PRICE_STEPS = [10.0 * i for i in range(1, 100)]  # WebShop's PRICE_RANGE
NO_PRICE_BOUND = 1_000_000.0


def price_bound(price: float, rng: random.Random) -> float:
    """WebShop's rule; a price above every step gets no bound."""
    above = [p for p in PRICE_STEPS if p > price][:4]
    if len(above) < 2:
        return NO_PRICE_BOUND
    return max(rng.sample(above, 2))


def is_plural(ptype: str) -> bool:
    return ptype.endswith("s") and not ptype.endswith("ss")


def with_article(ptype: str) -> str:
    """ "a hair extension", "an office chair", but "running shoes" and "olive oil"."""
    if is_plural(ptype) or ptype in UNCOUNTABLE_TYPES:
        return ptype
    return f"{'an' if ptype[:1] in 'aeiou' else 'a'} {ptype}"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def option_phrase(group: str, value: str, rng: random.Random) -> str:
    templates = OPTION_PHRASES.get(group, ("with {group} {value}",))
    return rng.choice(templates).format(group=group, value=value)


def write_instruction(
    ptype: str,
    attributes: list[str],
    options: dict[str, str],
    price_upper: float,
    rng: random.Random,
) -> str:
    """One natural-language instruction for these wishes."""
    text = rng.choice(OPENINGS).format(item=with_article(ptype))
    if attributes:
        be = "are" if is_plural(ptype) else "is"
        joined = rng.choice(ATTRIBUTE_JOINS).format(attrs=_join(attributes), be=be)
        text = f"{text}{joined}" if joined.startswith(",") else f"{text} {joined}"
    phrases = [option_phrase(group, value, rng) for group, value in options.items()]
    if phrases:
        text = f"{text.rstrip(',')}, {_join(phrases)}"
    if price_upper < NO_PRICE_BOUND:
        text = f"{text.rstrip(',')}, {rng.choice(PRICE_PHRASES).format(price=f'{price_upper:.2f}')}"
    return text.rstrip(",")


def make_goal(product: Product, rng: random.Random) -> Goal:
    """A goal written from ``product``: its type, some attributes, one value per option group."""
    n_attrs = rng.randint(1, min(3, len(product.attributes)))
    attributes = rng.sample(list(product.attributes), n_attrs)
    options = {group: rng.choice(values) for group, values in product.options.items() if values}
    upper = price_bound(product.price, rng)
    return Goal(
        asin=product.asin,
        instruction=write_instruction(product.query, attributes, options, upper, rng),
        query=product.query,
        category=product.category,
        product_category=product.product_category,
        name=product.title,
        attributes=tuple(attributes),
        options=options,
        price_upper=upper,
    )


def goal_for(catalog: Catalog, split: str, seed: int) -> Goal:
    """The task of ``seed`` in ``split``: a fixed (loaded) goal or one written for a target."""
    fixed = catalog.fixed_goals.get(split)
    if fixed:
        return fixed[seed % len(fixed)]
    targets = catalog.split_targets.get(split)
    if not targets:
        raise ValueError(
            f"split {split!r} has no tasks; splits: {', '.join(sorted(catalog.split_targets))}"
        )
    rng = random.Random(f"shop-goal/{split}/{seed}")
    product = catalog.by_asin[targets[rng.randrange(len(targets))]]
    return make_goal(product, rng)
