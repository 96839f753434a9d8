"""Metric loggers: where the per-iteration numbers of a run go.

A logger is anything with ``log(step, metrics)`` and ``close()`` (:class:`MetricsLogger`).
Three ship here: :class:`JsonlLogger` (the run folder's ``metrics.jsonl``, the source the
plots and reports read), :class:`ConsoleTableLogger` (a compact aligned table for the
terminal), and :class:`MultiLogger` (fans one call out to several). Loggers are made by name
through :data:`LOGGERS` / :func:`make_logger`; other backends add themselves with
:func:`register_logger`, as ``mlflow`` does below (its module, and MLflow itself, are only
imported when a run asks for it).

A logger may also take whole episodes: ``log_episodes(step, episodes)`` with transcript
records (:class:`EpisodeLogger`, optional; MLflow turns them into traces).

Telemetry must never kill training: :class:`MultiLogger` catches a failing logger, warns
once for it, and keeps calling the others.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol, runtime_checkable

__all__ = [
    "DEFAULT_CONSOLE_COLUMNS",
    "LOGGERS",
    "ConsoleTableLogger",
    "EpisodeLogger",
    "JsonlLogger",
    "LoggerFactory",
    "MetricsLogger",
    "MultiLogger",
    "make_logger",
    "make_loggers",
    "register_logger",
    "truncate_jsonl",
]


@runtime_checkable
class MetricsLogger(Protocol):
    """The contract every metrics backend follows."""

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        """Record ``metrics`` for training iteration ``step``."""
        ...

    def close(self) -> None:
        """Flush and release resources; ``log`` is not called afterwards."""
        ...


@runtime_checkable
class EpisodeLogger(Protocol):
    """Optional extra for a logger that records sampled episodes (e.g. as traces)."""

    def log_episodes(self, step: int, episodes: Sequence[Mapping[str, Any]]) -> None:
        """Record the episode dicts of iteration ``step`` (the transcript line schema)."""
        ...


def _json_value(value: object) -> object:
    """A JSON-friendly scalar: numpy scalars and 0-d tensors become ``float``/``int``."""
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    # numpy scalars and 0-d torch tensors expose ``.item()``; avoid importing either here.
    item = getattr(value, "item", None)
    if callable(item):
        with contextlib.suppress(TypeError, ValueError, RuntimeError):
            return _json_value(item())
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)


def truncate_jsonl(path: str | os.PathLike[str], after: int, key: str = "step") -> int:
    """Drop the lines of a JSONL file whose ``key`` is greater than ``after``.

    Used when a run resumes from iteration ``after``: the lines written by iterations past
    the checkpoint would otherwise appear twice. Lines that do not parse (a crash can leave
    a half-written last line) are dropped too. The file is rewritten atomically (temporary
    file + ``os.replace``), so a crash here never loses the kept lines. A missing file is
    left missing. Returns the number of lines dropped.
    """
    p = Path(path)
    if not p.exists():
        return 0
    kept: list[str] = []
    dropped = 0
    with p.open(encoding="utf-8") as f:
        for line in f:
            stripped = line.strip()
            if not stripped:
                continue
            try:
                row = json.loads(stripped)
                value = row[key] if isinstance(row, dict) else None
                keep = isinstance(value, int | float) and value <= after
            except (json.JSONDecodeError, KeyError):
                keep = False
            if keep:
                kept.append(stripped)
            else:
                dropped += 1
    if dropped:
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        os.replace(tmp, p)
    return dropped


class JsonlLogger:
    """Appends one JSON object per step: ``{"step": int, "time": unix_s, **metrics}``.

    Each line is flushed as it is written, so the file is complete up to the last finished
    iteration even if the process is killed. The file is opened for appending, so a resumed
    run continues it; pass ``resume_from=k`` (the iteration of the checkpoint) to first drop
    the lines with ``step > k`` so the file never holds a step twice.
    """

    def __init__(self, path: str | os.PathLike[str], resume_from: int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_from is not None:
            truncate_jsonl(self.path, resume_from)
        self._file: IO[str] | None = self.path.open("a", encoding="utf-8")

    def truncate_after(self, step: int) -> int:
        """Drop lines with ``step`` greater than ``step``; returns how many were dropped."""
        if self._file is not None:
            self._file.close()
        dropped = truncate_jsonl(self.path, step)
        self._file = self.path.open("a", encoding="utf-8")
        return dropped

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        if self._file is None:
            raise RuntimeError(f"JsonlLogger({self.path}) is closed")
        row: dict[str, object] = {"step": int(step), "time": time.time()}
        row.update({k: _json_value(v) for k, v in metrics.items()})
        # NaN/inf are kept (Python's json reads them back); they are the signal something broke.
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


# (metric key, header, format spec for ``format(value, spec)``)
DEFAULT_CONSOLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("rollout/success", "success", ".3f"),
    ("val/success", "val", ".3f"),
    ("rollout/return", "return", ".3f"),
    ("rollout/turns", "turns", ".2f"),
    ("rollout/tokens", "tokens", ".1f"),
    ("tti/fire_rate", "tti", ".3f"),
    ("tds/resample_rate", "tds", ".3f"),
    ("actor/pg_loss", "pg_loss", ".4f"),
    ("actor/entropy", "entropy", ".3f"),
    ("timing/iter_s", "iter_s", ".1f"),
)


class ConsoleTableLogger:
    """Prints a compact table: the header once, then one right-aligned row per step.

    ``columns`` are ``(metric key, header, format spec)``; a key missing from a step's
    metrics prints as ``-``. Each column is as wide as the wider of its header and
    ``min_width``; a value wider than that pushes the row out rather than being cut.
    """

    def __init__(
        self,
        columns: Sequence[tuple[str, str, str]] = DEFAULT_CONSOLE_COLUMNS,
        print_fn: Callable[[str], object] = print,
        min_width: int = 8,
    ) -> None:
        self.columns = list(columns)
        self.print_fn = print_fn
        self._step_width = max(len("step"), 6)
        self._widths = [max(len(header), min_width) for _, header, _ in self.columns]
        self._header_done = False

    @staticmethod
    def _format(value: object, spec: str) -> str:
        if value is None:
            return "-"
        try:
            return format(value, spec)
        except (TypeError, ValueError):
            # e.g. spec "d" given a float: show the number rather than fail the run.
            try:
                return format(float(value), ".4g")  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return str(value)

    def header(self) -> str:
        cells = [f"{'step':>{self._step_width}}"]
        cells += [f"{h:>{w}}" for (_, h, _), w in zip(self.columns, self._widths, strict=True)]
        return " ".join(cells)

    def row(self, step: int, metrics: Mapping[str, float]) -> str:
        cells = [f"{step:>{self._step_width}}"]
        for (key, _, spec), w in zip(self.columns, self._widths, strict=True):
            text = self._format(metrics[key], spec) if key in metrics else "-"
            cells.append(f"{text:>{w}}")
        return " ".join(cells)

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        if not self._header_done:
            self.print_fn(self.header())
            self._header_done = True
        self.print_fn(self.row(step, metrics))

    def close(self) -> None:
        pass


class MultiLogger:
    """Sends each call to several loggers; one failing never stops the others or training.

    A logger that raises is warned about once (``warnings.warn``, with its class name and the
    error) and is still called on later steps, since many failures (a tracking server that
    went away for a minute) are transient.
    """

    def __init__(self, loggers: Sequence[MetricsLogger]) -> None:
        self.loggers = list(loggers)
        self._warned: set[int] = set()

    def _warn(self, index: int, action: str, err: Exception) -> None:
        if index in self._warned:
            return
        self._warned.add(index)
        name = type(self.loggers[index]).__name__
        warnings.warn(
            f"metrics logger {name} failed in {action}() and is being skipped for this call "
            f"(further failures are silent; training continues): {type(err).__name__}: {err}",
            RuntimeWarning,
            stacklevel=3,
        )

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        for i, logger in enumerate(self.loggers):
            try:
                logger.log(step, metrics)
            except Exception as err:  # telemetry must never kill training
                self._warn(i, "log", err)

    def log_episodes(self, step: int, episodes: Sequence[Mapping[str, Any]]) -> None:
        """Hand episode records to the loggers that take them (:class:`EpisodeLogger`)."""
        for i, logger in enumerate(self.loggers):
            if not isinstance(logger, EpisodeLogger):
                continue
            try:
                logger.log_episodes(step, episodes)
            except Exception as err:  # telemetry must never kill training
                self._warn(i, "log_episodes", err)

    def close(self) -> None:
        for i, logger in enumerate(self.loggers):
            try:
                logger.close()
            except Exception as err:
                self._warn(i, "close", err)

    def __enter__(self) -> MultiLogger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


LoggerFactory = Callable[..., MetricsLogger]
"""``factory(run_dir: Path, **kwargs) -> MetricsLogger``."""


def _make_jsonl(run_dir: Path, **kwargs: Any) -> MetricsLogger:
    filename = kwargs.pop("filename", "metrics.jsonl")
    return JsonlLogger(Path(run_dir) / filename, **kwargs)


def _make_console(run_dir: Path, **kwargs: Any) -> MetricsLogger:
    del run_dir  # the console has no files
    return ConsoleTableLogger(**kwargs)


LOGGERS: dict[str, LoggerFactory] = {
    "jsonl": _make_jsonl,
    "console": _make_console,
}
"""Logger factories by name. Other backends add themselves with :func:`register_logger`."""


def register_logger(name: str, factory: LoggerFactory) -> None:
    """Add a logger backend (e.g. ``mlflow``) under ``name``; re-registering replaces it."""
    LOGGERS[name] = factory


def _make_mlflow(run_dir: Path, **kwargs: Any) -> MetricsLogger:
    # Imported on use: MLflow is an optional extra and slow to import.
    from t2po.telemetry.mlflow_logger import MlflowLogger

    return MlflowLogger(run_dir, **kwargs)


register_logger("mlflow", _make_mlflow)


def make_logger(name: str, run_dir: str | os.PathLike[str], **kwargs: Any) -> MetricsLogger:
    """Build the logger registered as ``name`` for the run folder ``run_dir``."""
    try:
        factory = LOGGERS[name]
    except KeyError:
        valid = ", ".join(sorted(LOGGERS))
        raise ValueError(
            f"unknown metrics logger {name!r}; valid names: {valid}. "
            "Fix the `loggers` list in your config."
        ) from None
    return factory(Path(run_dir), **kwargs)


def make_loggers(
    names: Sequence[str],
    run_dir: str | os.PathLike[str],
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> MultiLogger:
    """A :class:`MultiLogger` over ``names``; ``options[name]`` are that factory's kwargs.

    Every name is checked before any logger is built, so a typo fails before files open.
    """
    unknown = [n for n in names if n not in LOGGERS]
    if unknown:
        valid = ", ".join(sorted(LOGGERS))
        raise ValueError(
            f"unknown metrics logger(s) {', '.join(map(repr, unknown))}; valid names: {valid}."
        )
    opts = options or {}
    return MultiLogger([make_logger(n, run_dir, **dict(opts.get(n, {}))) for n in names])
