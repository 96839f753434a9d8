"""``studies/learning_vision.py``: NumberLine states replayed from picture episodes, and the
quick run's output contract (both arms, both methods, paired on two sampling streams)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest
from conftest import run_quick_study

STUDIES = Path(__file__).resolve().parents[2] / "studies"


@pytest.fixture
def study(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(STUDIES))
    import learning_vision

    return learning_vision


NOTE = "The picture shows the number line."  # what a picture turn records as its observation


def _episode(start: int, target: int, moves: list[tuple[str | None, bool]], end: int) -> dict:
    turns = [{"observation": NOTE, "action": a, "action_valid": ok} for a, ok in moves]
    info = {"start": start, "target": target, "position": end}
    return {"key": f"cards/test/{start}-{target}", "won": end == target, "info": info,
            "turns": turns}  # fmt: skip


def test_replayed_states_give_the_moves_per_direction(study: ModuleType, tmp_path: Path) -> None:
    heldout = tmp_path / "heldout"
    heldout.mkdir()
    episodes = [
        # up from 9 to 10 on 0..10: '-' (right: no), '+', '+' (10 reached)
        _episode(9, 10, [("-", True), ("+", True), ("+", True)], end=10),
        # down from 1 to 0: an invalid turn leaves the position; '+' past nothing; '-' twice
        _episode(1, 0, [(None, False), ("+", True), ("-", True), ("-", True)], end=0),
        # up from 10... clamped: '+' at the top stays at 10
        _episode(10, 0, [("+", True), ("+", True)], end=10),
    ]
    (heldout / "episodes.jsonl").write_text("".join(json.dumps(e) + "\n" for e in episodes))
    states = study.replay_numberline_states(heldout, tmp_path / "states", max_pos=10)
    replayed = [json.loads(line) for line in (states / "episodes.jsonl").read_text().splitlines()]
    observed = [[t["observation"] for t in e["turns"]] for e in replayed]
    assert observed[0] == ["Target: 10\nCurrent: 9", "Target: 10\nCurrent: 8",
                           "Target: 10\nCurrent: 9"]  # fmt: skip
    assert observed[1][:3] == ["Target: 0\nCurrent: 1"] * 2 + ["Target: 0\nCurrent: 2"]
    assert observed[2] == ["Target: 0\nCurrent: 10"] * 2
    moves = study.numberline_moves(states)
    assert moves["right_up"] == pytest.approx(2 / 3)  # episode 1: '+' twice of three
    # down: invalid (None) at 1, '+' at 1, '-' at 2, '-' at 1, '+' '+' at 10: 2 right of 6
    assert moves["right_down"] == pytest.approx(2 / 6)
    assert (moves["success_up"], moves["success_down"]) == (1.0, 0.5)


def test_a_replay_that_misses_the_final_position_raises(study: ModuleType, tmp_path: Path) -> None:
    heldout = tmp_path / "heldout"
    heldout.mkdir()
    wrong = _episode(3, 5, [("+", True)], end=5)  # one '+' from 3 cannot end at 5
    (heldout / "episodes.jsonl").write_text(json.dumps(wrong) + "\n")
    with pytest.raises(ValueError, match="replayed position 4"):
        study.replay_numberline_states(heldout, tmp_path / "states", max_pos=10)


def test_the_study_refuses_a_single_config(study: ModuleType) -> None:
    with pytest.raises(SystemExit):
        study.parse_args(["--config", "configs/quickstart.yaml"])
    with pytest.raises(SystemExit):
        study.parse_args(["--arms", "sokoban,household"])


@pytest.mark.slow
@pytest.mark.heavy  # ~60 s on a free core (12 min on a busy one): `python -m pytest -m heavy`
def test_learning_vision_quick(tmp_path: Path) -> None:
    """Both picture arms: a cold start, GiGPO and T2PO, held out on two sampling streams."""
    out, work = tmp_path / "learning_vision.json", tmp_path / "work"
    proc = run_quick_study("learning_vision", out, "--work", str(work), "--threads", "1")
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT learning_vision ")
    values = dict(pair.split("=") for pair in last.split()[2:])
    arms, methods = ("numberline", "sokoban"), ("cold", "gigpo", "t2po")
    assert set(values) == {f"{a}_{m}" for a in arms for m in methods}
    assert all(0.0 <= float(v) <= 1.0 for v in values.values())
    payload = json.loads(out.read_text())
    for arm in arms:
        result = payload["arms"][arm]
        assert set(result["methods"]) == {"gigpo", "t2po"}
        for method in result["methods"].values():
            (paired,) = method["paired_vs_cold_start"]
            assert paired["tasks"] == 2 * 4  # 4 held-out tasks on 2 sampling streams
        assert result["stage_seconds"]["cold_start_s"] > 0
        assert (tmp_path / f"learning_vision_{arm}.png").read_bytes()[:4] == b"\x89PNG"
        # The held-out episodes are a `t2po eval` folder with a picture per turn.
        assert list((work / arm / "t2po_seed0" / "heldout").rglob("*.png"))
    moves = payload["arms"]["numberline"]["cold_start"]["moves"]
    assert moves["turns_up"] + moves["turns_down"] > 0  # states replayed from the pictures
    assert "sign test p" in proc.stdout
