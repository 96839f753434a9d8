"""Progress bars that behave in a terminal and in CI logs.

``progress(...)`` is a thin wrapper over ``tqdm`` that picks one of three modes:

- a ``tqdm`` bar when stderr is a terminal, or when ``T2PO_PROGRESS=1`` forces it;
- otherwise (CI, ``nohup``, piped output) a plain one-line update on stderr at most every
  ``interval_s`` seconds (10 s by default), so logs show progress without the flood of
  carriage-return frames a bar writes to a file, and a final line when a loop that printed
  updates finishes;
- nothing at all when ``disable=True`` or ``T2PO_PROGRESS=0``.

``disable=False`` forces the ``tqdm`` bar, as in ``tqdm`` itself.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import IO, Any, Generic, Protocol, TypeVar, overload

from tqdm import tqdm

__all__ = ["LineProgress", "ProgressBar", "progress"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

ENV_VAR = "T2PO_PROGRESS"


class ProgressBar(Protocol[T_co]):
    """What callers may use: iterate, ``update``, ``set_postfix``, ``close``, ``with``."""

    def __iter__(self) -> Iterator[T_co]: ...

    def update(self, n: float = 1) -> Any: ...

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> Any: ...

    def close(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any: ...


def _format_duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 3600:
        return f"{seconds // 60:d}:{seconds % 60:02d}"
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class LineProgress(Generic[T]):
    """The non-terminal mode: a line like ``rollout: 12/40 it (25%) 1.3 it/s, 0:09 elapsed``
    at most every ``interval_s`` seconds, and a last one on close if any were printed.
    """

    def __init__(
        self,
        iterable: Iterable[T] | None = None,
        total: float | None = None,
        desc: str = "",
        unit: str = "it",
        interval_s: float = 10.0,
        file: IO[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        silent: bool = False,
    ) -> None:
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable = iterable
        self.total = total
        self.desc = desc
        self.unit = unit
        self.interval_s = interval_s
        self.file = file
        self.clock = clock
        self.silent = silent
        self.n: float = 0
        self.postfix = ""
        self._start = clock()
        self._last_print = self._start
        self._printed = 0
        self._closed = False

    def line(self) -> str:
        elapsed = self.clock() - self._start
        n = f"{self.n:g}"
        count = f"{n}/{self.total:g} {self.unit}" if self.total else f"{n} {self.unit}"
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        rate = f" {self.n / elapsed:.2f} {self.unit}/s," if elapsed > 0 else ""
        head = f"{self.desc}: " if self.desc else ""
        tail = f" [{self.postfix}]" if self.postfix else ""
        return f"{head}{count}{pct}{rate} {_format_duration(elapsed)} elapsed{tail}"

    def _emit(self) -> None:
        if self.silent:
            return
        print(self.line(), file=self.file if self.file is not None else sys.stderr, flush=True)
        self._printed += 1

    def _maybe_emit(self) -> None:
        now = self.clock()
        if now - self._last_print >= self.interval_s:
            self._last_print = now
            self._emit()

    def update(self, n: float = 1) -> None:
        self.n += n
        self._maybe_emit()

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        items = dict(ordered_dict or {})
        items.update(kwargs)
        self.postfix = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in items.items()
        )

    def __iter__(self) -> Iterator[T]:
        if self.iterable is None:
            raise TypeError("this progress object has no iterable; call update() instead")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._printed:
            self._emit()

    def __enter__(self) -> LineProgress[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


@overload
def progress(
    iterable: Iterable[T],
    total: float | None = None,
    desc: str = "",
    unit: str = "it",
    disable: bool | None = None,
    interval_s: float = 10.0,
) -> ProgressBar[T]: ...


@overload
def progress(
    iterable: None = None,
    total: float | None = None,
    desc: str = "",
    unit: str = "it",
    disable: bool | None = None,
    interval_s: float = 10.0,
) -> ProgressBar[Any]: ...


def progress(
    iterable: Iterable[T] | None = None,
    total: float | None = None,
    desc: str = "",
    unit: str = "it",
    disable: bool | None = None,
    interval_s: float = 10.0,
) -> ProgressBar[T] | ProgressBar[Any]:
    """A progress bar over ``iterable`` (or a manual one, driven by ``update``).

    ``disable=None`` picks the mode (see the module docstring); ``True`` silences it;
    ``False`` forces a ``tqdm`` bar. ``interval_s`` spaces the non-terminal lines.
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if disable is True or (disable is None and env == "0"):
        return LineProgress(iterable, total, desc, unit, interval_s, silent=True)
    if disable is False or env == "1" or (disable is None and _stderr_is_tty()):
        bar: ProgressBar[T] = tqdm(
            iterable, total=total, desc=desc or None, unit=unit, disable=False, dynamic_ncols=True
        )
        return bar
    return LineProgress(iterable, total, desc, unit, interval_s)
