"""``studies/learning_cards.py``: right moves per direction, and runs imported from an earlier
result only when that result started from the same cold start with the same settings."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import ModuleType

import pytest

STUDIES = Path(__file__).resolve().parents[2] / "studies"


@pytest.fixture
def study(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(STUDIES))
    import learning_cards

    return learning_cards


def _episode(start: int, target: int, moves: list[tuple[int, str | None]], won: bool) -> dict:
    turns = [
        {"observation": f"Target: {target}\nCurrent: {position}", "action": action}
        for position, action in moves
    ]
    info = {"start": start, "target": target}
    return {"key": f"cards/test/{start}-{target}", "won": won, "info": info, "turns": turns}


def test_numberline_moves_per_direction(study: ModuleType, tmp_path: Path) -> None:
    episodes = [
        _episode(2, 4, [(2, "+"), (3, "-"), (2, "+"), (3, "+")], won=True),  # up: 3 of 4 right
        _episode(5, 3, [(5, "+"), (6, None), (6, "-")], won=False),  # down: 1 of 3 (1 invalid)
        _episode(1, 3, [(1, "-"), (0, "+")], won=False),  # up: 1 of 2
    ]
    (tmp_path / "episodes.jsonl").write_text("".join(json.dumps(e) + "\n" for e in episodes))
    moves = study.numberline_moves(tmp_path)
    assert moves["right_up"] == pytest.approx(4 / 6)
    assert moves["right_down"] == pytest.approx(1 / 3)
    assert moves["success_up"] == pytest.approx(1 / 2)
    assert moves["success_down"] == 0.0
    assert moves["success_balanced"] == pytest.approx(1 / 4)
    assert (moves["turns_up"], moves["turns_down"]) == (6.0, 3.0)


def _args(study: ModuleType, path: Path, **changes: object) -> argparse.Namespace:
    settings = {key: "x" for key in study.RUN_SETTINGS} | {"import_from": [str(path)]}
    return argparse.Namespace(**(settings | changes))


def _earlier(path: Path, cold: dict, per_seed: list[float]) -> None:
    curves = [[{"env_steps": 100.0 * (i + 1), "val/success": s}] for i, s in enumerate(per_seed)]
    method = {
        "per_seed": per_seed,
        "stream_success": [[s, s] for s in per_seed],
        "paired_vs_cold_start": [{"tasks": 8, "only_after": 1, "only_before": 0, "p": 1.0}]
        * len(per_seed),
    }
    path.write_text(json.dumps({
        "args": {key: "x" for key in ("config", "iterations", "eval_every", "eval_tasks",
                                      "final_eval_tasks", "memory_window", "rl_overrides",
                                      "streams")},
        "arms": {"numberline/weak": {"cold_start": cold, "methods": {"gigpo": method}}},
        "curves": {"numberline/weak": {"gigpo": curves}},
    }))  # fmt: skip


COLD = {"success": 0.6, "cold_start": {"episodes": 8, "kept": 8, "turns": 40,
        "teacher_success": 0.5, "epoch_losses": [1.0, 0.5], "val_losses": [0.9, 0.6]}}  # fmt: skip


def test_imported_runs_keep_seed_order(study: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "earlier.json"
    _earlier(path, COLD, [0.8, 0.9])
    runs = study.imported_runs(_args(study, path), "numberline/weak", COLD)
    assert sorted(runs) == [("gigpo", 0), ("gigpo", 1)]
    assert runs["gigpo", 1]["success"] == 0.9
    assert runs["gigpo", 1]["env_steps"] == 200.0
    assert study.imported_runs(_args(study, path), "ezpoints/weak", COLD) == {}


def test_imported_runs_refuse_another_cold_start(study: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "earlier.json"
    _earlier(path, COLD, [0.8])
    other = {**COLD, "cold_start": {**COLD["cold_start"], "epoch_losses": [1.0, 0.4]}}
    with pytest.raises(SystemExit, match="another cold start"):
        study.imported_runs(_args(study, path), "numberline/weak", other)
    with pytest.raises(SystemExit, match="iterations"):
        study.imported_runs(_args(study, path, iterations=40), "numberline/weak", COLD)


def test_imported_runs_accept_last_digit_rounding(study: ModuleType, tmp_path: Path) -> None:
    # Another CPU rounds the same SFT run differently in the last digits: same cold start.
    path = tmp_path / "earlier.json"
    _earlier(path, COLD, [0.8])
    rounded = {**COLD, "cold_start": {**COLD["cold_start"], "epoch_losses": [1.0, 0.500012]}}
    assert sorted(study.imported_runs(_args(study, path), "numberline/weak", rounded)) == [
        ("gigpo", 0)
    ]
    won_more = {**COLD, "success": 0.61}
    with pytest.raises(SystemExit, match="another cold start"):
        study.imported_runs(_args(study, path), "numberline/weak", won_more)
