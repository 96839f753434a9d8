"""Environments in Ray actors (``rollout.env_workers=N``, extra ``[ray]``).

:class:`RayEnvs` is an ``EnvBackend`` (``t2po.rollout.envs``): each of its ``N`` actors holds a
contiguous slice of the batch's slots in its own ``InProcessEnvs``, so the env code that runs
is the in-process code, one process per slice. A reset or a step sends one call to every actor
with work and waits for all of them: the slices run in parallel, and the engine sees one
answer per slot, in order. That is what an env that costs real time per step needs (the real
ALFWorld engine: ~35 ms a step, ~0.4 s a reset).

An actor that dies (its process crashed, or someone ran ``ray.kill``) ends the episodes of its
slice with ``EnvFailure`` (``StopReason.env_error``), is replaced by a fresh actor, and the
batch goes on; ``timeout_s`` does the same for an actor that does not answer in time
(``StopReason.timeout``). Actors outlive batches: make one ``RayEnvs`` per run and
:meth:`RayEnvs.shutdown` it at the end.

Ray starts locally on the first use (``ray.init()``); with ``RAY_ADDRESS`` set, ``ray.init``
joins that cluster instead. Every actor reserves only a small logical CPU share
(``num_cpus``): env steps are short, and actors that reserve whole CPUs would leave none
for the other Ray work of the run (on a 2-core machine, two such actors block every task).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from t2po.envs.registry import load_plugins
from t2po.rollout.envs import EnvFailure, InProcessEnvs, Reset, Step

ENV_WORKER_CPUS = 0.1  # logical CPU share reserved per env actor (see the module docstring)


def ray_module() -> ModuleType:
    """``import ray``, or an error that names the extra to install."""
    try:
        import ray
    except ImportError:
        raise ImportError(
            "Ray workers (rollout.env_workers > 0, rollout.workers > 0) need Ray: "
            "pip install 't2po[ray]'"
        ) from None
    return ray


def ensure_ray() -> ModuleType:
    """Ray, started if it is not: locally, or on the cluster ``RAY_ADDRESS`` names."""
    ray = ray_module()
    if not ray.is_initialized():
        # ray.init reads RAY_ADDRESS itself; without it, it starts a local Ray.
        ray.init(include_dashboard=False)
    return ray


def slices(n_items: int, n_parts: int) -> list[tuple[int, int]]:
    """``n_parts`` contiguous ``[start, end)`` ranges covering ``n_items``, sizes within 1."""
    return [(k * n_items // n_parts, (k + 1) * n_items // n_parts) for k in range(n_parts)]


class EnvWorker:
    """The actor body: one ``InProcessEnvs`` over this actor's slice of the slots."""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], plugins: Sequence[str]) -> None:
        import t2po.envs  # noqa: F401 - registers the built-in families' Gymnasium ids

        load_plugins(plugins)
        self.envs = InProcessEnvs(env_id, env_kwargs)

    def reset(
        self, seeds: Sequence[int], options: Sequence[dict[str, Any] | None]
    ) -> list[Reset | EnvFailure]:
        return self.envs.reset(seeds, options)

    def step(self, slots: Sequence[int], actions: Sequence[str]) -> list[Step | EnvFailure]:
        return self.envs.step(slots, actions)

    def close(self) -> None:
        self.envs.close()

    def pid(self) -> int:
        return os.getpid()


