"""Cold start rules a task family meets: which teacher episodes are kept, and slipping."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import gymnasium
import pytest

from t2po.envs.sokoban import SOKOBAN
from t2po.envs.sokoban.env import SokobanEnv
from t2po.rollout.engine import RolloutSettings, Task
from t2po.rollout.expert import expert_rollout
from t2po.train.coldstart import kept_episodes, split_episodes, trajectory_score
from t2po.types import Trajectory


def _episode(won: bool, score: Any = None) -> Trajectory:
    info = {} if score is None else {"score": score}
    return Trajectory(task_id=f"t-{won}-{score}", seed=0, won=won, info=info)


def test_min_score_is_strict_and_a_negative_one_keeps_losses() -> None:
    win, near, half, zero = (
        _episode(True, 0.2),  # a win scores 1.0 whatever info['score'] says
        _episode(False, 0.8),
        _episode(False, 0.5),
        _episode(False),
    )
    episodes = [win, near, half, zero]
    assert [trajectory_score(t) for t in episodes] == [1.0, 0.8, 0.5, 0.0]
    assert kept_episodes(episodes, 0.8, "fam") == [win]  # 0.8 is not above 0.8
    assert kept_episodes(episodes, 0.79, "fam") == [win, near]
    assert kept_episodes(episodes, 0.0, "fam") == [win, near, half]  # credit, not zero
    assert kept_episodes(episodes, -1.0, "fam") == episodes  # losses included


def test_keeping_nothing_is_an_error_with_the_way_out() -> None:
    with pytest.raises(ValueError, match=r"kept none of the 2 .*'fam'.*best here 0\.500") as err:
        kept_episodes([_episode(False, 0.5), _episode(False)], 0.8, "fam")
    assert "-1 keeps every episode" in str(err.value)
    with pytest.raises(ValueError, match="rft.min_score=1.0"):
        kept_episodes([_episode(True)], 1.0, "fam")  # nothing scores above 1


class _NoAdmissibleSokoban(SokobanEnv):
    """Sokoban whose info has no admissible actions, as many families' envs."""

    def _info(self) -> dict[str, Any]:
        info = super()._info()
        del info["admissible_actions"]
        return info


@pytest.fixture
def no_admissible_family() -> Iterator[Any]:
    env_id = "t2potest/NoAdmissibleSokoban-v0"
    gymnasium.register(id=env_id, entry_point=_NoAdmissibleSokoban)
    try:
        yield dataclasses.replace(SOKOBAN, name="noadmissible", env_id=env_id)
    finally:
        del gymnasium.registry[env_id]


def test_a_slipping_teacher_needs_admissible_actions(no_admissible_family: Any) -> None:
    settings = RolloutSettings(max_turns=20, memory_window=0, invalid_penalty=0.1)
    tasks = [Task("t-0", 0), Task("t-1", 1)]
    with pytest.raises(ValueError, match=r"expert_slip=0\.3.*'noadmissible'") as err:
        expert_rollout(no_admissible_family, tasks, settings, slip=0.3)
    assert "info['admissible_actions']" in str(err.value)
    assert "rft.expert_slip=0" in str(err.value)
    # Without slips the same family's expert plays (and wins) as before.
    assert all(t.won for t in expert_rollout(no_admissible_family, tasks, settings, slip=0.0))


def test_validation_episodes_are_whole_seeded_and_never_all() -> None:
    episodes = [Trajectory(task_id=f"t{i}", seed=i) for i in range(20)]
    train, val = split_episodes(episodes, 0.1, seed=3)
    assert len(val) == 2 and len(train) == 18
    assert {t.task_id for t in train}.isdisjoint(t.task_id for t in val)
    assert split_episodes(episodes, 0.1, seed=3) == (train, val)  # the same seed, same split
    assert split_episodes(episodes, 0.1, seed=4)[1] != val
    assert split_episodes(episodes, 0.0, seed=3) == (episodes, [])
    assert split_episodes(episodes[:3], 0.01, seed=3)[1] != []  # > 0 holds out at least one
    assert split_episodes(episodes[:1], 0.5, seed=3) == (episodes[:1], [])  # nothing to train


def test_the_policy_teacher_is_the_model_itself_in_every_entry_point(tmp_path) -> None:
    from t2po.config import load_config
    from t2po.train.coldstart import cold_start_from_config

    cfg = load_config(
        None,
        [
            "model.path=tiny",
            "rft.teacher=policy",
            "rft.episodes=3",
            "rft.epochs=1",
            "rft.min_score=-1",  # the untrained model wins nothing: keep its episodes anyway
            "env.max_turns=2",
            "rollout.max_new_tokens=8",
            "log.progress=false",
        ],
    )
    result = cold_start_from_config(cfg, tmp_path / "cold")
    # The expert wins every Sokoban room; the untrained model as its own teacher wins none.
    assert result.teacher_success == 0.0 and result.kept == 3
    assert (tmp_path / "cold" / "model.safetensors").is_file()


def _tiny_cold_start_config() -> Any:
    from t2po.config import load_config

    return load_config(
        None,
        [
            "model.path=tiny",
            "rft.episodes=4",
            "rft.epochs=1",
            "rft.batch_size=4",
            "env.max_turns=3",
            "rft.min_score=-1",  # three turns are too few to win: keep the episodes anyway
            "log.progress=false",
        ],
    )


