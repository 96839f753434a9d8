"""`t2po report` pieces on hand-made runs: labels, grouping, counters, the written summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from t2po.telemetry.loggers import JsonlLogger
from t2po.telemetry.report import (
    ENV_STEPS,
    TOKENS,
    add_counters,
    group_runs,
    load_run,
    seed_label,
    write_report,
)


def make_run(
    folder: Path, rows: list[dict[str, Any]], config: dict[str, Any] | None = None
) -> Path:
    logger = JsonlLogger(folder / "metrics.jsonl")
    for row in rows:
        logger.log(int(row["step"]), {k: v for k, v in row.items() if k != "step"})
    logger.close()
    if config is not None:
        (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("gigpo_seed0", "gigpo"),
        ("t2po-seed12", "t2po"),
        ("ppo.seed_3", "ppo"),
        ("run", None),
        ("seed3", None),  # nothing left once the suffix is gone
    ],
)
def test_seed_label(name: str, label: str | None) -> None:
    assert seed_label(name) == label


def test_add_counters_sums_totals_and_falls_back_to_means() -> None:
    rows = [
        # out of order on purpose: counters follow `step`
        {"step": 2, "rollout/episodes": 4.0, "rollout/turns": 2.5, "rollout/tokens": 30.0},
        {"step": 0, "val/success": 0.5},
        {"step": 1, "rollout/env_steps": 7.0, "rollout/tokens_total": 90.0},
    ]
    out = add_counters(rows)
    assert [r["step"] for r in out] == [0, 1, 2]
    assert [r[ENV_STEPS] for r in out] == [0.0, 7.0, 7.0 + 4 * 2.5]
    assert [r[TOKENS] for r in out] == [0.0, 90.0, 90.0 + 4 * 30.0]
    assert ENV_STEPS not in rows[0]  # the input rows are not changed


def test_group_runs_by_name_then_by_config(tmp_path: Path) -> None:
    base = {"seed": 0, "run_dir": "x", "optim": {"lr": 1e-3}}
    folders = [
        make_run(tmp_path / "gigpo_seed0", [{"step": 1}]),
        make_run(tmp_path / "a", [{"step": 1}], {**base, "run_dir": "a"}),
        make_run(tmp_path / "gigpo_seed1", [{"step": 1}]),
        make_run(tmp_path / "b", [{"step": 1}], {**base, "seed": 1, "run_dir": "b"}),
        make_run(tmp_path / "c", [{"step": 1}], {**base, "optim": {"lr": 1e-4}}),
    ]
    groups = group_runs([load_run(f) for f in folders])
    assert {label: [r.name for r in runs] for label, runs in groups.items()} == {
        "gigpo": ["gigpo_seed0", "gigpo_seed1"],
        "a": ["a", "b"],  # same settings but the seed
        "c": ["c"],
    }


def test_missing_metrics_file_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no metrics.jsonl"):
        write_report([tmp_path], tmp_path / "out")


def test_write_report_tables_plots_and_notes(tmp_path: Path) -> None:
    def rows(success: list[float]) -> list[dict[str, Any]]:
        return [
            {"step": i + 1, "rollout/success": s, "rollout/env_steps": 10.0, "actor/entropy": 1.0}
            for i, s in enumerate(success)
        ]

    runs = [
        make_run(tmp_path / "x_seed0", rows([0.2, 0.4])),
        make_run(tmp_path / "x_seed1", rows([0.4, 0.8])),
        make_run(tmp_path / "y_seed0", rows([0.1])),
    ]
    out = write_report(runs, tmp_path / "report")
    summary = (out / "summary.md").read_text()
    # x: last success 0.4 and 0.8 -> 0.600 ± 0.200; env steps 20 and 20; y: one seed, no ±.
    assert "| x | 2 | 2 | 0.600 ± 0.200 | - | - | 20 ± 0 |" in summary
    assert "| y | 1 | 1 | 0.100 | - | - | 10 |" in summary
    # Figures with at least one logged key are drawn; the rest are noted, not errors.
    pngs = {p.name for p in out.glob("*.png")}
    assert pngs == {
        "success_vs_iterations.png",
        "success_vs_env_steps.png",
        "success_vs_tokens.png",
        "optimization.png",
    }
    assert "not logged by any run: tti/fire_rate, tti/forced_tokens" in summary
    assert "Episode shape: not logged by any run: rollout/tokens_per_turn" in summary
    assert "actor/kl, actor/approx_kl, actor/grad_norm" in summary
    page = (out / "summary.html").read_text()
    assert "<td>0.600 ± 0.200</td>" in page
    assert all(f"<img src='{name}'" in page for name in pngs)
