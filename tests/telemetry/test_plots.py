"""Plots: JSONL reading, the mean ± std band across seeds, PNG output, Markdown tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from t2po.telemetry.loggers import JsonlLogger
from t2po.telemetry.plots import (
    final_mean_std,
    interpolated_band,
    markdown_table,
    plot_grid,
    plot_metric,
    read_metrics_jsonl,
    seed_band,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

SEED_1 = [{"step": 0, "s": 1.0}, {"step": 1, "s": 2.0}, {"step": 2, "s": 3.0, "t": 5.0}]
SEED_2 = [{"step": 0, "s": 3.0}, {"step": 1, "s": 4.0}]


def test_read_metrics_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    logger = JsonlLogger(path)
    for row in SEED_1:
        logger.log(int(row["step"]), {k: v for k, v in row.items() if k != "step"})
    logger.close()
    with path.open("a") as f:
        f.write("{broken\n")
    rows = read_metrics_jsonl(path)
    assert [r["step"] for r in rows] == [0, 1, 2]
    assert [r["s"] for r in rows] == [1.0, 2.0, 3.0]


def test_seed_band_mean_std() -> None:
    band = seed_band([SEED_1, SEED_2], "s")
    np.testing.assert_allclose(band.x_X, [0, 1, 2])
    np.testing.assert_allclose(band.mean_X, [2.0, 3.0, 3.0])
    np.testing.assert_allclose(band.std_X, [1.0, 1.0, 0.0])  # population std of 2 seeds
    np.testing.assert_array_equal(band.n_X, [2, 2, 1])
    np.testing.assert_allclose(band.lower_X, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(band.upper_X, [3.0, 4.0, 3.0])
    assert seed_band([SEED_1], "missing").x_X.size == 0


def test_interpolated_band_on_per_seed_x() -> None:
    # Seed A: y = x on [0, 4]; seed B: y = 10 - x on [2, 6]. Shared range [2, 4].
    seed_a = [{"n": 0.0, "y": 0.0}, {"n": 4.0, "y": 4.0}]
    seed_b = [{"n": 2.0, "y": 8.0}, {"n": 6.0, "y": 4.0}]
    band = interpolated_band([seed_a, seed_b], "y", "n", points=3)
    np.testing.assert_allclose(band.x_X, [2.0, 3.0, 4.0])
    # values A: 2, 3, 4; B: 8, 7, 6
    np.testing.assert_allclose(band.mean_X, [5.0, 5.0, 5.0])
    np.testing.assert_allclose(band.std_X, [3.0, 2.0, 1.0])
    np.testing.assert_array_equal(band.n_X, [2, 2, 2])
    # One seed keeps its own points; disjoint ranges give nothing rather than extrapolating.
    np.testing.assert_allclose(interpolated_band([seed_a], "y", "n").x_X, [0.0, 4.0])
    far = [{"n": 10.0, "y": 1.0}, {"n": 11.0, "y": 1.0}]
    assert interpolated_band([seed_a, far], "y", "n").x_X.size == 0


def test_final_mean_std() -> None:
    # last value per seed: 3 and 4
    assert final_mean_std([SEED_1, SEED_2], "s") == pytest.approx((3.5, 0.5))
    # mean of last two per seed: 2.5 and 3.5
    assert final_mean_std([SEED_1, SEED_2], "s", last_n=2) == pytest.approx((3.0, 0.5))
    assert final_mean_std([SEED_2], "t") == (0.0, 0.0)


def test_plot_metric_and_grid_write_png(tmp_path: Path) -> None:
    runs = {"t2po": [SEED_1, SEED_2], "gigpo": [SEED_2]}
    out = plot_metric(runs, "s", tmp_path / "plots" / "s.png", title="success")
    assert out == tmp_path / "plots" / "s.png"
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000

    grid = plot_grid(runs, ["s", "t", "absent"], tmp_path / "grid.png", ncols=2)
    assert grid.read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ValueError):
        plot_grid(runs, [], tmp_path / "none.png")


def test_plotting_leaves_backend_alone(tmp_path: Path) -> None:
    import matplotlib

    before = matplotlib.get_backend()
    plot_metric({"a": [SEED_1]}, "s", tmp_path / "a.png")
    assert matplotlib.get_backend() == before


def test_markdown_table() -> None:
    rows: list[dict[str, object]] = [
        {"run": "t2po", "success": 0.8125, "tokens": 120.0},
        {"run": "a|b", "success": None},
    ]
    table = markdown_table(
        rows, [("run", "run", ""), ("success", "success", ".3f"), ("tokens", "tokens", ".0f")]
    )
    assert table == (
        "| run | success | tokens |\n|---|---|---|\n| t2po | 0.812 | 120 |\n| a\\|b | - | - |\n"
    )
