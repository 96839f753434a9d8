"""Learning curves and tables from ``metrics.jsonl`` files.

A *run* here is a label (``"t2po"``, ``"gigpo"``) mapped to several seeds, each seed a list
of metric rows as written by :class:`~t2po.telemetry.loggers.JsonlLogger`. Curves show the
mean across seeds with a shaded ±1 std band (population std, the spread of exactly these
seeds); the arithmetic is in :func:`seed_band`, separate from drawing so it can be tested.
Against a per-seed x such as cumulative env steps or tokens, seeds never share x values, so
:func:`interpolated_band` first puts every seed on one grid (``interpolate=True``).

Figures are drawn on matplotlib's Agg canvas directly (no ``pyplot``), so plotting works
headless and never changes the process-wide backend.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from t2po.telemetry.jsonl import read_jsonl
from t2po.telemetry.metrics import mean_std

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "Band",
    "Rows",
    "Runs",
    "final_mean_std",
    "interpolated_band",
    "markdown_table",
    "plot_grid",
    "plot_metric",
    "read_metrics_jsonl",
    "seed_band",
]

Rows = Sequence[Mapping[str, Any]]
"""One seed's metric rows."""
Runs = Mapping[str, Sequence[Rows]]
"""Run label -> seeds -> rows."""


def read_metrics_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of a ``metrics.jsonl`` file, in order; lines that do not parse are skipped."""
    return read_jsonl(path)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    x = float(value)
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class Band:
    """Mean and std across seeds at each x; ``n_X`` is how many seeds had a value there."""

    x_X: npt.NDArray[np.float64]
    mean_X: npt.NDArray[np.float64]
    std_X: npt.NDArray[np.float64]
    n_X: npt.NDArray[np.int64]

    @property
    def lower_X(self) -> npt.NDArray[np.float64]:
        return self.mean_X - self.std_X

    @property
    def upper_X(self) -> npt.NDArray[np.float64]:
        return self.mean_X + self.std_X


def seed_band(seeds: Sequence[Rows], key: str, x_key: str = "step") -> Band:
    """Mean ± std of ``key`` across seeds, aligned on ``x_key``.

    At each x value present in any seed, the statistics use the seeds that logged a finite
    ``key`` at that x (seeds that stopped early simply drop out). If a seed logs the same x
    twice, its last value wins. Empty arrays when no seed has the key.
    """
    per_x: dict[float, list[float]] = {}
    for rows in seeds:
        seen: dict[float, float] = {}
        for row in rows:
            x = _number(row.get(x_key))
            y = _number(row.get(key))
            if x is not None and y is not None:
                seen[x] = y
        for x, y in seen.items():
            per_x.setdefault(x, []).append(y)
    xs = sorted(per_x)
    stats = [mean_std(per_x[x]) for x in xs]
    return Band(
        x_X=np.array(xs, dtype=np.float64),
        mean_X=np.array([m for m, _ in stats], dtype=np.float64),
        std_X=np.array([s for _, s in stats], dtype=np.float64),
        n_X=np.array([len(per_x[x]) for x in xs], dtype=np.int64),
    )


def _xy(rows: Rows, key: str, x_key: str) -> tuple[list[float], list[float]]:
    """One seed's finite ``(x, key)`` pairs sorted by x; a repeated x keeps its last value."""
    seen: dict[float, float] = {}
    for row in rows:
        x = _number(row.get(x_key))
        y = _number(row.get(key))
        if x is not None and y is not None:
            seen[x] = y
    xs = sorted(seen)
    return xs, [seen[x] for x in xs]


def interpolated_band(seeds: Sequence[Rows], key: str, x_key: str, points: int = 50) -> Band:
    """Mean ± std of ``key`` across seeds on a shared grid of ``x_key`` values.

    Each seed is linearly interpolated (``numpy.interp``) at ``points`` evenly spaced x
    values over the range *every* seed covers, so no seed is extrapolated. A single seed
    keeps its own x values. Empty arrays when no seed has the key or the ranges do not
    overlap.
    """
    curves = [xy for rows in seeds if len((xy := _xy(rows, key, x_key))[0]) > 0]
    if len(curves) <= 1:
        return seed_band(seeds, key, x_key)
    lo = max(xs[0] for xs, _ in curves)
    hi = min(xs[-1] for xs, _ in curves)
    empty = np.array([], dtype=np.float64)
    if lo > hi:
        return Band(empty, empty, empty, np.array([], dtype=np.int64))
    grid_X = np.linspace(lo, hi, points) if hi > lo else np.array([lo])
    values_S_X = np.stack([np.interp(grid_X, xs, ys) for xs, ys in curves])
    return Band(
        x_X=grid_X.astype(np.float64),
        mean_X=values_S_X.mean(axis=0),
        std_X=values_S_X.std(axis=0),  # population std, as in seed_band
        n_X=np.full(grid_X.shape, len(curves), dtype=np.int64),
    )


