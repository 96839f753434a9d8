"""The HTML view of a shop page: the same ``PageView`` the text environment renders.

Every clickable of the page is a ``<button name="click" value="...">`` whose value is exactly
what ``click[...]`` accepts in the text environment, so a person clicking in a browser and an
agent acting in text drive one state machine the same way. Every piece of text is escaped.
"""

from __future__ import annotations

from html import escape

from t2po.envs.shop.session import (
    BACK_TO_SEARCH,
    BUY_NOW,
    NEXT_PAGE,
    PREV_PAGE,
    SUB_PAGE_BUTTONS,
    PageKind,
    PageView,
)

_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
#instruction { background: #f3f3f8; padding: .6em 1em; border-radius: .4em; }
button { margin: .15em; padding: .3em .8em; cursor: pointer; }
button.product-link { background: none; border: none; color: #0645ad; text-decoration: underline;
  font-weight: bold; padding: 0; }
button.option.selected { background: #2a7; color: #fff; }
.result { border-bottom: 1px solid #ddd; padding: .5em 0; }
.error { color: #b00; }
#score { font-size: 2em; font-weight: bold; }
"""


def _button(label: str, css: str = "", value: str | None = None) -> str:
    click = label.lower() if value is None else value
    cls = f' class="{escape(css)}"' if css else ""
    return (
        f'<button type="submit" name="click" value="{escape(click)}"{cls}>{escape(label)}</button>'
    )


def _nav(view: PageView) -> str:
    wanted = [b for b in view.buttons if b in (BACK_TO_SEARCH, PREV_PAGE, NEXT_PAGE)]
    return f'<div class="nav">{"".join(_button(b) for b in wanted)}</div>'


def _search() -> str:
    return (
        '<h2>Search</h2><input id="search_input" name="query" size="60" autofocus '
        'placeholder="what are you looking for?">'
        '<button type="submit" id="search_button">Search</button>'
    )


def _results(view: PageView) -> str:
    first = (view.page_no - 1) * 10 + 1 if view.total else 0
    last = first + len(view.results) - 1 if view.total else 0
    rows = "".join(
        f'<div class="result">{_button(r.asin, "product-link", r.asin.lower())}'
        f'<div class="product-title">{escape(r.title)}</div>'
        f'<div class="product-price">{escape(r.price_text)}</div></div>'
        for r in view.results
    )
    return (
        f"<h2>Results</h2><p>Page {view.page_no} ({first}-{last} of {view.total} results) "
        f"for <em>{escape(view.query)}</em></p>{_nav(view)}{rows}"
    )


def _item(view: PageView) -> str:
    product = view.product
    assert product is not None
    groups = []
    for group, values in product.options.items():
        buttons = "".join(
            _button(v, "option selected" if view.selected.get(group) == v else "option")
            for v in values
        )
        groups.append(f'<div class="options"><h4>{escape(group)}</h4>{buttons}</div>')
    subs = "".join(_button(b) for b in SUB_PAGE_BUTTONS)
    return (
        f'{_nav(view)}<h2 id="product-title">{escape(product.title)}</h2>'
        f"<h4>Price: {escape(product.price_text)}</h4><h4>Rating: {escape(product.rating)}</h4>"
        f"{''.join(groups)}<div>{subs}</div><div>{_button(BUY_NOW, 'purchase')}</div>"
    )


def _sub_page(view: PageView) -> str:
    product = view.product
    assert product is not None
    if view.kind is PageKind.description:
        body = f"<p>{escape(product.description)}</p>"
    elif view.kind is PageKind.features:
        body = "<ul>" + "".join(f"<li>{escape(b)}</li>" for b in product.bullet_points) + "</ul>"
    else:
        body = (
            "".join(
                f'<div class="review"><b>{r.score} stars: {escape(r.title)}</b>'
                f"<p>{escape(r.body)}</p></div>"
                for r in product.reviews
            )
            or "<p>No reviews yet.</p>"
        )
    return f"{_nav(view)}<h2>{escape(view.kind.value.title())}</h2>{body}"


def _done(view: PageView) -> str:
    score = view.score
    if score is None:
        return "<h2>Thank you for shopping with us!</h2>"
    parts = "".join(
        f'<tr><td>{name}</td><td id="{name}">{value:.2f}</td></tr>'
        for name, value in (
            ("r_type", score.r_type),
            ("r_att", score.r_att),
            ("r_option", score.r_option),
            ("r_price", score.r_price),
            ("title_score", score.title_score),
        )
    )
    return (
        "<h2>Thank you for shopping with us!</h2>"
        f'<p>Your score (min 0.0, max 1.0): <span id="score">{score.score:.2f}</span></p>'
        f'<table>{parts}</table><p><a href="/" id="new-task">Shop for a new task</a></p>'
    )


def render_html(view: PageView, session_id: str, error: str | None = None) -> str:
    """A complete HTML document for ``view`` in session ``session_id``."""
    if view.kind is PageKind.search:
        body = _search()
    elif view.kind is PageKind.results:
        body = _results(view)
    elif view.kind is PageKind.item:
        body = _item(view)
    elif view.kind is PageKind.done:
        body = _done(view)
    else:
        body = _sub_page(view)
    note = f'<p class="error" id="error">{escape(error)}</p>' if error else ""
    form = (
        f'<form method="post" action="/s/{escape(session_id)}">{body}</form>'
        if view.kind is not PageKind.done
        else body
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>t2po shop</title>'
        f"<style>{_STYLE}</style></head><body>"
        f'<div id="instruction"><b>Instruction:</b> <span id="instruction-text">'
        f"{escape(view.instruction)}</span></div>{note}{form}</body></html>"
    )
