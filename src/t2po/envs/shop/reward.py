"""WebShop's purchase score (Yao et al. 2022, ``web_agent_site/engine/goal.py``), reimplemented.

    score = (attribute matches + option matches + price ok) / (n attributes + n options + 1)
            × type factor

* type factor ``r_type``: 1.0 when the purchase matches the goal's query, shares at least two
  category-path parts, or more than 0.2 of the target title's nouns; 0.5 when none of those
  holds; 0.1 when the noun overlap ``title_score`` is below 0.1; 0.0 when it is 0. With no
  noun in the target title, ``title_score`` is 0.2 (as upstream).
* attributes: a wanted attribute matches when ``token_set_ratio`` with one of the product's
  attributes is above 85, else when it is a substring of the title, features or description.
* options: each *chosen* option matches when it equals a wanted value (size groups) or fuzzy
  matches one above 85 (others) after colour normalisation, else when it is a substring of the
  title, features or description. Upstream can count more option matches than wanted options
  (a chosen extra option found in the text); here the count is capped so the score stays in
  [0, 1].
* price: ``price <= price_upper``.

Where upstream uses spaCy's ``en_core_web_lg`` (a download) to find nouns, ``title_nouns`` is a
rule-based stand-in: content words of the title that are not stop words, numbers, known
adjectives or words with adjective endings. Fuzzy matching is ``rapidfuzz`` (the maintained
successor of ``thefuzz``; same ``token_set_ratio`` on the 0-100 scale).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from t2po.envs.shop.catalog import PATH_SEP, Goal, Product

FUZZY_THRESHOLD = 85  # matches need a token_set_ratio strictly above this
EXACT_MATCH_GROUPS = ("size",)  # option groups compared by equality, as upstream

_STOP_WORDS = frozenset(
    """a an the and or of for with in on to by from at as is it its this that these those
    be are was were has have had not no nor so very too all any each per up down out off over
    under into than then you your our we they them he she his her i me my x""".split()  # noqa: SIM905
)
# Common title adjectives and descriptors that a tagger would not call nouns.
_ADJECTIVES = frozenset(
    """new best premium large small medium big little long short high low light dark heavy
    soft hard easy quick fast slow natural organic classic modern casual warm cool hot cold
    comfortable durable portable wireless waterproof lightweight breathable adjustable
    extra super ultra mini full half free non anti multi daily everyday sensitive dry oily
    black white red blue green grey gray pink purple brown yellow orange beige navy silver
    gold golden rose plum nude coral berry olive tan taupe burgundy maroon ivory walnut
    straight wavy curly slim regular relaxed stretch solid open rustic industrial matte
    glossy sweet salty rich pure fresh plain simple unscented rechargeable compact silent
    certified tested infused imported healthy deep smart digital electric""".split()  # noqa: SIM905
)
_ADJECTIVE_ENDINGS = ("ous", "ful", "ive", "able", "ible", "less", "ish", "ic", "al", "ed", "ing")
_WORD = re.compile(r"[a-z]+")

# Shades reduced to a base colour before option matching (upstream: normalize_color).
BASE_COLORS = (
    "black",
    "white",
    "grey",
    "gray",
    "red",
    "blue",
    "green",
    "pink",
    "purple",
    "brown",
    "yellow",
    "orange",
    "beige",
    "navy",
    "silver",
    "gold",
    "khaki",
    "ivory",
    "burgundy",
)


def normalize_color(value: str) -> str:
    """The base colour a value names ("dark navy blue" -> "navy"), else the value unchanged."""
    words = _WORD.findall(value.lower())
    for color in BASE_COLORS:
        if color in words:
            return "grey" if color == "gray" else color
    return value


def title_nouns(title: str) -> list[str]:
    """Rule-based noun guess for a title: lower-case content words (see module docstring)."""
    nouns = []
    for word in _WORD.findall(title.lower()):
        if len(word) < 2 or word in _STOP_WORDS or word in _ADJECTIVES:
            continue
        if len(word) > 4 and word.endswith(_ADJECTIVE_ENDINGS):
            continue
        nouns.append(word)
    return nouns


def token_set_ratio(a: str, b: str) -> float:
    try:
        from rapidfuzz import fuzz
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError('the shop reward needs rapidfuzz: pip install -e ".[shop]"') from exc
    return float(fuzz.token_set_ratio(a, b))


@dataclass(frozen=True)
class TypeMatch:
    r_type: float
    query_match: bool
    category_match: bool
    title_score: float


def type_factor(product: Product, goal: Goal) -> TypeMatch:
    """How well the purchased product's kind matches the target's (upstream thresholds)."""
    query_match = product.query == goal.query
    bought_path = {x.strip() for x in product.product_category.split(PATH_SEP.strip())}
    goal_path = {x.strip() for x in goal.product_category.split(PATH_SEP.strip())}
    category_match = len((bought_path & goal_path) - {""}) >= 2
    desired = title_nouns(goal.name)
    bought = title_nouns(product.title)
    title_score = len(set(bought) & set(desired)) / len(desired) if desired else 0.2
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return TypeMatch(r_type, query_match, category_match, title_score)


def _in_text(value: str, product: Product) -> bool:
    return (
        value in product.title.lower()
        or value in " ".join(product.bullet_points).lower()
        or value in product.description.lower()
    )


def attribute_matches(product: Product, wanted: tuple[str, ...] | list[str]) -> int:
    matches = 0
    for attribute in wanted:
        fuzzy = any(
            token_set_ratio(have, attribute) > FUZZY_THRESHOLD for have in product.attributes
        )
        if fuzzy or _in_text(attribute, product):
            matches += 1
    return matches


def option_matches(product: Product, wanted: list[str], chosen: dict[str, str]) -> int:
    wanted_norm = [normalize_color(v) for v in wanted]
    matches = 0
    for group, value in chosen.items():
        value = normalize_color(value)
        if group.lower() in EXACT_MATCH_GROUPS:
            matched = value in wanted_norm
        else:
            matched = any(token_set_ratio(w, value) > FUZZY_THRESHOLD for w in wanted_norm)
        if matched or _in_text(value, product):
            matches += 1
    return min(matches, len(wanted))


@dataclass(frozen=True)
class Score:
    """The score and its logged parts (upstream ``verbose`` info)."""

    score: float
    r_type: float
    r_att: float
    r_option: float  # 1.0 when the goal wants no option
    r_price: float
    title_score: float
    query_match: bool
    category_match: bool

    def as_info(self) -> dict[str, Any]:
        return asdict(self)


def score_purchase(product: Product, goal: Goal, chosen: dict[str, str]) -> Score:
    """Score buying ``product`` with options ``chosen`` (group -> value) against ``goal``."""
    kind = type_factor(product, goal)
    wanted_options = list(goal.options.values())
    n_att = attribute_matches(product, goal.attributes)
    n_opt = option_matches(product, wanted_options, chosen)
    price_ok = product.price <= goal.price_upper
    denominator = len(goal.attributes) + len(wanted_options) + 1
    total = (n_att + n_opt + float(price_ok)) / denominator * kind.r_type
    return Score(
        score=total,
        r_type=kind.r_type,
        r_att=n_att / len(goal.attributes) if goal.attributes else 1.0,
        r_option=n_opt / len(wanted_options) if wanted_options else 1.0,
        r_price=float(price_ok),
        title_score=kind.title_score,
        query_match=kind.query_match,
        category_match=kind.category_match,
    )