def final_mean_std(
    seeds: Sequence[Rows], key: str, last_n: int = 1, x_key: str = "step"
) -> tuple[float, float]:
    """Mean ± std across seeds of each seed's average ``key`` over its last ``last_n`` rows.

    For end-of-training summary tables. ``(0.0, 0.0)`` when no seed logged ``key``.
    """
    finals: list[float] = []
    for rows in seeds:
        values = [
            (x, y)
            for row in rows
            if (x := _number(row.get(x_key))) is not None
            and (y := _number(row.get(key))) is not None
        ]
        if values:
            values.sort(key=lambda xy: xy[0])
            tail = [y for _, y in values[-last_n:]]
            finals.append(sum(tail) / len(tail))
    return mean_std(finals)


def _draw(
    ax: Axes, runs: Runs, key: str, x_key: str, title: str | None, interpolate: bool = False
) -> None:
    for label, seeds in runs.items():
        band = interpolated_band(seeds, key, x_key) if interpolate else seed_band(seeds, key, x_key)
        if band.x_X.size == 0:
            continue
        (line,) = ax.plot(band.x_X, band.mean_X, label=f"{label} (n={len(seeds)})")
        if len(seeds) > 1:
            ax.fill_between(
                band.x_X, band.lower_X, band.upper_X, color=line.get_color(), alpha=0.2, lw=0
            )
    ax.set_title(title if title is not None else key)
    ax.set_xlabel(x_key)
    ax.set_ylabel(key)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")


def _save(fig: Figure, out_png: str | os.PathLike[str]) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(out, format="png", dpi=120)
    return out


def plot_metric(
    runs: Runs,
    key: str,
    out_png: str | os.PathLike[str],
    x_key: str = "step",
    title: str | None = None,
    interpolate: bool = False,
) -> Path:
    """One metric, one curve per run label (mean across seeds, shaded ±1 std); returns path.

    ``interpolate=True`` aligns seeds with :func:`interpolated_band` (per-seed x values).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 4.0))
    _draw(fig.add_subplot(1, 1, 1), runs, key, x_key, title, interpolate)
    return _save(fig, out_png)


def plot_grid(
    runs: Runs,
    keys: Sequence[str],
    out_png: str | os.PathLike[str],
    x_key: str = "step",
    ncols: int = 3,
    title: str | None = None,
    interpolate: bool = False,
) -> Path:
    """Several metrics in a grid of subplots (same curves as :func:`plot_metric`)."""
    from matplotlib.figure import Figure

    if not keys:
        raise ValueError("plot_grid needs at least one metric key")
    ncols = max(1, min(ncols, len(keys)))
    nrows = math.ceil(len(keys) / ncols)
    fig = Figure(figsize=(4.5 * ncols, 3.5 * nrows))
    for i, key in enumerate(keys):
        _draw(fig.add_subplot(nrows, ncols, i + 1), runs, key, x_key, None, interpolate)
    if title:
        fig.suptitle(title)
    return _save(fig, out_png)


def markdown_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str, str]]
) -> str:
    """A GitHub Markdown table; ``columns`` are ``(key, header, format spec)``.

    Missing or ``None`` values print as ``-``; a value the spec cannot format prints as text.
    """

    def cell(value: object, spec: str) -> str:
        if value is None:
            return "-"
        try:
            text = format(value, spec)
        except (TypeError, ValueError):
            text = str(value)
        return text.replace("|", "\\|")

    lines = [
        "| " + " | ".join(header for _, header, _ in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(cell(row.get(k), spec) for k, _, spec in columns) + " |")
    return "\n".join(lines) + "\n"
