"""Environments in Ray actors and rollout workers on Ray (local Ray, 2 logical CPUs).

Ray starts once for the module (a few seconds) and is shut down after it; every wait on an
actor has a timeout, so a hung actor fails the test instead of hanging it.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from conftest import default_rollout, default_sampling

from t2po.envs.registry import get_family
from t2po.inference.hf import HFSampler
from t2po.inference.scripted import ScriptedSampler
from t2po.models.loading import load_model_and_tokenizer, resolve_model_path
from t2po.rollout.engine import Task, rollout
from t2po.rollout.ray_envs import RayEnvs
from t2po.rollout.workers import RolloutWorkers, WorkerSpec
from t2po.types import StopReason, TrajectoryGroup

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

TIMEOUT_S = 600.0  # generous: a starved machine takes minutes to start a worker
MOVES = ["up", "left", "down", "right", "up"]


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def scripted_moves(on_call: Any = None) -> ScriptedSampler:
    """Moves handed out in order, cycling; ``on_call(i)`` runs before sampler call ``i``."""
    sampler = ScriptedSampler([f"<think>t</think><action>{m}</action>" for m in MOVES])
    if on_call is None:
        return sampler
    generate = sampler.generate
    counter = iter(range(10**6))

    def hooked(prompts: Any, params: Any) -> Any:
        on_call(next(counter))
        return generate(prompts, params)

    sampler.generate = hooked  # type: ignore[method-assign]
    return sampler


def kill_and_wait(actor: Any) -> None:
    """Kill ``actor`` and return once it is dead. ``ray.kill`` only asks: without the wait a
    step already on its way may still run there (seen in CI: the third step succeeded)."""
    ray.kill(actor, no_restart=True)
    with pytest.raises(ray.exceptions.RayActorError):
        for _ in range(600):
            ray.get(actor.pid.remote(), timeout=TIMEOUT_S)
            time.sleep(0.1)


def outcome(groups: list[TrajectoryGroup]) -> list[Any]:
    return [
        (t.task_id, t.stop_reason, [(u.observation, u.action, u.reward) for u in t.turns])
        for g in groups
        for t in g.trajectories
    ]


TASKS = [Task(f"sokoban-{i}", 40 + i) for i in range(3)]


def test_env_actors_play_the_in_process_episodes_each_on_its_own_process() -> None:
    family = get_family("sokoban")
    settings = default_rollout(max_turns=4)
    here = rollout(scripted_moves(), family, TASKS, 2, default_sampling(), settings)
    envs = RayEnvs(family.env_id, {}, 2, timeout_s=TIMEOUT_S)
    try:
        there = rollout(scripted_moves(), family, TASKS, 2, default_sampling(), settings, envs=envs)
        pids = ray.get([a.pid.remote() for a in envs.actors], timeout=TIMEOUT_S)
    finally:
        envs.shutdown()
    assert outcome(there) == outcome(here)
    assert len(set(pids)) == 2 and os.getpid() not in pids
    assert envs.restarts == 0


def test_a_killed_env_actor_ends_its_episodes_with_env_error_and_is_replaced() -> None:
    family = get_family("sokoban")
    settings = default_rollout(max_turns=4)
    envs = RayEnvs(family.env_id, {}, 2, timeout_s=TIMEOUT_S)

    def kill_first_actor(call: int) -> None:
        if call == 2:  # before the third turn's sampling: two steps done on every slot
            kill_and_wait(envs.actors[0])

    try:
        groups = rollout(
            scripted_moves(on_call=kill_first_actor),
            family,
            TASKS,
            2,
            default_sampling(),
            settings,
            envs=envs,
        )
        trajectories = [t for g in groups for t in g.trajectories]
        # Actor 0 held slots 0..2 (6 episodes over 2 actors): they end at the third step.
        for t in trajectories[:3]:
            assert t.stop_reason == StopReason.env_error, t.info
            assert "env worker 0 died" in t.info["error"]
            assert len(t.turns) == 2
        for t in trajectories[3:]:
            assert t.stop_reason != StopReason.env_error, t.info
        assert envs.restarts == 1
        # The next iteration plays every episode again, on the replacement actor too.
        again = rollout(scripted_moves(), family, TASKS, 2, default_sampling(), settings, envs=envs)
        assert all(t.stop_reason != StopReason.env_error for g in again for t in g.trajectories)
        here = rollout(scripted_moves(), family, TASKS, 2, default_sampling(), settings)
        assert outcome(again) == outcome(here)
    finally:
        envs.shutdown()


def perturbed_tiny() -> tuple[torch.nn.Module, Any]:
    """The tiny model with seeded noise on every weight: not what a worker loads from disk."""
    model, tokenizer = load_model_and_tokenizer("tiny")
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=generator))
    return model, tokenizer


def tokens(groups: list[TrajectoryGroup]) -> list[Any]:
    return [
        [(u.response_token_ids, u.action, u.reward, u.observation) for u in t.turns]
        for g in groups
        for t in g.trajectories
    ]


def logprobs(groups: list[TrajectoryGroup]) -> torch.Tensor:
    return torch.tensor(
        [x for g in groups for t in g.trajectories for u in t.turns for x in u.logprobs]
    )


def test_one_and_two_rollout_workers_play_the_trajectories_of_the_trainer_weights() -> None:
    family = get_family("sokoban")
    model, tokenizer = perturbed_tiny()
    params = default_sampling(max_new_tokens=10, temperature=1.0)
    settings = default_rollout(max_turns=2)
    tasks = [Task(f"sokoban-{i}", 70 + i) for i in range(3)]
    here = rollout(HFSampler(model, tokenizer), family, tasks, 2, params, settings, seed=9)
    spec = WorkerSpec(
        model_path=str(resolve_model_path("tiny")), device="cpu", dtype="float32", seed=0
    )
    played = {}
    for n in (1, 2):
        workers = RolloutWorkers(n, spec, timeout_s=TIMEOUT_S)
        try:
            with pytest.raises(RuntimeError, match="sync"):
                workers.rollout("sokoban", tasks, 2, params, settings, seed=9)
            assert workers.sync(model, 1) is True
            assert workers.sync(model, 1) is False  # same version: nothing sent again
            assert workers.pushes == 1
            played[n] = workers.rollout("sokoban", tasks, 2, params, settings, seed=9)
            info = workers.info()
        finally:
            workers.shutdown()
        assert len({i["pid"] for i in info}) == n and all(i["version"] == 1 for i in info)
        assert all(i["threads"] == max(1, (os.cpu_count() or 1) // n) for i in info)
    assert [g.task_id for g in played[2]] == [t.task_id for t in tasks]
    assert tokens(played[1]) == tokens(played[2]) == tokens(here)
    torch.testing.assert_close(logprobs(played[2]), logprobs(here), rtol=1e-4, atol=1e-5)


def test_a_lora_worker_samples_with_the_trainer_adapters() -> None:
    pytest.importorskip("peft")
    from t2po.models.lora import LoraParams, apply_lora, decoding_model

    base = str(resolve_model_path("tiny"))
    lora = LoraParams(r=4, alpha=8.0, dropout=0.0, target_modules=("all-linear",))
    model, tokenizer = load_model_and_tokenizer("tiny")
    peft_model = apply_lora(model, lora, base_path=base)
    generator = torch.Generator().manual_seed(4)
    with torch.no_grad():  # adapters that change the policy (PEFT starts them at B = 0)
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=generator))
    family = get_family("sokoban")
    params = default_sampling(max_new_tokens=10, temperature=1.0)
    settings = default_rollout(max_turns=2)
    tasks = [Task(f"sokoban-{i}", 80 + i) for i in range(2)]
    here = rollout(
        HFSampler(decoding_model(peft_model), tokenizer), family, tasks, 2, params, settings
    )
    plain, _ = load_model_and_tokenizer("tiny")
    assert tokens(here) != tokens(
        rollout(HFSampler(plain, tokenizer), family, tasks, 2, params, settings)
    )
    spec = WorkerSpec(model_path=base, device="cpu", dtype="float32", seed=0, lora=lora)
    workers = RolloutWorkers(1, spec, timeout_s=TIMEOUT_S)
    try:
        workers.sync(peft_model, 1)
        there = workers.rollout("sokoban", tasks, 2, params, settings)
    finally:
        workers.shutdown()
    assert tokens(there) == tokens(here)


def tiny_spec(**changes: Any) -> WorkerSpec:
    """One torch thread per worker: a starved 2-core machine runs 2-thread workers far slower."""
    spec = WorkerSpec(
        model_path=str(resolve_model_path("tiny")), device="cpu", dtype="float32", seed=0, threads=1
    )
    return dataclasses.replace(spec, **changes)


def test_a_rollout_worker_samples_with_the_configured_decode_backend() -> None:
    family = get_family("sokoban")
    model, tokenizer = perturbed_tiny()
    params = default_sampling(max_new_tokens=10, temperature=1.0)
    settings = default_rollout(max_turns=2)
    tasks = [Task(f"sokoban-{i}", 90 + i) for i in range(2)]
    sampler = HFSampler(model, tokenizer, decode_backend="graph")
    here = rollout(sampler, family, tasks, 2, params, settings, seed=4)
    workers = RolloutWorkers(1, tiny_spec(decode_backend="graph"), timeout_s=TIMEOUT_S)
    try:
        workers.sync(model, 1)
        there = workers.rollout("sokoban", tasks, 2, params, settings, seed=4)
        (info,) = workers.info()
    finally:
        workers.shutdown()
    # The graph backend samples the eager loop's tokens (tests/inference/test_graph_decode),
    # so equal trajectories alone would not show which decoder ran: the worker reports it.
    assert info["decode_backend"] == "graph"
    assert tokens(there) == tokens(here)
    torch.testing.assert_close(logprobs(there), logprobs(here), rtol=1e-4, atol=1e-5)


def test_a_killed_rollout_worker_is_replaced_with_the_weights_and_its_tasks_played_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    family = get_family("sokoban")
    model, tokenizer = perturbed_tiny()
    params = default_sampling(max_new_tokens=10, temperature=1.0)
    settings = default_rollout(max_turns=2)
    tasks = [Task(f"sokoban-{i}", 70 + i) for i in range(2)]
    here = rollout(HFSampler(model, tokenizer), family, tasks, 2, params, settings, seed=9)
    workers = RolloutWorkers(1, tiny_spec(), timeout_s=TIMEOUT_S)
    kill_at: set[int] = set()  # waits for a play (counted per rollout) that kill the worker first
    waited = 0
    get = workers._get

    def killing_get(k: int, ref: Any, what: str) -> Any:
        # A wait starts right after its play call went out: the worker is then busy sampling
        # (a play takes far longer than this), and dies mid-rollout.
        nonlocal waited
        if what == "a rollout":
            if waited in kill_at:
                ray.kill(workers.actors[k], no_restart=True)
            waited += 1
        return get(k, ref, what)

    monkeypatch.setattr(workers, "_get", killing_get)
    try:
        workers.sync(model, 1)
        (first,) = workers.info()
        # Killed during the first play: the tasks are played again on a replacement.
        kill_at, waited = {0}, 0
        replayed = workers.rollout("sokoban", tasks, 2, params, settings, seed=9)
        assert workers.restarts == 1
        (second,) = workers.info()
        assert second["pid"] != first["pid"]
        assert second["version"] == 1  # the replacement got the trainer's weights
        # Killed during the play and during its replay: the episodes are lost, as data.
        kill_at, waited = {0, 1}, 0
        lost = workers.rollout("sokoban", tasks, 2, params, settings, seed=9)
        assert workers.restarts == 3
    finally:
        workers.shutdown()
    assert workers.pushes == 1  # replacements load the kept copy; nothing is sent again
    assert tokens(replayed) == tokens(here)  # the batch of a run without the death
    torch.testing.assert_close(logprobs(replayed), logprobs(here), rtol=1e-4, atol=1e-5)
    assert [g.task_id for g in lost] == [t.task_id for t in tasks]
    for trajectory in [t for g in lost for t in g.trajectories]:
        assert trajectory.stop_reason == StopReason.env_error and trajectory.turns == []
        assert "rollout worker 0 died during a rollout" in trajectory.info["error"]


def test_a_rollout_worker_that_cannot_start_is_an_error_not_a_death() -> None:
    """Replacing a worker whose constructor raised would raise again: the error surfaces."""
    workers = RolloutWorkers(1, tiny_spec(model_path="/no/such/model"), timeout_s=TIMEOUT_S)
    try:
        with pytest.raises(ray.exceptions.RayActorError, match="creation task"):
            workers.sync(torch.nn.Linear(1, 1), 1)
        assert workers.restarts == 0
    finally:
        workers.shutdown()
