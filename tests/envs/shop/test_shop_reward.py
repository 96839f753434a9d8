"""WebShop's purchase score on hand-computed cases: every factor, partial credit, price bound."""

from __future__ import annotations

from dataclasses import replace

import pytest

from t2po.envs.shop.catalog import Goal, Product
from t2po.envs.shop.reward import (
    normalize_color,
    score_purchase,
    title_nouns,
    type_factor,
)

TARGET = Product(
    asin="B0TARGET01",
    title="Lumora Natural Looking Hair Extension Clip In",
    category="beauty",
    query="hair extension",
    product_category="Beauty & Personal Care › Hair Care › Hair Extensions › Extensions",
    attributes=("natural looking", "heat resistant"),
    options={"color": ("black", "blonde"), "length": ("16 inch", "18 inch")},
    price=34.99,
    description="A soft extension for daily use.",
    bullet_points=("Tangle free: brush it with ease.",),
)

GOAL = Goal(
    asin=TARGET.asin,
    instruction="i need a hair extension that is natural looking and heat resistant",
    query="hair extension",
    category="beauty",
    product_category=TARGET.product_category,
    name=TARGET.title,
    attributes=("natural looking", "heat resistant"),
    options={"color": "blonde", "length": "18 inch"},
    price_upper=40.0,
)


def test_the_target_with_the_wanted_options_scores_one():
    score = score_purchase(TARGET, GOAL, {"color": "blonde", "length": "18 inch"})
    assert score.score == pytest.approx(1.0)
    assert (score.r_type, score.r_att, score.r_option, score.r_price) == (1.0, 1.0, 1.0, 1.0)
    assert score.title_score == 1.0 and score.query_match and score.category_match


def test_partial_credit_for_a_missing_option_and_a_price_over_the_bound():
    pricey = replace(TARGET, price=45.0)
    # attributes 2/2, options 1/2 (no length chosen), price 0 -> (2 + 1 + 0) / 5
    score = score_purchase(pricey, GOAL, {"color": "blonde"})
    assert score.score == pytest.approx(3 / 5)
    assert score.r_option == 0.5 and score.r_price == 0.0


def test_price_exactly_at_the_bound_is_ok():
    at_bound = replace(TARGET, price=40.0)
    assert score_purchase(at_bound, GOAL, {"color": "blonde", "length": "18 inch"}).r_price == 1.0


def test_attribute_matches_fuzzily_or_from_text_only():
    # attribute list empty: "natural looking" is in the title, "heat resistant" nowhere
    bare = replace(TARGET, attributes=())
    score = score_purchase(bare, GOAL, {"color": "blonde", "length": "18 inch"})
    assert score.r_att == 0.5 and score.score == pytest.approx(4 / 5)
    # a word-order variant matches by token set ratio (100 > 85)
    variant = replace(TARGET, attributes=("looking natural", "resistant heat"))
    assert score_purchase(variant, GOAL, {"color": "blonde", "length": "18 inch"}).r_att == 1.0


def test_option_fuzzy_match_threshold_and_color_normalisation():
    # "dark blonde" vs wanted "blonde": token set ratio 100 -> match
    shades = replace(TARGET, options={"color": ("dark blonde",), "length": ("18 inch",)})
    assert score_purchase(shades, GOAL, {"color": "dark blonde", "length": "18 inch"}).r_option == 1
    # colour normalisation: "jet black" -> "black" matches a wanted "black"
    assert normalize_color("Jet Black") == "black" and normalize_color("auburn") == "auburn"
    goal_black = replace(GOAL, options={"color": "black"})
    assert score_purchase(TARGET, goal_black, {"color": "jet black"}).r_option == 1.0
    # a different colour does not match
    assert score_purchase(TARGET, goal_black, {"color": "auburn"}).r_option == 0.0


def test_size_groups_need_an_exact_value():
    goal = replace(GOAL, options={"size": "7"})
    shoe = replace(TARGET, options={"size": ("7", "7.5")})
    assert score_purchase(shoe, goal, {"size": "7"}).r_option == 1.0
    # "7.5" fuzzy-matches "7" in other groups, but size is exact (and "7.5" is not in the text)
    assert score_purchase(shoe, goal, {"size": "7.5"}).r_option == 0.0


def _other(title: str, query: str, path: str) -> Product:
    return replace(TARGET, asin="B0OTHER001", title=title, query=query, product_category=path)


def test_type_factor_thresholds():
    # same query -> 1.0 even with few shared nouns (title score 1/4 = 0.25 > 0.2 anyway)
    assert type_factor(TARGET, GOAL).r_type == 1.0
    nouns = title_nouns(GOAL.name)
    assert nouns == ["lumora", "hair", "extension", "clip"]
    # no query match, one shared path part, 1/4 nouns shared (0.25 > 0.2) -> 1.0
    wig = _other("Vexa Wig Hair", "wig", "Beauty & Personal Care › Wigs")
    match = type_factor(wig, GOAL)
    assert (match.title_score, match.r_type) == (0.25, 1.0) and not match.category_match
    # no query/category match and title score 0.2 (not > 0.2) -> 0.5
    goal5 = replace(GOAL, name="Lumora Hair Extension Clip Set")  # 5 nouns
    brush = _other("Kavio Brush Hair", "brush", "Home › Brushes")
    assert type_factor(brush, goal5).title_score == pytest.approx(0.2)
    assert type_factor(brush, goal5).r_type == 0.5
    # title score in (0, 0.1) -> 0.1 (1 of 11 nouns shared)
    long_goal = replace(GOAL, name="Hair Band Clip Comb Pin Tie Net Cap Wrap Bow Bun")
    band = _other("Band", "band", "Home › Bands")
    assert type_factor(band, long_goal).r_type == 0.1
    # nothing shared -> 0.0, and the whole score with it
    chair = _other("Oakridge Office Chair", "office chair", "Home & Kitchen › Furniture")
    assert type_factor(chair, GOAL).r_type == 0.0
    assert score_purchase(chair, GOAL, {"color": "blonde"}).score == 0.0


def test_category_overlap_of_two_parts_gives_full_type_factor():
    goal5 = replace(GOAL, name="Lumora Hair Extension Clip Set")
    cousin = _other("Kavio Brush Hair", "brush", "Beauty & Personal Care › Hair Care › Brushes")
    match = type_factor(cousin, goal5)
    assert match.category_match and match.title_score == pytest.approx(0.2)
    assert match.r_type == 1.0


def test_goal_without_options_counts_attributes_and_price():
    goal = replace(GOAL, options={}, attributes=("natural looking",))
    score = score_purchase(TARGET, goal, {})
    assert score.score == pytest.approx(1.0) and score.r_option == 1.0
