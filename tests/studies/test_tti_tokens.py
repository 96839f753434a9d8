"""``studies/tti_tokens.py``: its counts (thinking tokens apart from forced ones, where the
decision ends, TTI replayed on recorded turns) and its ``--quick`` run end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from t2po.exploration.tti import TTIParams
from t2po.types import Turn

REPO = Path(__file__).resolve().parents[2]
STUDIES = REPO / "studies"
OPEN, CLOSE, DOT, WORD, ACTION = 1, 2, 3, 4, 5  # token ids of a made-up vocabulary


@pytest.fixture
def study(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(STUDIES))
    import tti_tokens

    return tti_tokens


def _turn(ids: list[int], m: list[float] | None = None, forced: list[bool] | None = None) -> Turn:
    return Turn(
        observation="", anchor="", prompt_text="", response_text="", prompt_token_ids=[],
        response_token_ids=ids, logprobs=[0.0] * len(ids),
        uncertainty=m if m is not None else [0.5] * len(ids),
        forced_mask=forced if forced is not None else [False] * len(ids),
        tti_fired_at=None, phi=0.0, tds_resamples=0, action=None, action_valid=True,
        reward=0.0, done=False,
    )  # fmt: skip


def test_thinking_tokens_stop_at_the_close_or_the_forced_text(study: ModuleType) -> None:
    markers = study.Markers(think_open=OPEN, think_close=CLOSE, stop_chars=frozenset({DOT}))
    natural = _turn([OPEN, WORD, WORD, DOT, WORD, CLOSE, ACTION])
    assert study.thinking_tokens(natural, markers) == 4
    assert study.decision_end(natural, markers) == 3
    forced = _turn([OPEN, WORD, DOT, WORD, CLOSE, ACTION], forced=[False] * 4 + [True, True])
    assert study.thinking_tokens(forced, markers) == 3  # the forced close is not thinking
    cut = _turn([OPEN, WORD, CLOSE, ACTION], forced=[False, False, True, True])
    assert study.decision_end(cut, markers) is None  # cut before the sentence ended
    assert study.thinking_tokens(_turn([OPEN] + [WORD] * 7), markers) == 7  # never closed
    assert study.stream_of("cards/test/10000003") == 0
    assert study.stream_of("cards/test/10000003@1") == 1


def test_replay_fires_where_the_plateau_starts(study: ModuleType) -> None:
    """A thought whose M_t swings, then stays flat: TTI fires once the window is flat."""
    markers = study.Markers(think_open=OPEN, think_close=CLOSE, stop_chars=frozenset({DOT}))
    swing = [0.0, 1.0] * 5  # 10 tokens of large |ΔM|
    ids = [OPEN] + [WORD] * 9 + [DOT] + [WORD] * 30 + [CLOSE, ACTION]
    m = [0.0, *swing, *([0.2] * 30), 0.2, 0.2]
    turn = _turn(ids, m)
    params = TTIParams(l_min=4, window=4, eps=0.01, l_max=10**6, forced_text="")
    result = study.replay([turn], markers, params)
    # |ΔM| is 0 from token 12 on; the window of N+1 = 5 deltas is all 0 at token 16, the
    # 16th token inside the thought (token 0 is <think>), after the decision (token 10).
    assert result["fire_rate"] == 1.0 and result["early_cut_rate"] == 0.0
    assert result["think_tokens"] == 16
    early = study.replay([turn], markers, TTIParams(l_min=1, window=1, eps=2.0, l_max=10**6,
                                                    forced_text=""))  # fmt: skip
    assert early["early_cut_rate"] == 1.0  # fires before the decision sentence ends
    never = study.replay([turn], markers, TTIParams(l_min=1, window=4, eps=0.0, l_max=10**6,
                                                    forced_text=""))  # fmt: skip
    assert never == {"think_tokens": 40, "fire_rate": 0.0, "early_cut_rate": 0.0}


@pytest.mark.slow
@pytest.mark.heavy  # ~35 s: `python -m pytest -m heavy`
def test_tti_tokens_quick(tmp_path: Path) -> None:
    out = tmp_path / "tti_tokens.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    cmd = [sys.executable, str(STUDIES / "tti_tokens.py"), "--quick", "--threads", "1"]
    proc = subprocess.run(
        [*cmd, "--out", str(out), "--work", str(tmp_path / "work")],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT tti_tokens ")
    values = {k: float(v) for k, v in (pair.split("=") for pair in last.split()[2:])}
    assert list(values) == [
        "think_tokens_off", "think_tokens_on", "success_off", "success_on",
        "budget_only_tokens", "budget_only_success",
    ]  # fmt: skip
    payload = json.loads(out.read_text())
    assert payload["cold_start"]["overthink_tokens"] == [10, 40]
    tuning = payload["tuning"]
    assert tuning["split"] == "train" and len(tuning["grid"]) == 2 and tuning["tried"]
    assert set(tuning["chosen"]) >= {"l_min", "window", "eps", "l_max", "passed"}
    arms = payload["arms"]
    assert set(arms) == {"off", "on", "budget_only"}
    for arm in arms.values():
        assert len(arm["stream_success"]) == len(arm["stream_think_tokens"]) == 2
        assert arm["paired_vs_off"]["tasks"] == 2 * 4  # 4 held-out tasks on 2 streams
        assert [s["tasks"] for s in arm["paired_vs_off"]["per_stream"]] == [4, 4]
    assert values["success_off"] == pytest.approx(arms["off"]["success"], abs=1e-4)
    assert values["budget_only_tokens"] == pytest.approx(arms["budget_only"]["think_tokens"],
                                                         abs=1e-4)  # fmt: skip
    for method in ("gigpo", "t2po"):
        (final,) = payload["rl"][method]
        assert set(final) >= {"tti_off", "tti_on"}
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
