"""The multi-turn rollout loop: all live episodes advance one turn at a time, in one batch.

Per turn (method.md §3–4, §6):
  1. build each live episode's prompt (task + last P (observation, action) pairs + observation);
  2. ``sampler.generate`` the whole batch (TTI runs inside the sampler's decode loop);
  3. TDS: turns k > 1 whose Φ barely moved from the previous kept turn are sampled again from
     the same prompt, up to B_max times; discarded samples never reach the environment;
  4. parse strictly; an invalid response costs the penalty and the environment is not stepped
     (the agent sees the same observation again, with its invalid turn in the history);
  5. step the environments; an exception there ends only that episode (StopReason.env_error).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from t2po.algo.uncertainty import turn_signal
from t2po.envs.base import TaskFamily
from t2po.exploration.tds import TDSParams, needs_resample
from t2po.inference.base import Sampler, SamplingParams
from t2po.rollout.parsing import parse_agent_action
from t2po.rollout.prompts import INVALID_ACTION_NOTE, HistoryEntry, build_messages
from t2po.types import SamplerOutput, StopReason, Trajectory, TrajectoryGroup, Turn


@dataclass(frozen=True, kw_only=True)
class RolloutSettings:
    """How episodes are played (not how tokens are sampled; that is ``SamplingParams``).

    Built from a config by ``t2po.settings.rollout_settings``; the defaults of the values a
    config owns live in ``t2po.config.EnvConfig`` only.
    """

    max_turns: int
    memory_window: int
    invalid_penalty: float
    tds: TDSParams | None = None  # None = TDS off (always off in evaluation)
    env_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """One task instance: the seed fixes the initial state."""

    task_id: str
    seed: int
    split: str | None = None  # the family's named split (TaskFamily.splits); None = its default

    def reset_options(self) -> dict[str, Any] | None:
        """``options`` for ``env.reset``: the split when one is named."""
        return {"split": self.split} if self.split is not None else None


@dataclass
class Episode:
    env: gym.Env[Any, Any] | None
    trajectory: Trajectory
    observation: str = ""
    image: np.ndarray | None = None  # obs["image"] when the env shows one (Turn.image)
    info: dict[str, Any] = field(default_factory=dict)
    history: list[HistoryEntry] = field(default_factory=list)
    prev_phi: float | None = None
    done: bool = False


def derive_seed(*parts: int | str) -> int:
    """A stable 63-bit seed from any parts (same parts, same seed, on every machine)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def start_episode(family: TaskFamily, task: Task, settings: RolloutSettings) -> Episode:
    trajectory = Trajectory(task_id=task.task_id, seed=task.seed)
    try:
        env = gym.make(family.env_id, disable_env_checker=True, **settings.env_kwargs)
        obs, info = env.reset(seed=task.seed, options=task.reset_options())
    except Exception as exc:  # noqa: BLE001 - any env failure is data, not a crash
        trajectory.stop_reason = StopReason.env_error
        trajectory.info = {"error": f"reset failed: {exc!r}"}
        return Episode(env=None, trajectory=trajectory, done=True)
    trajectory.info = {k: v for k, v in info.items() if k != "admissible_actions"}
    return Episode(
        env=env,
        trajectory=trajectory,
        observation=obs["text"],
        image=obs.get("image"),
        info=dict(info),
    )


def _record_info(trajectory: Trajectory, info: dict[str, Any]) -> None:
    """Keep the environment's latest info on the trajectory (not the per-turn action list)."""
    trajectory.info.update({k: v for k, v in info.items() if k != "admissible_actions"})


def finish_episode(trajectory: Trajectory, info: dict[str, Any], *, terminated: bool) -> None:
    """Record how an episode the environment ended came out (won, stop reason, final info)."""
    won = bool(info.get("won", False))
    trajectory.won = won
    if won:
        trajectory.stop_reason = StopReason.success
    else:
        trajectory.stop_reason = StopReason.failure if terminated else StopReason.max_turns
    _record_info(trajectory, info)


def cut_episode(episode: Episode) -> None:
    """End an episode still running after ``max_turns`` turns. Its ``Trajectory.info`` is the
    last environment info it saw, as for an episode the environment ended (not reset's)."""
    episode.done = True
    episode.trajectory.stop_reason = StopReason.max_turns
    _record_info(episode.trajectory, episode.info)


def episode_prompt(family: TaskFamily, episode: Episode, memory_window: int) -> list[Any]:
    admissible = episode.info.get("admissible_actions") if family.list_admissible else None
    return build_messages(
        family.instructions,
        episode.observation,
        episode.history,
        memory_window=memory_window,
        turn_index=len(episode.trajectory.turns),
        task=episode.info.get("task"),
        admissible_actions=admissible,
    )


def _phi(out: SamplerOutput) -> float:
    sampled = [not forced for forced in out.forced_mask]
    return turn_signal(out.uncertainty, sampled)


