"""The shop's state machine: one shopper's session, shared by the text env and the website.

Pages and moves follow WebShop's text environment (``web_agent_text_env.py``):

* search page: ``search[query]`` runs BM25 and opens page 1 of the results;
* results page: ``click[<asin>]`` opens an item, ``Next >`` / ``< Prev`` turn pages (10 per
  page), ``Back to Search`` starts over;
* item page: ``click[<option value>]`` chooses that option, ``Description`` / ``Features`` /
  ``Reviews`` open a sub-page, ``< Prev`` returns to the results, ``Buy Now`` ends the episode
  with the WebShop score;
* sub-page: ``< Prev`` returns to the item.

Click targets are lower case (WebShop lower-cases the action argument). A search is valid only
where the page has a search box (upstream accepts it anywhere; the website cannot, and one
engine must not give two behaviours). Anything else is *invalid*: the state does not change.
``view()`` describes the current page for both renderers, so the env and the website cannot
disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from t2po.envs.shop.catalog import Goal, Product
from t2po.envs.shop.reward import Score, score_purchase
from t2po.envs.shop.store import Shop

RESULTS_PER_PAGE = 10
MAX_ACTION_CHARS = 300
BACK_TO_SEARCH, NEXT_PAGE, PREV_PAGE, BUY_NOW = "Back to Search", "Next >", "< Prev", "Buy Now"
SUB_PAGE_BUTTONS = ("Description", "Features", "Reviews")
SEARCH_PLACEHOLDER = "search[<your query>]"

_ACTION = re.compile(r"\A\s*(search|click)\s*\[(.*)\]\s*\Z", re.IGNORECASE | re.DOTALL)


class PageKind(StrEnum):
    search = "search"
    results = "results"
    item = "item"
    description = "description"
    features = "features"
    reviews = "reviews"
    done = "done"


def parse_shop_action(text: str) -> str | None:
    """Canonical ``search[query]`` / ``click[target]`` (lower case, spaces collapsed) or None."""
    if not isinstance(text, str) or len(text) > MAX_ACTION_CHARS:
        return None
    match = _ACTION.match(text)
    if match is None:
        return None
    name, arg = match[1].lower(), " ".join(match[2].split()).lower()
    if not arg:
        return None
    return f"{name}[{arg}]"


def split_action(action: str) -> tuple[str, str]:
    """``("search" | "click", argument)`` of a canonical action."""
    name, _, rest = action.partition("[")
    return name, rest[:-1]


@dataclass(frozen=True)
class ResultRow:
    asin: str
    title: str
    price_text: str


@dataclass(frozen=True)
class PageView:
    """Everything a renderer needs to draw the current page (text or HTML)."""

    kind: PageKind
    instruction: str
    query: str = ""
    page_no: int = 0
    total: int = 0
    results: tuple[ResultRow, ...] = ()
    product: Product | None = None
    selected: dict[str, str] = field(default_factory=dict)
    score: Score | None = None
    buttons: tuple[str, ...] = ()  # button labels as shown, in page order
    clickables: tuple[str, ...] = ()  # what click[...] accepts here, in page order
    visited: frozenset[str] = frozenset()  # asins opened in this session

    @property
    def has_search_bar(self) -> bool:
        return self.kind is PageKind.search


@dataclass(frozen=True)
class StepResult:
    valid: bool
    done: bool = False
    error: str | None = None


class ShopSession:
    """One episode of shopping for ``goal`` in ``shop``."""

    def __init__(self, shop: Shop, goal: Goal) -> None:
        self.shop = shop
        self.goal = goal
        self.kind = PageKind.search
        self.query = ""
        self.results: list[str] = []
        self.page_no = 0
        self.asin: str | None = None
        self.options: dict[str, str] = {}
        self.visited: set[str] = set()
        self.score: Score | None = None

    # --- what the page offers -------------------------------------------------------------
    @property
    def product(self) -> Product | None:
        return None if self.asin is None else self.shop.catalog.by_asin[self.asin]

    def _page_asins(self) -> list[str]:
        start = (self.page_no - 1) * RESULTS_PER_PAGE
        return self.results[start : start + RESULTS_PER_PAGE]

    def buttons(self) -> list[str]:
        """Button labels of the current page, in page order (options and asins excluded)."""
        if self.kind is PageKind.results:
            buttons = [BACK_TO_SEARCH]
            if self.page_no > 1:
                buttons.append(PREV_PAGE)
            if self.page_no * RESULTS_PER_PAGE < len(self.results):
                buttons.append(NEXT_PAGE)
            return buttons
        if self.kind is PageKind.item:
            return [BACK_TO_SEARCH, PREV_PAGE, *SUB_PAGE_BUTTONS, BUY_NOW]
        if self.kind in (PageKind.description, PageKind.features, PageKind.reviews):
            return [BACK_TO_SEARCH, PREV_PAGE]
        return []

    def _option_targets(self) -> dict[str, str]:
        """Option value -> its group, for the open item (the first group wins a shared value)."""
        product = self.product
        targets: dict[str, str] = {}
        if product is not None and self.kind is PageKind.item:
            for group, values in product.options.items():
                for value in values:
                    targets.setdefault(value.lower(), group)
        return targets

    def clickables(self) -> list[str]:
        """Lower-case click targets in page order (what ``click[...]`` accepts now)."""
        labels = [b.lower() for b in self.buttons()]
        if self.kind is PageKind.results:
            return labels + [a.lower() for a in self._page_asins()]
        if self.kind is PageKind.item:
            return labels[:2] + list(self._option_targets()) + labels[2:]
        return labels

    def available_actions(self) -> list[str]:
        """Admissible actions: the search form where there is one, else every click."""
        if self.kind is PageKind.search:
            return [SEARCH_PLACEHOLDER]
        return [f"click[{c}]" for c in self.clickables()]

    def view(self) -> PageView:
        catalog = self.shop.catalog
        rows = tuple(
            ResultRow(a, catalog.by_asin[a].title, catalog.by_asin[a].price_text)
            for a in self._page_asins()
        )
        return PageView(
            kind=self.kind,
            instruction=self.goal.instruction,
            query=self.query,
            page_no=self.page_no,
            total=len(self.results),
            results=rows if self.kind is PageKind.results else (),
            product=self.product if self.kind is not PageKind.results else None,
            selected=dict(self.options),
            score=self.score,
            buttons=tuple(self.buttons()),
            clickables=tuple(self.clickables()),
            visited=frozenset(self.visited),
        )

    # --- moves ----------------------------------------------------------------------------
    def step(self, action: str) -> StepResult:
        """Apply one action; an invalid one changes nothing and says why."""
        if self.kind is PageKind.done:
            return StepResult(False, True, "the purchase is done; start a new session")
        canonical = parse_shop_action(action)
        if canonical is None:
            return StepResult(False, error="actions look like search[query] or click[target]")
        name, arg = split_action(canonical)
        if name == "search":
            if self.kind is not PageKind.search:
                return StepResult(False, error="there is no search box on this page")
            self._search(arg)
            return StepResult(True)
        if arg not in self.clickables():
            return StepResult(False, error=f"{arg!r} is not clickable on this page")
        return self._click(arg)

    def _search(self, query: str) -> None:
        self.query = query
        self.results = self.shop.index.search(query)
        self.page_no = 1
        self.kind = PageKind.results
        self.asin, self.options = None, {}

    def _click(self, target: str) -> StepResult:
        if target == BACK_TO_SEARCH.lower():
            self.kind, self.query, self.results, self.page_no = PageKind.search, "", [], 0
            self.asin, self.options = None, {}
        elif target == NEXT_PAGE.lower():
            self.page_no += 1
        elif target == PREV_PAGE.lower():
            if self.kind is PageKind.results:
                self.page_no -= 1
            elif self.kind is PageKind.item:
                self.kind, self.asin, self.options = PageKind.results, None, {}
            else:
                self.kind = PageKind.item
        elif target == BUY_NOW.lower():
            product = self.product
            assert product is not None  # Buy Now is only on an item page
            self.score = score_purchase(product, self.goal, self.options)
            self.kind = PageKind.done
            return StepResult(True, done=True)
        elif target in (b.lower() for b in SUB_PAGE_BUTTONS):
            self.kind = PageKind(target)
        elif self.kind is PageKind.item:
            self.options[self._option_targets()[target]] = target
        else:  # a product id on a results page
            self.asin = next(a for a in self._page_asins() if a.lower() == target)
            self.visited.add(self.asin)
            self.kind = PageKind.item
        return StepResult(True)