def test_base_model_fingerprint_tells_two_tokenizers_apart(tmp_path) -> None:
    import shutil

    from t2po.models.loading import resolve_model_path
    from t2po.train.coldstart import base_model_fingerprint

    tiny = resolve_model_path("tiny")
    same, other = tmp_path / "same", tmp_path / "other"
    shutil.copytree(tiny, same)
    shutil.copytree(tiny, other)
    (same / ".lock").write_text("hidden files are not the model")
    # The same weights with another tokenizer: what a rebuilt `tiny` looks like.
    tokenizer = other / "tokenizer.json"
    tokenizer.write_text(tokenizer.read_text().replace('"<think>"', '"<thought>"', 1))
    assert base_model_fingerprint(same) == base_model_fingerprint(tiny)
    assert base_model_fingerprint(other) != base_model_fingerprint(tiny)


def test_cold_start_names_its_base_model(tmp_path) -> None:
    import json

    from t2po.models.loading import resolve_model_path
    from t2po.train.coldstart import base_model_fingerprint, cold_start_from_config

    result = cold_start_from_config(_tiny_cold_start_config(), tmp_path / "cold")
    saved = json.loads((tmp_path / "cold" / "cold_start.json").read_text())
    tiny = resolve_model_path("tiny")
    assert saved["base_model"] == result.base_model == str(tiny)
    assert saved["base_model_sha256"] == base_model_fingerprint(tiny)


def test_global_random_state_before_the_cold_start_changes_nothing(tmp_path) -> None:
    """`t2po train` plays a validation before its cold start and `t2po rft` does not: the
    random numbers drawn before must not change the fine-tuned weights."""
    import random

    import numpy as np
    import torch

    from t2po.train.coldstart import cold_start_from_config

    cfg = _tiny_cold_start_config()
    cold_start_from_config(cfg, tmp_path / "a")
    random.random()
    np.random.rand(7)
    torch.rand(1000)
    torch.manual_seed(12345)
    cold_start_from_config(cfg, tmp_path / "b")
    weights = [(tmp_path / run / "model.safetensors").read_bytes() for run in ("a", "b")]
    assert weights[0] == weights[1]


def test_sft_examples_are_the_per_turn_encoding() -> None:
    # The batched encoding gives each turn the ids of encoding it alone, as the sampler does.
    from t2po.envs.registry import get_family
    from t2po.inference.chat import encode_chat
    from t2po.models import load_tokenizer
    from t2po.rollout.prompts import turn_messages
    from t2po.train.coldstart import sft_examples

    family = get_family("cards")
    settings = RolloutSettings(
        max_turns=6, memory_window=0, invalid_penalty=-0.1, env_kwargs={"game": "numberline"}
    )
    tasks = [Task(f"nl-{s}", s) for s in range(3)]
    episodes = expert_rollout(family, tasks, settings, slip=0.5, seed=1)
    episodes[0].turns[0].response_text = ""  # an empty response: just the end-of-turn token
    tok = load_tokenizer("tiny")
    examples = sft_examples(episodes, family, tok)
    turns = [turn for episode in episodes for turn in episode.turns]
    assert len(examples) == len(turns) > 3
    for example, turn in zip(examples, turns, strict=True):
        assert example.prompt_ids == encode_chat(
            tok, turn_messages(family.instructions, turn.prompt_text)
        )
        target = tok(turn.response_text, add_special_tokens=False)["input_ids"]
        assert example.target_ids == [*target, tok.eos_token_id]
        assert example.vision is None
    assert examples[0].target_ids == [tok.eos_token_id]


def _cold_start_record(folder, base, sha: str) -> None:
    import json

    folder.mkdir(parents=True, exist_ok=True)
    record = {"base_model": str(base), "base_model_sha256": sha}
    (folder / "cold_start.json").write_text(json.dumps(record))


def test_a_cold_start_of_another_base_model_is_refused(tmp_path) -> None:
    import shutil

    from t2po.models.loading import resolve_model_path
    from t2po.train.coldstart import base_model_fingerprint, check_cold_start_base

    tiny = resolve_model_path("tiny")
    moved, other = tmp_path / "moved", tmp_path / "other"
    shutil.copytree(tiny, moved)
    shutil.copytree(tiny, other)
    tokenizer = other / "tokenizer.json"
    tokenizer.write_text(tokenizer.read_text().replace('"<think>"', '"<thought>"', 1))
    cold = tmp_path / "run" / "cold_start"
    _cold_start_record(cold, tiny, base_model_fingerprint(tiny))
    check_cold_start_base(cold, tiny)  # the same folder
    check_cold_start_base(cold, moved)  # the same files in another folder
    with pytest.raises(ValueError, match="fine-tuned from another base model") as refused:
        check_cold_start_base(cold, other)
    assert str(other) in str(refused.value) and "Use another run_dir" in str(refused.value)
    (cold / "cold_start.json").unlink()
    check_cold_start_base(cold, other)  # made before the base was recorded: accepted


def test_t2po_train_refuses_to_reuse_a_cold_start_of_another_base(tmp_path) -> None:
    import shutil

    from t2po.config import config_from_dict
    from t2po.models.loading import resolve_model_path
    from t2po.train.trainer import Trainer

    run = tmp_path / "run"
    shutil.copytree(resolve_model_path("tiny"), run / "cold_start")
    _cold_start_record(run / "cold_start", tmp_path / "elsewhere", "0" * 64)
    cfg = config_from_dict({
        "run_dir": str(run), "model": {"path": "tiny"}, "env": {"family": "sokoban"},
        "train": {"cold_start": True, "iterations": 1, "eval_tasks": 0},
        "log": {"loggers": ["jsonl"], "progress": False},
    })  # fmt: skip
    with pytest.raises(ValueError, match="fine-tuned from another base model"):
        Trainer(cfg)