def _generate_with_tds(
    sampler: Sampler,
    prompts: list[Any],
    live: list[Episode],
    params: SamplingParams,
    tds: TDSParams | None,
    seed: int,
) -> tuple[list[SamplerOutput], list[float], list[int]]:
    """Sample every live turn once, then again where TDS says the belief did not move."""
    outs = sampler.generate(prompts, dataclasses.replace(params, seed=derive_seed(seed, 0)))
    phis = [_phi(o) for o in outs]
    resamples = [0] * len(outs)
    if tds is None:
        return outs, phis, resamples
    prev = [e.prev_phi for e in live]
    for attempt in range(1, tds.max_resamples + 1):
        redo = [i for i, r in enumerate(needs_resample(phis, prev, resamples, tds)) if r]
        # Only turns resampled in every earlier attempt may be resampled again.
        redo = [i for i in redo if resamples[i] == attempt - 1]
        if not redo:
            break
        again = sampler.generate(
            [prompts[i] for i in redo], dataclasses.replace(params, seed=derive_seed(seed, attempt))
        )
        for i, out in zip(redo, again, strict=True):
            outs[i], phis[i] = out, _phi(out)
            resamples[i] += 1
    return outs, phis, resamples


def _apply(
    family: TaskFamily,
    episode: Episode,
    out: SamplerOutput,
    phi: float,
    resamples: int,
    prompt: list[Any],
    settings: RolloutSettings,
) -> None:
    """Parse one response, step its environment, record the turn."""
    assert episode.env is not None
    parsed = parse_agent_action(out.text, family.parse_action)
    observation, anchor = episode.observation, str(episode.info.get("anchor", episode.observation))
    reward, valid, done = -settings.invalid_penalty, False, False
    next_obs, next_info, next_image = observation, episode.info, episode.image
    if parsed.action is not None:
        try:
            obs, env_reward, terminated, truncated, info = episode.env.step(parsed.action)
        except Exception as exc:  # noqa: BLE001 - the episode ends, the batch goes on
            episode.done = True
            # A service the env calls (e.g. a retriever) that is too slow says so by raising a
            # TimeoutError: that is a timeout, not a broken environment.
            timed_out = isinstance(exc, TimeoutError)
            episode.trajectory.stop_reason = (
                StopReason.timeout if timed_out else StopReason.env_error
            )
            episode.trajectory.info["error"] = f"step failed: {exc!r}"
            return
        valid = bool(info.get("action_is_valid", True))
        reward = float(env_reward) - (0.0 if valid else settings.invalid_penalty)
        next_obs, next_info, next_image = obs["text"], dict(info), obs.get("image")
        if terminated or truncated:
            done = True
            finish_episode(episode.trajectory, info, terminated=bool(terminated))
    prompt_text = prompt[-1]["content"] if prompt else ""
    episode.trajectory.turns.append(
        Turn(
            observation=observation,
            anchor=anchor,
            prompt_text=prompt_text,
            response_text=out.text,
            prompt_token_ids=out.prompt_token_ids,
            response_token_ids=out.token_ids,
            logprobs=out.logprobs,
            uncertainty=out.uncertainty,
            forced_mask=out.forced_mask,
            tti_fired_at=out.tti_fired_at,
            phi=phi,
            tds_resamples=resamples,
            action=parsed.action,
            action_valid=valid,
            reward=reward,
            done=done,
            parse_error=parsed.error,
            image=episode.image,
        )
    )
    episode.history.append(
        HistoryEntry(
            observation, parsed.action if parsed.action is not None else INVALID_ACTION_NOTE
        )
    )
    episode.observation, episode.info, episode.image = next_obs, next_info, next_image
    episode.prev_phi = phi
    episode.done = done


def rollout(
    sampler: Sampler,
    family: TaskFamily,
    tasks: Sequence[Task],
    group_size: int,
    params: SamplingParams,
    settings: RolloutSettings,
    seed: int = 0,
) -> list[TrajectoryGroup]:
    """Play ``group_size`` episodes of every task; returns one group per task, in order."""
    episodes = [start_episode(family, task, settings) for task in tasks for _ in range(group_size)]
    try:
        for turn in range(settings.max_turns):
            live = [e for e in episodes if not e.done]
            if not live:
                break
            prompts = [episode_prompt(family, e, settings.memory_window) for e in live]
            outs, phis, resamples = _generate_with_tds(
                sampler, prompts, live, params, settings.tds, derive_seed(seed, turn)
            )
            for e, out, phi, n, prompt in zip(live, outs, phis, resamples, prompts, strict=True):
                _apply(family, e, out, phi, n, prompt, settings)
        for e in episodes:
            if not e.done:
                cut_episode(e)
    finally:
        for e in episodes:
            if e.env is not None:
                e.env.close()
    return [
        TrajectoryGroup(
            task_id=task.task_id,
            seed=task.seed,
            trajectories=[e.trajectory for e in episodes[i * group_size : (i + 1) * group_size]],
        )
        for i, task in enumerate(tasks)
    ]
