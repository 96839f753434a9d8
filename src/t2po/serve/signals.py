"""Stopping a foreground server: Ctrl-C and SIGTERM both end ``serve_forever`` cleanly."""

from __future__ import annotations

import signal
from typing import Any


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def stop_on_interrupt_or_term() -> None:
    """Make SIGINT and SIGTERM raise ``KeyboardInterrupt`` in the main thread.

    Needed even for Ctrl-C: a non-interactive shell starts a background job (``cmd &``) with
    SIGINT ignored, and Python keeps an inherited "ignore", so the server would never stop.
    SIGTERM (what supervisors and ``kill`` send) would otherwise end it without cleanup.
    """
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
