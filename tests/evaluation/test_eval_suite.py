"""Suite planning, the summary table, and resume with a local (tiny) model."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from t2po.config import Config, load_config
from t2po.envs import registry
from t2po.envs.registry import get_family, list_families
from t2po.evaluation import EvalAborted, plan_suite, run_suite, summarise
from t2po.evaluation.store import ResultStore, SuiteMismatchError
from t2po.evaluation.suite import family_config, plan_chunks
from t2po.inference.base import Sampler, SamplingParams
from t2po.inference.factory import load_hf_sampler
from t2po.telemetry.jsonl import read_jsonl
from t2po.types import Message, SamplerOutput


def _cfg(*overrides: str) -> Config:
    base = ["env.max_turns=3", "rollout.max_new_tokens=12", "eval.episodes=4", "eval.batch_size=2"]
    return load_config(None, base + list(overrides))


@pytest.fixture
def split_family(monkeypatch: pytest.MonkeyPatch) -> str:
    """A registered family with named splits (sokoban's rules, planning only)."""
    family = dataclasses.replace(
        get_family("sokoban"), name="splitty", splits=("train", "seen", "unseen"), eval_split="seen"
    )
    monkeypatch.setitem(registry._FAMILIES, "splitty", family)
    return "splitty"


def test_every_model_gets_the_same_seeded_tasks() -> None:
    a = plan_suite(_cfg("model.path=tiny"))
    b = plan_suite(_cfg("model.sampler=api", "api.model=gpt-x", "seed=9"))
    assert a == b
    (cell,) = a
    assert [t.seed for t in cell.tasks] == [10_000_000 + i for i in range(4)]


def test_other_families_get_their_own_turn_budget_and_memory() -> None:
    cfg = _cfg("env.kwargs.dim_room=[5,5]", "env.memory_window=0")
    assert family_config(cfg, "sokoban") is cfg  # the configured family keeps its settings
    assert family_config(cfg, "t2po/Sokoban-v0") is cfg
    household = family_config(cfg, "household")
    assert household.env.family == "household"
    assert household.env.kwargs == {}  # sokoban's room size is not a household argument
    assert household.env.max_turns == get_family("household").max_turns == 50
    assert household.env.memory_window == -1  # the family's own P
    assert family_config(cfg, "t2po/Shop-v0").env.max_turns == 15


def test_all_families_and_splits(split_family: str) -> None:
    cells = plan_suite(_cfg("eval.families=all"))
    assert sorted({c.family for c in cells}) == list_families()
    assert {(c.family, c.split) for c in cells if c.family == split_family} == {
        (split_family, "seen")
    }
    cells = plan_suite(_cfg(f"eval.families={split_family}", "eval.splits=unseen,train"))
    assert [(c.split, c.tasks[0].split) for c in cells] == [
        ("unseen", "unseen"),
        ("train", "train"),
    ]
    with pytest.raises(ValueError, match="none of the splits nope.*train, seen, unseen"):
        plan_suite(_cfg(f"eval.families={split_family}", "eval.splits=nope"))
    with pytest.raises(ValueError, match="unknown task family 'chess'"):
        plan_suite(_cfg("eval.families=chess"))


def test_chunks_skip_finished_episodes_and_keep_their_seeds() -> None:
    cfg = _cfg("eval.episodes=5")
    cells = plan_suite(cfg)
    full = plan_chunks(cfg, cells, set())
    assert [len(c.tasks) for c in full] == [2, 2, 1]
    partial = plan_chunks(cfg, cells, {"sokoban/-/10000000", "sokoban/-/10000001"})
    assert [c.seed for c in partial] == [c.seed for c in full[1:]]


def test_summary_numbers_by_hand() -> None:
    eps = [
        {"family": "f", "split": None, "won": True, "score": 1.0, "n_turns": 2,
         "invalid_turns": 0, "tokens": None, "task_type": "a"},
        {"family": "f", "split": None, "won": False, "score": 0.5, "n_turns": 4,
         "invalid_turns": 1, "tokens": None, "task_type": "b"},
        {"family": "f", "split": None, "won": True, "score": None, "n_turns": 6,
         "invalid_turns": 2, "tokens": None, "task_type": "b"},
    ]  # fmt: skip
    usage = [
        {"family": "f", "split": None, "episodes": 3, "completion_tokens": 300,
         "prompt_tokens": 900, "requests": 12, "retries": 2, "cost_usd": 0.25},
        {"family": "f", "split": None, "episodes": 0, "completion_tokens": 30,
         "prompt_tokens": 90, "requests": 1, "retries": 3, "cost_usd": 0.05},
    ]  # fmt: skip
    s = summarise(eps, usage, {"model": "m"})
    cell, type_a, type_b = s["rows"]
    assert (cell["episodes"], cell["success"], cell["turns"]) == (3, pytest.approx(2 / 3), 4.0)
    # One definition with training's env/<family>/score: an unscored episode counts 0.
    assert cell["score"] == pytest.approx(1.5 / 3) and cell["invalid_rate"] == pytest.approx(3 / 12)
    assert cell["tokens_per_episode"] == 100.0  # the lost chunk's tokens are not per episode
    assert cell["cost_usd"] == pytest.approx(0.30)  # ... but its cost was spent
    assert (type_a["task_type"], type_a["success"], type_b["success"]) == ("a", 1.0, 0.5)
    assert type_b["score"] == 0.25 and type_b["tokens_per_episode"] is None
    assert s["usage"]["retries"] == 5 and s["usage"]["requests"] == 13


class CrashAfter:
    """A sampler that works for ``calls`` generate calls, then fails (a killed run)."""

    def __init__(self, inner: Sampler, calls: int) -> None:
        self.inner, self.calls_left, self.prompts = inner, calls, 0

    def generate(
        self,
        prompts: Sequence[Sequence[Message]],
        params: SamplingParams,
        seeds: Sequence[int | None] | None = None,
    ) -> list[SamplerOutput]:
        if self.calls_left == 0:
            raise RuntimeError("simulated crash")
        self.calls_left -= 1
        self.prompts += len(prompts)
        # the inner HFSampler gives each row its own stream (the rollout engine's per-episode
        # seeds): pass them on, or the wrapped run samples differently from the plain one
        return self.inner.generate(prompts, params, seeds=seeds)  # type: ignore[call-arg]


def _by_key(out: Path) -> dict[str, Any]:
    rows = read_jsonl(out / "episodes.jsonl")
    return {r["key"]: [(t["response"], t["reward"]) for t in r["turns"]] for r in rows}


@pytest.mark.slow
def test_resumed_local_eval_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    cfg = _cfg("eval.episodes=6")
    sampler = load_hf_sampler("tiny")
    whole = run_suite(cfg, sampler, tmp_path / "whole", log=lambda _: None)
    assert whole.played == 6 and whole.summary["total"]["episodes"] == 6

    crashing = CrashAfter(sampler, calls=4)  # chunk 1 takes 3 turns; chunk 2 dies mid-way
    with pytest.raises(EvalAborted, match="2 finished episode.*rerun the same command"):
        run_suite(cfg, crashing, tmp_path / "resumed", log=lambda _: None)
    assert len(read_jsonl(tmp_path / "resumed" / "episodes.jsonl")) == 2

    again = CrashAfter(sampler, calls=-1)  # never crashes
    resumed = run_suite(cfg, again, tmp_path / "resumed", log=lambda _: None)
    assert (resumed.played, resumed.resumed) == (4, 2)
    assert again.prompts == sum(
        r["n_turns"] for r in read_jsonl(tmp_path / "resumed" / "episodes.jsonl")[2:]
    )
    assert _by_key(tmp_path / "resumed") == _by_key(tmp_path / "whole")
    local = resumed.summary["rows"][0]
    assert local["tokens_per_episode"] > 0 and local["cost_usd"] is None
    assert resumed.summary["token_signals"] is True
    assert (tmp_path / "resumed" / "summary.md").read_text().count("| sokoban |") == 2

    # Nothing left to play: a third run only rewrites the summary.
    idle = CrashAfter(sampler, calls=0)
    assert run_suite(cfg, idle, tmp_path / "resumed", log=lambda _: None).played == 0


def test_other_settings_do_not_mix_into_a_results_folder(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.open({"model": "tiny", "temperature": 0.6})
    with pytest.raises(SuiteMismatchError, match=r"temperature: 0.6 -> 1.0.*--restart"):
        ResultStore(tmp_path).open({"model": "tiny", "temperature": 1.0})
    store.add_episodes([{"key": "k1"}])
    ResultStore(tmp_path).open({"model": "tiny", "temperature": 1.0}, restart=True)
    assert ResultStore(tmp_path).finished_keys() == set()


def test_a_torn_last_line_costs_only_itself(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.open({})
    store.add_episodes([{"key": "a"}])
    with store.episodes_path.open("a") as f:
        f.write('{"key": "b", "tur')  # killed mid-write
    store.add_episodes([{"key": "c"}])
    assert store.finished_keys() == {"a", "c"}


def test_run_suite_loads_env_plugins_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library caller (no CLI) gets the families its config's env.plugins register."""
    (tmp_path / "my_family_plugin.py").write_text(
        "import dataclasses\n"
        "from t2po.envs import get_family, register_family\n"
        "register_family(dataclasses.replace(get_family('sokoban'), name='plugged'))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_FAMILIES", dict(registry._FAMILIES))  # undone after
    cfg = _cfg("env.family=plugged", "env.plugins=[my_family_plugin]", "eval.episodes=1")
    result = run_suite(cfg, load_hf_sampler("tiny"), tmp_path / "out", log=lambda _: None)
    assert result.played == 1 and result.trajectories[0].task_id == "plugged/-/10000000"


def test_the_model_label_never_shows_a_token_in_the_endpoint_url() -> None:
    from t2po.evaluation.runner import model_label

    cfg = _cfg("model.sampler=api", "api.model=m", "api.base_url=https://u:s3cr3tpass@h/v1?key=abc")
    label = model_label(cfg)
    assert "s3cr3tpass" not in label and "abc" not in label and label.startswith("m @ https://")
