"""Scripted shopper for cold start: search the key words, open a fitting item, choose, buy.

It reads the goal and the session from the environment (it is a teacher, not an agent) and
writes one short templated thought per step, e.g.::

    search the key words: natural looking hair extension.
    b0k3x9qz2m fits hair extension, natural looking, under 40.00: open it.
    no fitting item on page 1: next page.
    choose blonde for color.
    all options chosen: buy now.

An item "fits" when buying it with the wanted options scores 1.0 (the target always does);
the first fitting item of the results wins. When five pages of results hold none, it goes
back and searches the target's exact title; if even that fails it buys the best-scoring item
on the page (a failed episode, as a human shopper might produce).
"""

from __future__ import annotations

from typing import Any

from t2po.envs.base import ExpertStep
from t2po.envs.shop.catalog import Goal, Product
from t2po.envs.shop.reward import FUZZY_THRESHOLD, score_purchase, token_set_ratio
from t2po.envs.shop.session import (
    BACK_TO_SEARCH,
    BUY_NOW,
    NEXT_PAGE,
    PREV_PAGE,
    PageKind,
    ShopSession,
)


def wanted_choices(product: Product, goal: Goal) -> dict[str, str]:
    """The option (group -> value) of ``product`` closest to each wanted value, if any."""
    choices: dict[str, str] = {}
    for group, wanted in goal.options.items():
        values = product.options.get(group, ())
        if wanted in values:
            choices[group] = wanted
            continue
        best: tuple[float, str, str] | None = None
        for other_group, other_values in product.options.items():
            for value in other_values:
                ratio = token_set_ratio(wanted, value)
                if ratio > FUZZY_THRESHOLD and (best is None or ratio > best[0]):
                    best = (ratio, other_group, value)
        if best is not None and best[1] not in choices:
            choices[best[1]] = best[2]
    return choices


def best_score(product: Product, goal: Goal) -> float:
    """The score of buying ``product`` with the options closest to the wanted ones."""
    return score_purchase(product, goal, wanted_choices(product, goal)).score


def key_words(goal: Goal) -> str:
    """The expert's first query: the wanted attributes and the product type."""
    return " ".join([*goal.attributes, goal.query]).lower()


class ShopExpert:
    """Implements ``t2po.envs.base.Expert`` for ``ShopEnv`` (needs the unwrapped env)."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self._chosen: str | None = None
        self._searched_title = False

    def act(self, observation: dict[str, Any], info: dict[str, Any]) -> ExpertStep:
        session: ShopSession = self.env.session
        goal = session.goal
        if session.kind is PageKind.search:
            return self._search(session)
        if session.kind is PageKind.results:
            return self._pick(session, goal)
        if session.kind is PageKind.item:
            return self._shop_item(session, goal)
        if session.kind is PageKind.done:
            return ExpertStep("the purchase is done.", f"click[{BUY_NOW.lower()}]")
        return ExpertStep("back to the item.", f"click[{PREV_PAGE.lower()}]")

    def _search(self, session: ShopSession) -> ExpertStep:
        goal = session.goal
        target = session.shop.catalog.by_asin.get(goal.asin)
        if self._searched_title and target is not None:
            query = " ".join(target.title.lower().replace("[", " ").replace("]", " ").split())
            return ExpertStep(f"search the exact title: {query}.", f"search[{query}]")
        query = key_words(goal)
        return ExpertStep(f"search the key words: {query}.", f"search[{query}]")

    def _pick(self, session: ShopSession, goal: Goal) -> ExpertStep:
        rows = session.view().results
        catalog = session.shop.catalog
        fits = [r.asin for r in rows if r.asin == goal.asin]
        fits += [r.asin for r in rows if best_score(catalog.by_asin[r.asin], goal) >= 1.0]
        if fits:
            self._chosen = fits[0]
            wish = ", ".join([goal.query, *goal.attributes[:1]])
            bound = f", under {goal.price_upper:.2f}" if goal.price_upper < 1e6 else ""
            return ExpertStep(
                f"{fits[0].lower()} fits {wish}{bound}: open it.", f"click[{fits[0].lower()}]"
            )
        if NEXT_PAGE in session.buttons():
            return ExpertStep(
                f"no fitting item on page {session.page_no}: next page.",
                f"click[{NEXT_PAGE.lower()}]",
            )
        if not self._searched_title and goal.asin in catalog.by_asin:
            self._searched_title = True
            return ExpertStep(
                "no fitting item in the results: search again.",
                f"click[{BACK_TO_SEARCH.lower()}]",
            )
        if not rows:
            return ExpertStep("no results: search again.", f"click[{BACK_TO_SEARCH.lower()}]")
        best = max(rows, key=lambda r: best_score(catalog.by_asin[r.asin], goal))
        self._chosen = best.asin
        return ExpertStep(
            f"nothing fits; {best.asin.lower()} comes closest: open it.",
            f"click[{best.asin.lower()}]",
        )

    def _shop_item(self, session: ShopSession, goal: Goal) -> ExpertStep:
        product = session.product
        assert product is not None
        picked_other = self._chosen is not None and product.asin != self._chosen
        if picked_other or (self._chosen is None and best_score(product, goal) < 1.0):
            return ExpertStep("this item does not fit: back.", f"click[{PREV_PAGE.lower()}]")
        for group, value in wanted_choices(product, goal).items():
            if session.options.get(group) != value:
                return ExpertStep(f"choose {value} for {group}.", f"click[{value}]")
        return ExpertStep("all options chosen: buy now.", f"click[{BUY_NOW.lower()}]")
