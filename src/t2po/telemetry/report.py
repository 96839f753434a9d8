"""``t2po report RUN... --out DIR``: plots and a Markdown/HTML summary comparing runs.

Runs are read from their ``metrics.jsonl`` and grouped into *labels* whose members are
seeds of one setting: by folder name with the seed suffix stripped (``gigpo_seed0``,
``gigpo_seed1`` → ``gigpo``), otherwise by ``config.yaml`` minus ``seed`` and ``run_dir``
(runs with the same settings share a label, named after the first of them). Every curve is
the mean across a label's seeds with a ±1 std band (:mod:`t2po.telemetry.plots`).

Sample efficiency needs cumulative counters: :func:`add_counters` sums the per-iteration
``rollout/env_steps`` and ``rollout/tokens_total`` into ``counters/env_steps`` and
``counters/tokens`` at read time. Summing here rather than in the trainer keeps them right
across resumes (``metrics.jsonl`` is cut back to the checkpoint) and works for runs logged
before those keys existed (``rollout/episodes`` × the per-episode means give the same sums).

A metric no run logged (``actor/kl`` needs ``algo.kl_coef > 0``) is left out with a note in
the summary, never an error. Output: one PNG per figure, ``summary.md`` and ``summary.html``
(the same tables with the figures inline, and a few sample episodes from each run's
``transcripts.jsonl`` with the pictures of image turns copied beside the page:
:mod:`t2po.telemetry.report_episodes`).
"""

from __future__ import annotations

import argparse
import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from t2po.telemetry.plots import (
    final_mean_std,
    markdown_table,
    plot_grid,
    read_metrics_jsonl,
)
from t2po.telemetry.report_episodes import DEFAULT_EPISODES_PER_RUN, STYLE, episodes_html

__all__ = [
    "FIGURES",
    "Figure",
    "RunData",
    "add_counters",
    "group_runs",
    "load_run",
    "report",
    "seed_label",
    "write_report",
]

ENV_STEPS = "counters/env_steps"
TOKENS = "counters/tokens"

_SEED_SUFFIX = re.compile(r"[_.\-]?seed[_\-]?\d+$", re.IGNORECASE)


@dataclass(frozen=True)
class Figure:
    """One PNG: a grid of ``keys`` against ``x_key``."""

    name: str
    title: str
    keys: tuple[str, ...]
    x_key: str = "step"

    @property
    def interpolate(self) -> bool:
        # Cumulative counters differ per seed; iterations are shared.
        return self.x_key != "step"


_SCORES = ("rollout/success", "val/success", "rollout/return", "val/return")
FIGURES: tuple[Figure, ...] = (
    Figure("success_vs_iterations", "Success and score vs iterations", _SCORES),
    Figure("success_vs_env_steps", "Success and score vs env steps", _SCORES, ENV_STEPS),
    Figure("success_vs_tokens", "Success and score vs generated tokens", _SCORES, TOKENS),
    Figure(
        "optimization",
        "Optimization",
        ("actor/kl", "actor/approx_kl", "actor/entropy", "actor/grad_norm", "actor/pg_loss"),
    ),
    Figure(
        "exploration_control",
        "Exploration control (TTI, TDS)",
        ("tti/fire_rate", "tti/forced_tokens", "tds/resample_rate", "tds/phi_mean"),
    ),
    Figure(
        "episodes",
        "Episode shape",
        ("rollout/tokens_per_turn", "rollout/turns", "rollout/tokens", "rollout/invalid_rate"),
    ),
)
"""The report's figures, in order."""


@dataclass(frozen=True)
class RunData:
    """One run folder: its name, its metric rows (with counters) and its config."""

    path: Path
    rows: list[dict[str, Any]]
    config: dict[str, Any] | None

    @property
    def name(self) -> str:
        return self.path.resolve().name


