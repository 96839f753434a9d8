"""``t2po serve shop``: the web shop as a website on 127.0.0.1 (stdlib ``http.server``).

One engine, two views: each browser session is a ``ShopSession`` (the state machine the text
environment uses) and each page is ``shop_html.render_html`` of its ``view()``. Routes:

* ``GET /`` (``?split=test&seed=3`` optional): start a session on a task, redirect to it;
* ``GET /s/<id>``: the session's current page;
* ``POST /s/<id>``: a form with ``query`` (search) or ``click`` (any button) becomes
  ``search[...]`` / ``click[...]``, then redirects back (post/redirect/get). An invalid action
  changes nothing and the page says why.

``ShopSite`` holds the sessions (pure state, no sockets) so tests can drive it directly;
``make_server`` binds it to a port.
"""

from __future__ import annotations

import argparse
import random
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from t2po.envs.shop.instructions import goal_for
from t2po.envs.shop.session import ShopSession, StepResult
from t2po.envs.shop.store import Shop, get_shop
from t2po.serve.shop_html import render_html
from t2po.serve.signals import stop_on_interrupt_or_term

MAX_SESSIONS = 10_000  # the oldest session is dropped beyond this
MAX_BODY_BYTES = 8_192


@dataclass
class _Entry:
    session: ShopSession
    error: str | None = None  # why the last action was refused, shown once
    lock: threading.Lock = field(default_factory=threading.Lock)


class ShopSite:
    """The website's sessions over one shop."""

    def __init__(self, shop: Shop, default_split: str = "test") -> None:
        self.shop = shop
        catalog = shop.catalog
        self.splits = tuple(sorted(set(catalog.split_targets) | set(catalog.fixed_goals)))
        if default_split not in self.splits:
            raise ValueError(f"split {default_split!r} is not one of {self.splits}")
        self.default_split = default_split
        self._sessions: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def new_session(self, split: str | None = None, seed: int | None = None) -> str:
        """Start shopping for task ``seed`` of ``split`` (random seed when None); its id."""
        split = split or self.default_split
        if split not in self.splits:
            raise ValueError(f"unknown split {split!r}; this shop has {', '.join(self.splits)}")
        seed = random.SystemRandom().randrange(2**31) if seed is None else seed
        session = ShopSession(self.shop, goal_for(self.shop.catalog, split, seed))
        session_id = secrets.token_hex(8)
        with self._lock:
            self._sessions[session_id] = _Entry(session)
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return session_id

    def session(self, session_id: str) -> ShopSession | None:
        with self._lock:
            entry = self._sessions.get(session_id)
        return None if entry is None else entry.session

    def act(self, session_id: str, action: str) -> StepResult | None:
        """Apply ``action`` to the session (None when the session does not exist)."""
        with self._lock:
            entry = self._sessions.get(session_id)
        if entry is None:
            return None
        with entry.lock:
            result = entry.session.step(action)
            entry.error = None if result.valid else result.error
        return result

    def page(self, session_id: str) -> str | None:
        """The HTML of the session's current page (None when the session does not exist)."""
        with self._lock:
            entry = self._sessions.get(session_id)
        if entry is None:
            return None
        with entry.lock:
            error, entry.error = entry.error, None
            return render_html(entry.session.view(), session_id, error)


def form_action(fields: dict[str, list[str]]) -> str:
    """The text action a submitted form stands for (brackets in typed text become spaces)."""
    if "click" in fields:
        return f"click[{fields['click'][0]}]"
    query = fields.get("query", [""])[0].replace("[", " ").replace("]", " ")
    return f"search[{query}]"


def _handler(site: ShopSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "t2po-shop"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # quiet: one line per click would drown the terminal

        def _send(self, status: HTTPStatus, body: str, location: str | None = None) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            if location is not None:
                self.send_header("Location", location)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _not_found(self) -> None:
            self._send(
                HTTPStatus.NOT_FOUND,
                '<p>No such page or session. <a href="/">Start shopping</a>.</p>',
            )

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urlsplit(self.path)
            if url.path == "/":
                params = parse_qs(url.query)
                try:
                    seed = int(params["seed"][0]) if "seed" in params else None
                    sid = site.new_session(params.get("split", [None])[0], seed)
                except ValueError as exc:
                    self._send(HTTPStatus.BAD_REQUEST, f"<p>{escape(str(exc))}</p>")
                    return
                self._send(HTTPStatus.SEE_OTHER, "", location=f"/s/{sid}")
                return
            if url.path.startswith("/s/"):
                page = site.page(url.path[3:])
                if page is not None:
                    self._send(HTTPStatus.OK, page)
                    return
            self._not_found()

        def do_POST(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self._send(HTTPStatus.BAD_REQUEST, "<p>bad Content-Length</p>")
                return
            if length < 0 or length > MAX_BODY_BYTES:
                self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "<p>form too large</p>")
                return
            body = self.rfile.read(length).decode("utf-8", errors="replace")
            if not url.path.startswith("/s/"):
                self._not_found()
                return
            sid = url.path[3:]
            if site.act(sid, form_action(parse_qs(body, keep_blank_values=True))) is None:
                self._not_found()
                return
            self._send(HTTPStatus.SEE_OTHER, "", location=f"/s/{sid}")

    return Handler


def make_server(site: ShopSite, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A threaded HTTP server for ``site`` (port 0 picks a free port: ``server.server_port``)."""
    server = ThreadingHTTPServer((host, port), _handler(site))
    server.daemon_threads = True
    return server


def serve_shop(args: argparse.Namespace) -> int:
    """Entry point of ``t2po serve shop``: build the shop, serve until Ctrl-C."""
    webshop_dir = getattr(args, "webshop_dir", None)
    print("building the shop (catalog + search index)...", flush=True)
    try:
        shop = get_shop(
            getattr(args, "catalog_seed", 0), getattr(args, "products", None), webshop_dir
        )
        site = ShopSite(shop, default_split=getattr(args, "split", "test"))
        server = make_server(site, args.host, args.port)
    except (OSError, ValueError, ImportError) as exc:
        print(f"error: cannot start the shop: {exc}")
        return 1
    host, port = str(server.server_address[0]), int(server.server_address[1])
    n_products = len(shop.catalog.products)
    print(f"shop with {n_products} products at http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    stop_on_interrupt_or_term()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopped")
    finally:
        server.server_close()
    return 0
