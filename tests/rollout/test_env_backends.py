"""The in-process env backend, and per-episode sampling streams (batch-split invariance)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import default_rollout, default_sampling

from t2po.envs.registry import get_family
from t2po.inference.factory import load_hf_sampler
from t2po.inference.scripted import ScriptedSampler
from t2po.rollout.engine import Task, rollout
from t2po.rollout.envs import EnvFailure, InProcessEnvs, Reset, Step
from t2po.rollout.ray_envs import slices
from t2po.types import TrajectoryGroup


def test_in_process_envs_answer_per_slot_and_failures_are_data() -> None:
    envs = InProcessEnvs("t2po/Sokoban-v0")
    answers = envs.reset([3, 4], [None, None])
    assert all(isinstance(a, Reset) and "text" in a.obs for a in answers)
    steps = envs.step([1, 0], ["up", "left"])
    assert all(isinstance(s, Step) for s in steps)  # answers in the order of the slots asked
    again = InProcessEnvs("t2po/Sokoban-v0")
    again.reset([4, 3], [None, None])
    assert again.step([0, 1], ["up", "left"]) == steps
    again.close()
    bad = InProcessEnvs("t2po/Sokoban-v0", {"no_such_kwarg": 1})
    (failed,) = bad.reset([0], [None])
    assert isinstance(failed, EnvFailure) and "reset failed" in failed.error
    (no_env,) = bad.step([0], ["up"])
    assert isinstance(no_env, EnvFailure) and "no environment" in no_env.error
    envs.close()
    bad.close()


def test_slices_are_contiguous_and_cover_everything() -> None:
    assert slices(5, 2) == [(0, 2), (2, 5)]
    assert slices(1, 3) == [(0, 0), (0, 0), (0, 1)]
    for n in range(7):
        for parts in range(1, 4):
            bounds = slices(n, parts)
            assert bounds[0][0] == 0 and bounds[-1][1] == n
            assert all(a == prev_b for (a, _), (_, prev_b) in zip(bounds[1:], bounds, strict=False))


def tokens(groups: list[TrajectoryGroup]) -> list[list[Any]]:
    return [
        [(turn.response_token_ids, turn.action, turn.reward) for turn in traj.turns]
        for group in groups
        for traj in group.trajectories
    ]


def test_an_episode_samples_the_same_tokens_whatever_else_is_in_its_batch() -> None:
    """What rollout workers rely on: two slices (with their task_offset) = the whole batch."""
    sampler = load_hf_sampler("tiny", seed=0)
    family = get_family("sokoban")
    tasks = [Task(f"t{i}", 100 + i) for i in range(3)]
    params = default_sampling(max_new_tokens=10, temperature=1.0)
    settings = default_rollout(max_turns=2)
    whole = rollout(sampler, family, tasks, 2, params, settings, seed=5)
    first = rollout(sampler, family, tasks[:1], 2, params, settings, seed=5)
    rest = rollout(sampler, family, tasks[1:], 2, params, settings, seed=5, task_offset=1)
    assert tokens(whole) == tokens(first + rest)
    # ... and the episodes of one group still explore: not all the same response.
    assert len({str(t) for t in tokens(whole)[:2]}) == 2
    # Without the offset the slice replays the first task's streams: different samples.
    shifted = rollout(sampler, family, tasks[1:], 2, params, settings, seed=5)
    assert tokens(shifted) != tokens(rest)


def test_an_env_backend_for_another_family_is_refused() -> None:
    with pytest.raises(ValueError, match="plays 't2po/Sokoban-v0'"):
        rollout(
            ScriptedSampler(["<think>t</think><action>up</action>"]),
            get_family("sokoban"),
            [Task("t", 1)],
            1,
            default_sampling(),
            default_rollout(),
            envs=InProcessEnvs("t2po/Household-v0"),
        )


def test_episodes_a_dead_rollout_worker_lost_are_failures_the_batch_and_metrics_take() -> None:
    """What a slice whose worker died twice becomes (``t2po.rollout.workers``): data."""
    from t2po.rollout.workers import lost_groups
    from t2po.telemetry.metrics import rollout_metrics
    from t2po.train.batch import flatten
    from t2po.types import StopReason

    tasks = [Task("a", 1), Task("b", 2)]
    died = lost_groups(tasks, 3, EnvFailure("rollout worker 1 died during a rollout: X"))
    assert [(g.task_id, g.seed, len(g.trajectories)) for g in died] == [("a", 1, 3), ("b", 2, 3)]
    for trajectory in [t for g in died for t in g.trajectories]:
        assert (trajectory.task_id, trajectory.turns) in [("a", []), ("b", [])]
        assert trajectory.stop_reason == StopReason.env_error and not trajectory.won
        assert trajectory.info == {"error": "rollout worker 1 died during a rollout: X"}
    (hung,) = lost_groups(tasks[:1], 1, EnvFailure("no answer", timed_out=True))
    assert hung.trajectories[0].stop_reason == StopReason.timeout
    assert flatten(died).turns == []  # nothing to train on, and no crash
    metrics = rollout_metrics(died + [hung], "sokoban")
    assert metrics["rollout/success"] == 0.0
    assert metrics["rollout/stop/env_error"] == 6 / 7 and metrics["rollout/stop/timeout"] == 1 / 7