def add_counters(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ``rows`` with cumulative ``counters/env_steps`` and ``counters/tokens``.

    A training row adds its ``rollout/env_steps`` (or ``rollout/episodes`` ×
    ``rollout/turns``) and ``rollout/tokens_total`` (or ``rollout/episodes`` ×
    ``rollout/tokens``); a validation-only row carries the totals so far. Rows are taken in
    ``step`` order.
    """

    def total(row: Mapping[str, Any], key: str, mean_key: str) -> float:
        if isinstance(row.get(key), int | float):
            return float(row[key])
        episodes, mean = row.get("rollout/episodes"), row.get(mean_key)
        if isinstance(episodes, int | float) and isinstance(mean, int | float):
            return float(episodes) * float(mean)
        return 0.0

    steps = tokens = 0.0
    out = []
    for row in sorted(rows, key=lambda r: float(r.get("step", 0))):
        steps += total(row, "rollout/env_steps", "rollout/turns")
        tokens += total(row, "rollout/tokens_total", "rollout/tokens")
        out.append({**row, ENV_STEPS: steps, TOKENS: tokens})
    return out


def load_run(path: str | Path) -> RunData:
    """Read a run folder (``metrics.jsonl`` required, ``config.yaml`` optional)."""
    folder = Path(path)
    metrics = folder / "metrics.jsonl"
    if not metrics.is_file():
        raise FileNotFoundError(
            f"{folder} has no metrics.jsonl: pass run folders written by `t2po train` "
            "(with the jsonl logger on)."
        )
    config_path = folder / "config.yaml"
    config = yaml.safe_load(config_path.read_text()) if config_path.is_file() else None
    return RunData(folder, add_counters(read_metrics_jsonl(metrics)), config)


def seed_label(name: str) -> str | None:
    """``gigpo_seed0`` → ``gigpo``; ``None`` when the name has no seed suffix."""
    stripped = _SEED_SUFFIX.sub("", name)
    return stripped if stripped and stripped != name else None


def group_runs(runs: Sequence[RunData]) -> dict[str, list[RunData]]:
    """Runs by label, in the order labels first appear (see the module docstring)."""
    by_key: dict[str, list[RunData]] = {}
    labels: dict[str, str] = {}
    for run in runs:
        label = seed_label(run.name)
        if label is not None:
            key = f"name:{label}"
        elif run.config is not None:
            settings = {k: v for k, v in run.config.items() if k not in ("seed", "run_dir")}
            key = "config:" + json.dumps(settings, sort_keys=True, default=str)
            label = run.name
        else:
            key, label = f"name:{run.name}", run.name
        by_key.setdefault(key, []).append(run)
        labels.setdefault(key, label)
    grouped: dict[str, list[RunData]] = {}
    for key, members in by_key.items():
        label = labels[key]
        while label in grouped:  # two settings behind one name: keep both, apart
            label += "'"
        grouped[label] = members
    return grouped


def _has(groups: Mapping[str, Sequence[RunData]], key: str) -> bool:
    return any(key in row for runs in groups.values() for run in runs for row in run.rows)


def _mean_std_text(seeds: Sequence[Sequence[Mapping[str, Any]]], key: str, spec: str) -> str | None:
    if not any(key in row for rows in seeds for row in rows):
        return None
    mean, std = final_mean_std(seeds, key)
    return f"{mean:{spec}} ± {std:{spec}}" if len(seeds) > 1 else f"{mean:{spec}}"


# (metric key, table header, number format)
_SUMMARY_KEYS: tuple[tuple[str, str, str], ...] = (
    ("rollout/success", "success", ".3f"),
    ("val/success", "val success", ".3f"),
    ("rollout/return", "return", ".3f"),
    (ENV_STEPS, "env steps", ".0f"),
    (TOKENS, "tokens", ".0f"),
    ("tti/fire_rate", "TTI fire rate", ".3f"),
    ("tds/resample_rate", "TDS resample rate", ".3f"),
    ("rollout/tokens_per_turn", "tokens/turn", ".1f"),
    ("rollout/turns", "turns/episode", ".2f"),
)


def summary_rows(groups: Mapping[str, Sequence[RunData]]) -> list[dict[str, Any]]:
    """One row per label: seeds, last step and each summary metric's final mean ± std."""
    rows = []
    for label, runs in groups.items():
        seeds = [run.rows for run in runs]
        row: dict[str, Any] = {
            "label": label,
            "seeds": len(runs),
            "runs": ", ".join(run.name for run in runs),
            "step": max((int(r.get("step", 0)) for s in seeds for r in s), default=0),
        }
        row.update({key: _mean_std_text(seeds, key, spec) for key, _, spec in _SUMMARY_KEYS})
        rows.append(row)
    return rows


def _table_columns() -> list[tuple[str, str, str]]:
    return [("label", "run", "s"), ("seeds", "seeds", "d"), ("step", "iterations", "d")] + [
        (key, header, "s") for key, header, _ in _SUMMARY_KEYS
    ]


def _html_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape('-' if row.get(k) is None else str(row.get(k)))}</td>"
            for k, _, _ in columns
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(
    run_dirs: Sequence[str | Path],
    out: str | Path,
    episodes_per_run: int = DEFAULT_EPISODES_PER_RUN,
) -> Path:
    """Plots, ``summary.md`` and ``summary.html`` for ``run_dirs`` in ``out``; returns it.

    ``episodes_per_run``: sample episodes shown per run with transcripts (0: none).
    """
    if not run_dirs:
        raise ValueError("t2po report needs at least one run folder")
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    groups = group_runs([load_run(path) for path in run_dirs])
    curves = {label: [run.rows for run in runs] for label, runs in groups.items()}

    figures: list[tuple[Figure, Path]] = []
    notes: list[str] = []
    for figure in FIGURES:
        missing = [key for key in figure.keys if not _has(groups, key)]
        if missing:
            notes.append(f"{figure.title}: not logged by any run: {', '.join(missing)}")
        keys = [key for key in figure.keys if key not in missing]
        if not keys:
            continue
        png = plot_grid(
            curves,
            keys,
            out_dir / f"{figure.name}.png",
            x_key=figure.x_key,
            ncols=min(3, len(keys)),
            title=figure.title,
            interpolate=figure.interpolate,
        )
        figures.append((figure, png))

    episodes = episodes_html([Path(p) for p in run_dirs], out_dir, episodes_per_run)
    rows = summary_rows(groups)
    columns = _table_columns()
    members = [("label", "run", "s"), ("runs", "run folders", "s")]
    final = "last logged value per seed; mean ± std across seeds"
    md = ["# Training report", "", f"Final metrics ({final}):", "", markdown_table(rows, columns)]
    md += ["Runs grouped as seeds:", "", markdown_table(rows, members)]
    md += [f"## {figure.title}\n\n![{figure.title}]({png.name})\n" for figure, png in figures]
    if episodes:
        md += ["Sample episodes, with the pictures of image turns: summary.html", ""]
    if notes:
        md += ["## Notes", "", *(f"- {note}" for note in notes), ""]
    (out_dir / "summary.md").write_text("\n".join(md), encoding="utf-8")

    page = [
        "<!doctype html><html><head><meta charset='utf-8'><title>t2po report</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        f"img{{max-width:100%}}{STYLE}</style></head><body>",
        "<h1>Training report</h1>",
        f"<p>Final metrics ({html.escape(final)}):</p>",
        _html_table(rows, columns),
        "<p>Runs grouped as seeds:</p>",
        _html_table(rows, members),
    ]
    for figure, png in figures:
        title = html.escape(figure.title)
        page.append(f"<h2>{title}</h2><img src='{html.escape(png.name)}' alt='{title}'>")
    if episodes:
        page.append(episodes)
    if notes:
        items = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
        page.append(f"<h2>Notes</h2><ul>{items}</ul>")
    page.append("</body></html>")
    (out_dir / "summary.html").write_text("\n".join(page), encoding="utf-8")
    return out_dir


def report(args: argparse.Namespace) -> int:
    """The ``t2po report`` command: ``args.runs`` (folders) and ``args.out``."""
    out = write_report(args.runs, args.out)
    pngs = sorted(p.name for p in out.glob("*.png"))
    print(f"report: {out / 'summary.md'}, {out / 'summary.html'} and {len(pngs)} plots")
    return 0