class RayEnvs:
    """An ``EnvBackend`` whose slots live in ``workers`` Ray actors (module docstring)."""

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any] | None,
        workers: int,
        *,
        plugins: Sequence[str] = (),
        num_cpus: float = ENV_WORKER_CPUS,
        timeout_s: float | None = None,
    ) -> None:
        """
        Args:
            env_id: the Gymnasium id every slot is made from.
            env_kwargs: ``gymnasium.make`` keyword arguments (``env.kwargs``).
            workers: how many actors share the slots.
            plugins: ``env.plugins`` modules each actor imports (families from outside).
            num_cpus: logical CPUs each actor reserves in Ray's scheduler.
            timeout_s: how long to wait for an actor's answer; None waits for ever.
        """
        if workers < 1:
            raise ValueError(f"RayEnvs needs at least 1 worker, got {workers}")
        self._ray = ensure_ray()
        self.env_id = env_id
        self._args = (env_id, dict(env_kwargs or {}), list(plugins))
        self._actor_class = self._ray.remote(num_cpus=num_cpus, max_restarts=0)(EnvWorker)
        self.timeout_s = timeout_s
        self.actors: list[Any] = [self._spawn() for _ in range(workers)]
        self.restarts = 0  # actors replaced after a death or a timeout, over the backend's life
        self._bounds: list[tuple[int, int]] = [(0, 0)] * workers  # each actor's slots now
        self._dead: set[int] = set()  # slots whose actor was replaced during this batch

    def _spawn(self) -> Any:
        return self._actor_class.remote(*self._args)

    # ------------------------------------------------------------------ EnvBackend

    def reset(
        self, seeds: Sequence[int], options: Sequence[dict[str, Any] | None]
    ) -> list[Reset | EnvFailure]:
        if len(seeds) != len(options):
            raise ValueError(f"{len(seeds)} seeds for {len(options)} options")
        self._bounds = slices(len(seeds), len(self.actors))
        self._dead = set()
        # Every actor resets, also one with no slots this time: it closes its last batch.
        calls = [
            (k, actor.reset.remote(list(seeds[a:b]), list(options[a:b])), b - a)
            for k, (actor, (a, b)) in enumerate(zip(self.actors, self._bounds, strict=True))
        ]
        answers: list[Reset | EnvFailure] = []
        for k, ref, n in calls:
            answers += self._get(k, ref, n, "reset")
        return answers

    def step(self, slots: Sequence[int], actions: Sequence[str]) -> list[Step | EnvFailure]:
        if len(slots) != len(actions):
            raise ValueError(f"{len(slots)} slots for {len(actions)} actions")
        answers: list[Step | EnvFailure | None] = [None] * len(slots)
        work: dict[int, tuple[list[int], list[int], list[str]]] = {}  # actor -> rows, local, acts
        for row, (slot, action) in enumerate(zip(slots, actions, strict=True)):
            if slot in self._dead:
                answers[row] = EnvFailure(f"slot {slot}: its env worker died earlier")
                continue
            k = self._owner(slot)
            rows, local, acts = work.setdefault(k, ([], [], []))
            rows.append(row)
            local.append(slot - self._bounds[k][0])
            acts.append(action)
        calls = [
            (k, self.actors[k].step.remote(local, acts), rows)
            for k, (rows, local, acts) in work.items()
        ]
        for k, ref, rows in calls:
            for row, answer in zip(rows, self._get(k, ref, len(rows), "step"), strict=True):
                answers[row] = answer
        assert all(a is not None for a in answers)
        return [a for a in answers if a is not None]

    def close(self) -> None:
        calls = [(k, actor.close.remote()) for k, actor in enumerate(self.actors)]
        for k, ref in calls:
            self._get(k, ref, 0, "close")

    # ------------------------------------------------------------------ actors

    def _owner(self, slot: int) -> int:
        for k, (a, b) in enumerate(self._bounds):
            if a <= slot < b:
                return k
        raise IndexError(f"slot {slot} is not in this batch ({self._bounds[-1][1]} slots)")

    def _get(self, k: int, ref: Any, n: int, what: str) -> list[Any]:
        """Actor ``k``'s answer, or ``n`` failures (and a fresh actor) if it died or hung."""
        exceptions = self._ray.exceptions
        try:
            answer: list[Any] | None = self._ray.get(ref, timeout=self.timeout_s)
        except exceptions.RayActorError as exc:
            failure = EnvFailure(f"env worker {k} died during {what}: {exc.__class__.__name__}")
        except exceptions.GetTimeoutError:
            failure = EnvFailure(
                f"env worker {k} gave no {what} answer in {self.timeout_s} s", timed_out=True
            )
        else:
            return answer if answer is not None else []
        self._replace(k)
        return [failure] * n

    def _replace(self, k: int) -> None:
        """A fresh actor in place of actor ``k``; the slots it held are over for this batch."""
        self._ray.kill(self.actors[k], no_restart=True)
        self.actors[k] = self._spawn()
        self.restarts += 1
        a, b = self._bounds[k]
        self._dead.update(range(a, b))

    def shutdown(self) -> None:
        """End every actor (the backend is unusable afterwards)."""
        for actor in self.actors:
            self._ray.kill(actor, no_restart=True)
        self.actors = []
