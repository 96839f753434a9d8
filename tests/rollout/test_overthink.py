"""The overthinking cold-start teacher: the expert's thought first and unchanged, the action
unchanged, then numbered re-checks whose length in the policy's tokens is drawn, seeded, from
``rft.overthink_tokens`` (rounded to whole re-checks); and the option's config checks."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import pytest
from conftest import default_rollout

from t2po.config import ConfigError, config_from_dict
from t2po.envs.cards import CARDS
from t2po.envs.sokoban import SOKOBAN
from t2po.models.loading import load_model_and_tokenizer
from t2po.response_format import parse_response
from t2po.rollout.engine import RolloutSettings, Task
from t2po.rollout.expert import expert_rollout
from t2po.rollout.overthink import overthink_episodes, overthinking_tail
from t2po.types import Trajectory


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return load_model_and_tokenizer("tiny")[1]


def _codec(tokenizer: Any) -> dict[str, Any]:
    return {"encode": lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]}


def _numberline(n: int, seed: int = 0) -> list[Trajectory]:
    settings: RolloutSettings = dataclasses.replace(
        default_rollout(),
        max_turns=CARDS.max_turns,
        memory_window=0,
        env_kwargs={"game": "numberline", "max_pos": 10},
    )
    tasks = [Task(f"cards-{s}", s, "train") for s in range(n)]
    return expert_rollout(CARDS, tasks, settings, seed=seed)


def _tail_lengths(
    teacher: list[Trajectory], rambling: list[Trajectory], tokenizer: Any
) -> list[int]:
    """Per turn, the thought's length in tokens over the teacher's own thought."""

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    lengths = []
    for before, after in zip(teacher, rambling, strict=True):
        for a, b in zip(before.turns, after.turns, strict=True):
            think_a = parse_response(a.response_text).think
            think_b = parse_response(b.response_text).think
            assert think_a is not None and think_b is not None
            lengths.append(count(think_b) - count(think_a))
    return lengths


def test_the_decision_comes_first_and_the_action_is_unchanged(tokenizer: Any) -> None:
    teacher = _numberline(40)
    rambling = overthink_episodes(teacher, (20, 200), seed=3, **_codec(tokenizer))
    assert len(rambling) == len(teacher)
    for before, after in zip(teacher, rambling, strict=True):
        assert (after.task_id, after.won, after.seed) == (before.task_id, before.won, before.seed)
        assert len(after.turns) == len(before.turns) > 0
        for a, b in zip(before.turns, after.turns, strict=True):
            old, new = parse_response(a.response_text), parse_response(b.response_text)
            assert new.error is None, b.response_text
            assert old.think is not None and new.think is not None
            assert new.think.startswith(old.think + " re-check 1/")  # the decision, then the tail
            count = int(new.think.split(" re-check 1/", 1)[1].split(":", 1)[0])
            assert new.think.endswith(f"again {count}/{count}: {old.think}") or count % 2
            assert new.action == old.action == b.action == a.action
            assert (b.observation, b.reward, b.done) == (a.observation, a.reward, a.done)
    assert teacher[0].turns[0].response_text != rambling[0].turns[0].response_text  # a copy


def test_tail_lengths_are_within_range_uniform_and_seeded(tokenizer: Any) -> None:
    teacher = _numberline(120)
    first = overthink_episodes(teacher, (20, 200), seed=5, **_codec(tokenizer))
    again = overthink_episodes(teacher, (20, 200), seed=5, **_codec(tokenizer))
    other = overthink_episodes(teacher, (20, 200), seed=6, **_codec(tokenizer))
    lengths = _tail_lengths(teacher, first, tokenizer)
    assert len(lengths) > 400
    assert min(lengths) >= 20 and max(lengths) <= 200  # the tail alone, in the policy's tokens
    assert [t.response_text for ep in first for t in ep.turns] == [
        t.response_text for ep in again for t in ep.turns
    ]
    assert _tail_lengths(teacher, other, tokenizer) != lengths  # another seed, other draws
    # Uniform on 20..200, rounded to whole re-checks of 15 tokens (30, 45, ..., 195): each
    # third of the range holds about a third of the tails.
    assert set(lengths) <= set(range(30, 200, 15)), sorted(set(lengths))
    thirds = Counter(min(2, (n - 20) * 3 // 181) for n in lengths)
    assert all(abs(thirds[k] / len(lengths) - 1 / 3) < 0.07 for k in range(3)), thirds
    # A range that fits one length is met exactly, for every turn.
    fixed = overthink_episodes(teacher[:10], (40, 50), seed=0, **_codec(tokenizer))
    assert set(_tail_lengths(teacher[:10], fixed, tokenizer)) == {45}


def test_the_tail_restates_the_state_for_any_family(tokenizer: Any) -> None:
    """Built from the turn's own thought and observation: a multi-line Sokoban grid too."""
    settings = dataclasses.replace(default_rollout(), max_turns=SOKOBAN.max_turns)
    teacher = expert_rollout(SOKOBAN, [Task("sokoban-1", 1, "train")], settings)
    (episode,) = overthink_episodes(teacher, (100, 400), seed=0, **_codec(tokenizer))
    turn = episode.turns[0]
    think = parse_response(turn.response_text).think
    assert think is not None
    first_row = turn.observation.splitlines()[0]
    assert f": {first_row} " in think  # the grid, on one line
    assert turn.action == teacher[0].turns[0].action
    tail = overthinking_tail(
        "go up.", "Target: 7\n</think>Current: 3", 30, tokens=(1, 60), **_codec(tokenizer)
    )
    assert "</think>" not in tail and tail.startswith(" re-check 1/")
    assert tail == " re-check 1/2: Target: 7 Current: 3. again 2/2: go up."  # nearest 30


