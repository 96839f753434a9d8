"""Metric loggers (JSONL, console table, fan-out, registry) and the progress wrapper."""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from t2po.telemetry import loggers as loggers_mod
from t2po.telemetry.loggers import (
    LOGGERS,
    ConsoleTableLogger,
    JsonlLogger,
    MetricsLogger,
    MultiLogger,
    make_logger,
    make_loggers,
    register_logger,
)
from t2po.telemetry.progress import LineProgress, progress


def read_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_jsonl_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "run" / "metrics.jsonl"
    logger = JsonlLogger(path)
    first: dict[str, Any] = {"rollout/success": 0.25, "actor/kl": np.float32(0.5)}
    logger.log(0, first)
    # Flushed per line: readable before close.
    assert len(read_lines(path)) == 1
    logger.log(1, {"rollout/success": 0.5})
    logger.close()
    rows = read_lines(path)
    assert [r["step"] for r in rows] == [0, 1]
    assert rows[0]["rollout/success"] == 0.25
    assert rows[0]["actor/kl"] == 0.5 and isinstance(rows[0]["actor/kl"], float)
    assert all(isinstance(r["time"], float) for r in rows)
    with pytest.raises(RuntimeError, match="closed"):
        logger.log(2, {})


def test_jsonl_resume_drops_later_steps(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    logger = JsonlLogger(path)
    for step in range(5):
        logger.log(step, {"x": float(step)})
    logger.close()
    with path.open("a") as f:
        f.write('{"step": 5, "x": ')  # a half-written line from a crash

    resumed = JsonlLogger(path, resume_from=2)
    assert [r["step"] for r in read_lines(path)] == [0, 1, 2]
    resumed.log(3, {"x": 30.0})
    resumed.log(4, {"x": 40.0})
    assert resumed.truncate_after(3) == 1
    resumed.log(4, {"x": 41.0})
    resumed.close()
    rows = read_lines(path)
    assert [r["step"] for r in rows] == [0, 1, 2, 3, 4]
    assert rows[-1]["x"] == 41.0


def test_jsonl_resume_on_missing_file(tmp_path: Path) -> None:
    logger = JsonlLogger(tmp_path / "new.jsonl", resume_from=3)
    logger.log(4, {"x": 1.0})
    logger.close()
    assert [r["step"] for r in read_lines(tmp_path / "new.jsonl")] == [4]


def test_console_table() -> None:
    out: list[str] = []
    table = ConsoleTableLogger(
        [("a", "alpha", ".2f"), ("b", "b", ".1f"), ("n", "count", "d")], print_fn=out.append
    )
    table.log(1, {"a": 0.5, "b": 2.0, "n": 3})
    table.log(10, {"a": 0.125, "n": 2.5, "unlisted": 1.0})
    table.close()
    assert out == [
        "  step    alpha        b    count",
        "     1     0.50      2.0        3",
        "    10     0.12        -      2.5",  # missing b -> "-"; "d" on a float falls back
    ]
    assert len({len(line) for line in out}) == 1


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[int, dict[str, float]]] = []
        self.closed = False

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        self.calls.append((step, dict(metrics)))

    def close(self) -> None:
        self.closed = True


class Broken:
    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        raise ConnectionError("tracking server unreachable")

    def close(self) -> None:
        raise ConnectionError("still unreachable")


def test_multilogger_survives_failing_logger() -> None:
    first, last = Recorder(), Recorder()
    multi = MultiLogger([first, Broken(), last])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(3):
            multi.log(step, {"x": float(step)})
        multi.close()
    assert [s for s, _ in first.calls] == [0, 1, 2]
    assert [s for s, _ in last.calls] == [0, 1, 2]
    assert first.closed and last.closed
    assert len(caught) == 1  # once per failing logger, not once per call
    assert issubclass(caught[0].category, RuntimeWarning)
    assert "Broken" in str(caught[0].message)
    assert "tracking server unreachable" in str(caught[0].message)


def test_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="console, jsonl"):
        make_logger("mlfow", tmp_path)
    with pytest.raises(ValueError, match="'nope'"):
        make_loggers(["jsonl", "nope"], tmp_path)

    jsonl = make_logger("jsonl", tmp_path)
    assert isinstance(jsonl, MetricsLogger)
    jsonl.log(0, {"x": 1.0})
    jsonl.close()
    assert (tmp_path / "metrics.jsonl").exists()

    recorder = Recorder()
    monkeypatch.setattr(loggers_mod, "LOGGERS", dict(LOGGERS))
    register_logger("memory", lambda run_dir, **kw: recorder)
    out: list[str] = []
    multi = make_loggers(
        ["memory", "console"],
        tmp_path,
        options={"console": {"columns": [("x", "x", ".1f")], "print_fn": out.append}},
    )
    multi.log(7, {"x": 2.0})
    assert recorder.calls == [(7, {"x": 2.0})]
    assert out[-1].split() == ["7", "2.0"]


def test_line_progress_rate_limited() -> None:
    now = [0.0]
    buf = io.StringIO()
    bar: LineProgress[int] = LineProgress(
        total=100, desc="rollout", interval_s=10, file=buf, clock=lambda: now[0]
    )
    now[0] = 5.0
    bar.update()
    assert buf.getvalue() == ""
    now[0] = 11.0
    bar.update(2)
    bar.set_postfix(success=0.25)
    now[0] = 15.0
    bar.update()
    bar.close()
    bar.close()
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("rollout: 3/100 it (3%)")
    assert lines[1].startswith("rollout: 4/100 it (4%)") and "[success=0.25]" in lines[1]


def test_line_progress_quiet_when_fast() -> None:
    buf = io.StringIO()
    bar = LineProgress(range(3), interval_s=10, file=buf, clock=lambda: 0.0)
    assert list(bar) == [0, 1, 2]
    assert bar.n == 3 and bar.total == 3
    assert buf.getvalue() == ""  # no line before the interval, so no closing line either


def test_progress_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("T2PO_PROGRESS", raising=False)
    monkeypatch.setattr("sys.stderr", io.StringIO())  # not a TTY
    assert isinstance(progress(range(2)), LineProgress)
    silent = progress(range(2), disable=True)
    assert isinstance(silent, LineProgress) and silent.silent
    monkeypatch.setenv("T2PO_PROGRESS", "1")
    bar = progress(range(2), desc="x")
    assert not isinstance(bar, LineProgress)
    assert list(bar) == [0, 1]
    monkeypatch.setenv("T2PO_PROGRESS", "0")
    quiet = progress(total=5)
    assert isinstance(quiet, LineProgress) and quiet.silent
