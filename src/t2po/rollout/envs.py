"""Where a batch's environments live: the interface the rollout engine steps them through.

The engine never holds a ``gymnasium.Env`` itself. It asks an :class:`EnvBackend` to open one
environment per episode (a *slot*: slot ``i`` is the ``i``-th reset of the batch), to step
some of them, and to close them all, and it reads every answer as data: a :class:`Reset`,
a :class:`Step`, or an :class:`EnvFailure` (the env raised, or the worker holding it died),
which ends only that episode. Two backends, one engine code path:

* :class:`InProcessEnvs` (the default): a list of envs in this process, stepped in order;
* ``t2po.rollout.ray_envs.RayEnvs`` (``rollout.env_workers=N``): Ray actors, each holding a
  contiguous slice of the slots in its own :class:`InProcessEnvs`, stepped in parallel. It
  pays off when a step costs real time (the real ALFWorld engine: ~35 ms a step).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium as gym


@dataclass(frozen=True)
class Reset:
    """``env.reset``'s answer."""

    obs: dict[str, Any]
    info: dict[str, Any]


@dataclass(frozen=True)
class Step:
    """``env.step``'s answer."""

    obs: dict[str, Any]
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]


@dataclass(frozen=True)
class EnvFailure:
    """A reset or step that did not answer; the engine ends the episode with it."""

    error: str  # what went wrong, recorded in Trajectory.info["error"]
    # A service the env calls (e.g. a retriever) that is too slow raises TimeoutError, and a
    # worker that does not answer in time is the same: StopReason.timeout, not env_error.
    timed_out: bool = False


class EnvBackend(Protocol):
    """One batch of environments at a time, addressed by slot."""

    env_id: str  # the Gymnasium id every slot is made from

    def reset(
        self, seeds: Sequence[int], options: Sequence[dict[str, Any] | None]
    ) -> list[Reset | EnvFailure]:
        """Close the previous batch, open ``len(seeds)`` envs and reset slot ``i`` with
        ``seeds[i]`` and ``options[i]``; answers in slot order."""
        ...

    def step(self, slots: Sequence[int], actions: Sequence[str]) -> list[Step | EnvFailure]:
        """Step each named slot with its action; answers in the order of ``slots``."""
        ...

    def close(self) -> None:
        """Close the current batch's envs (the backend stays usable for the next reset)."""
        ...


def reset_env(env: gym.Env[Any, Any], seed: int, options: dict[str, Any] | None) -> Reset:
    obs, info = env.reset(seed=seed, options=options)
    return Reset(obs=obs, info=dict(info))


class InProcessEnvs:
    """Every slot's env in this process, made with ``gymnasium.make(env_id, **env_kwargs)``."""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None) -> None:
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self._envs: list[gym.Env[Any, Any] | None] = []

    def reset(
        self, seeds: Sequence[int], options: Sequence[dict[str, Any] | None]
    ) -> list[Reset | EnvFailure]:
        self.close()
        answers: list[Reset | EnvFailure] = []
        for seed, opts in zip(seeds, options, strict=True):
            env = None
            try:
                env = gym.make(self.env_id, disable_env_checker=True, **self.env_kwargs)
                answers.append(reset_env(env, seed, opts))
            except Exception as exc:  # noqa: BLE001 - any env failure is data, not a crash
                answers.append(EnvFailure(f"reset failed: {exc!r}"))
                if env is not None:
                    _close_quietly(env)
                env = None
            self._envs.append(env)
        return answers

    def step(self, slots: Sequence[int], actions: Sequence[str]) -> list[Step | EnvFailure]:
        return [self._step(slot, action) for slot, action in zip(slots, actions, strict=True)]

    def _step(self, slot: int, action: str) -> Step | EnvFailure:
        env = self._envs[slot]
        if env is None:
            return EnvFailure(f"slot {slot} has no environment (its reset failed)")
        try:
            obs, reward, terminated, truncated, info = env.step(action)
        except Exception as exc:  # noqa: BLE001 - the episode ends, the batch goes on
            return EnvFailure(f"step failed: {exc!r}", timed_out=isinstance(exc, TimeoutError))
        return Step(obs, float(reward), bool(terminated), bool(truncated), dict(info))

    def close(self) -> None:
        envs, self._envs = self._envs, []
        for env in envs:
            if env is not None:
                _close_quietly(env)


def _close_quietly(env: gym.Env[Any, Any]) -> None:
    # A failing close must not hide the outcome of the episodes already recorded.
    with contextlib.suppress(Exception):
        env.close()
