"""The text view of a shop page, in the shape of WebShop's ``simple`` text mode.

WebShop joins the visible texts of a page with ``" [SEP] "``. This view does the same, with two
departures that help an agent with a short memory: the instruction is shown on the search page
only (the agent's prompt carries it as the task on every turn), and the item page says which
options are chosen (upstream only shows that in its richer ``text_rich`` mode). Examples::

    Instruction: [SEP] i need a hair extension ... [SEP] Search
    Back to Search [SEP] Page 1 (Total results: 50) [SEP] Next > [SEP] B0K3X9QZ2M [SEP]
        Lumora Natural Looking Hair Extension Clip In [SEP] $34.99 [SEP] ...
    Back to Search [SEP] < Prev [SEP] color [SEP] black [SEP] blonde [SEP] ... [SEP] <title>
        [SEP] Price: $34.99 [SEP] Rating: 4.5 [SEP] Chosen: color blonde [SEP] Description
        [SEP] Features [SEP] Reviews [SEP] Buy Now
"""

from __future__ import annotations

from t2po.envs.shop.session import (
    BACK_TO_SEARCH,
    BUY_NOW,
    NEXT_PAGE,
    PREV_PAGE,
    SUB_PAGE_BUTTONS,
    PageKind,
    PageView,
)

SEP = " [SEP] "


def _results(view: PageView) -> list[str]:
    parts = [BACK_TO_SEARCH]
    first = (view.page_no - 1) * 10 + 1 if view.total else 0
    last = first + len(view.results) - 1 if view.total else 0
    parts.append(f"Page {view.page_no} ({first}-{last} of {view.total} results)")
    parts += [b for b in view.buttons if b in (PREV_PAGE, NEXT_PAGE)]
    for row in view.results:
        parts += [row.asin, row.title, row.price_text]
    return parts


def _item(view: PageView) -> list[str]:
    product = view.product
    assert product is not None
    parts = [BACK_TO_SEARCH, PREV_PAGE]
    for group, values in product.options.items():
        parts.append(group)
        parts += list(values)
    parts += [product.title, f"Price: {product.price_text}", f"Rating: {product.rating}"]
    if view.selected:
        chosen = ", ".join(f"{g} {v}" for g, v in view.selected.items())
        parts.append(f"Chosen: {chosen}")
    parts += [*SUB_PAGE_BUTTONS, BUY_NOW]
    return parts


def _sub_page(view: PageView) -> list[str]:
    product = view.product
    assert product is not None
    parts = [BACK_TO_SEARCH, PREV_PAGE]
    if view.kind is PageKind.description:
        parts.append(product.description)
    elif view.kind is PageKind.features:
        parts += list(product.bullet_points)
    else:
        for review in product.reviews:
            parts += [f"{review.score} stars: {review.title}", review.body]
        if not product.reviews:
            parts.append("No reviews yet.")
    return parts


def _done(view: PageView) -> list[str]:
    score = view.score
    parts = ["Thank you for shopping with us!"]
    if score is not None:
        parts.append(f"Your score (min 0.0, max 1.0): {score.score:.2f}")
    return parts


def render_text(view: PageView) -> str:
    """The observation text of ``view``."""
    if view.kind is PageKind.search:
        parts = ["Instruction:", view.instruction, "Search"]
    elif view.kind is PageKind.results:
        parts = _results(view)
    elif view.kind is PageKind.item:
        parts = _item(view)
    elif view.kind is PageKind.done:
        parts = _done(view)
    else:
        parts = _sub_page(view)
    return SEP.join(parts)