def test_a_malformed_response_is_left_alone_and_bad_ranges_are_refused(tokenizer: Any) -> None:
    teacher = _numberline(1)
    broken = dataclasses.replace(teacher[0].turns[0], response_text="no tags at all")
    episode = dataclasses.replace(teacher[0], turns=[broken])
    (kept,) = overthink_episodes([episode], (5, 9), seed=0, **_codec(tokenizer))
    assert kept.turns[0].response_text == "no tags at all"
    for bad in ((0, 10), (30, 20)):
        with pytest.raises(ValueError, match="1 <= low <= high"):
            overthink_episodes(teacher, bad, seed=0, **_codec(tokenizer))
    with pytest.raises(ValueError, match=r"no whole number of re-checks .* is 1\.\.5 tokens"):
        overthinking_tail("go up.", "x", 3, tokens=(1, 5), **_codec(tokenizer))


def test_config_reads_the_range_and_refuses_what_cannot_work() -> None:
    assert config_from_dict({}).rft.overthink_tokens == (0, 0)  # off by default
    cfg = config_from_dict({"rft": {"overthink_tokens": [20, 200]}})
    assert cfg.rft.overthink_tokens == (20, 200)
    fmt = config_from_dict({"rft": {"overthink_tokens": [5, 5], "teacher": "format_only"}})
    assert fmt.rft.overthink_tokens == (5, 5)
    for bad in ([0, 10], [30, 20], [-1, 4]):
        with pytest.raises(ConfigError, match=r"rft.overthink_tokens must be \[0, 0\] \(off\)"):
            config_from_dict({"rft": {"overthink_tokens": bad}})
    with pytest.raises(ConfigError, match="overthink_tokens applies to rft.teacher 'expert' or"):
        config_from_dict({"rft": {"overthink_tokens": [20, 200], "teacher": "policy"}})
    with pytest.raises(ConfigError, match="expected 2 values"):
        config_from_dict({"rft": {"overthink_tokens": [20]}})


def test_the_cold_start_trains_on_the_rambling_thoughts(tmp_path: Any, monkeypatch: Any) -> None:
    """``rft.overthink_tokens`` reaches the SFT examples and the cold start's record."""
    import json

    from t2po.config import load_config
    from t2po.train import coldstart

    seen: list[Any] = []
    real_sft = coldstart.sft

    def spy(model: Any, examples: Any, **kwargs: Any) -> Any:
        seen.extend(examples)
        return real_sft(model, examples, **kwargs)

    monkeypatch.setattr(coldstart, "sft", spy)
    overrides = [
        "model.path=tiny", "env.family=cards", "env.kwargs.game=numberline",
        "env.kwargs.max_pos=10", "env.max_turns=20", "env.memory_window=0",
        "rft.episodes=4", "rft.epochs=1", "rft.val_fraction=0",
        "rft.overthink_tokens=[30,40]", "log.progress=false",
    ]  # fmt: skip
    result = coldstart.cold_start_from_config(load_config(None, overrides), tmp_path / "cold")
    assert result.overthink_tokens == (30, 40)
    record = json.loads((tmp_path / "cold" / "cold_start.json").read_text())
    assert record["overthink_tokens"] == [30, 40]
    plain = coldstart.cold_start_from_config(
        load_config(None, [o for o in overrides if "overthink" not in o]), tmp_path / "plain"
    )
    assert len(seen) == 2 * result.turns and plain.turns == result.turns
    rambling, teacher = seen[: result.turns], seen[result.turns :]
    for long, short in zip(rambling, teacher, strict=True):
        assert long.prompt_ids == short.prompt_ids  # the same states, the same prompts
        assert 30 <= len(long.target_ids) - len(short.target_ids) <= 40
