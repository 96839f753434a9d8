"""The multi-turn rollout loop: all live episodes advance one turn at a time, in one batch.

Per turn (method.md §3–4, §6):
  1. build each live episode's prompt (task + last P (observation, action) pairs + observation);
  2. ``sampler.generate`` the whole batch (TTI runs inside the sampler's decode loop);
  3. TDS: turns k > 1 whose Φ barely moved from the previous kept turn are sampled again from
     the same prompt, up to B_max times; discarded samples never reach the environment;
  4. parse strictly; an invalid response costs the penalty and the environment is not stepped
     (the agent sees the same observation again, with its invalid turn in the history);
  5. step the environments; an exception there ends only that episode (StopReason.env_error).

Environments sit behind an ``EnvBackend`` (``t2po.rollout.envs``): in this process by default,
or in Ray actors (``t2po.rollout.ray_envs``) that step their slices of the batch in parallel;
the loop below is the same for both. Every episode samples from its own random streams, keyed
by the rollout seed and its index in the whole batch (``task_offset`` for a slice), so an
episode's tokens do not depend on which other episodes share its batch: rollout workers that
each play a slice of the tasks (``t2po.rollout.workers``) give the trajectories of one engine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import gymnasium as gym
import numpy as np

from t2po.algo.uncertainty import turn_signal
from t2po.envs.base import TaskFamily
from t2po.exploration.tds import TDSParams, needs_resample
from t2po.inference.base import Sampler, SamplingParams
from t2po.rollout.envs import EnvBackend, EnvFailure, InProcessEnvs, Reset, Step, reset_env
from t2po.rollout.parsing import ParsedAction, parse_agent_action
from t2po.rollout.prompts import INVALID_ACTION_NOTE, HistoryEntry, build_messages
from t2po.types import Message, SamplerOutput, StopReason, Trajectory, TrajectoryGroup, Turn


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
    image_history: int = 1  # pictures in a prompt: those of the last k steps it shows


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
    env: gym.Env[Any, Any] | None  # held here by expert rollouts only; the engine uses slots
    trajectory: Trajectory
    observation: str = ""
    image: np.ndarray | None = None  # obs["image"] when the env shows one (Turn.image)
    info: dict[str, Any] = field(default_factory=dict)
    history: list[HistoryEntry] = field(default_factory=list)
    prev_phi: float | None = None
    done: bool = False
    slot: int = -1  # the episode's slot in the engine's EnvBackend


def derive_seed(*parts: int | str) -> int:
    """A stable 63-bit seed from any parts (same parts, same seed, on every machine)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def open_episode(task: Task, answer: Reset | EnvFailure, slot: int = -1) -> Episode:
    """An episode from its reset's answer; a failed reset is an episode ended by env_error."""
    trajectory = Trajectory(task_id=task.task_id, seed=task.seed)
    if isinstance(answer, EnvFailure):
        trajectory.stop_reason = StopReason.env_error
        trajectory.info = {"error": answer.error}
        return Episode(env=None, trajectory=trajectory, done=True, slot=slot)
    info = answer.info
    trajectory.info = {k: v for k, v in info.items() if k != "admissible_actions"}
    return Episode(
        env=None,
        trajectory=trajectory,
        observation=answer.obs["text"],
        image=answer.obs.get("image"),
        info=dict(info),
        slot=slot,
    )


def start_episode(family: TaskFamily, task: Task, settings: RolloutSettings) -> Episode:
    """One episode whose env lives on ``Episode.env`` (expert rollouts drive it directly)."""
    env = None
    try:
        env = gym.make(family.env_id, disable_env_checker=True, **settings.env_kwargs)
        answer: Reset | EnvFailure = reset_env(env, task.seed, task.reset_options())
    except Exception as exc:  # noqa: BLE001 - any env failure is data, not a crash
        answer = EnvFailure(f"reset failed: {exc!r}")
    episode = open_episode(task, answer)
    if isinstance(answer, Reset):
        episode.env = env
    elif env is not None:
        env.close()
    return episode


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


def episode_prompt(
    family: TaskFamily, episode: Episode, memory_window: int, image_history: int = 1
) -> list[Any]:
    """The episode's next prompt; an image observation's picture rides on the user message
    with those of the last ``image_history`` steps shown (``build_messages``)."""
    admissible = episode.info.get("admissible_actions") if family.list_admissible else None
    return build_messages(
        family.instructions,
        episode.observation,
        episode.history,
        memory_window=memory_window,
        turn_index=len(episode.trajectory.turns),
        task=episode.info.get("task"),
        admissible_actions=admissible,
        image=episode.image,
        image_history=image_history,
    )


def _phi(out: SamplerOutput) -> float:
    sampled = [not forced for forced in out.forced_mask]
    return turn_signal(out.uncertainty, sampled)


class RowSeededSampler(Protocol):
    """A sampler that can give each prompt its own random stream (``HFSampler``)."""

    def generate(
        self,
        prompts: Sequence[Sequence[Message]],
        params: SamplingParams,
        *,
        seeds: Sequence[int | None] | None = None,
    ) -> list[SamplerOutput]: ...


def _takes_row_seeds(sampler: Sampler) -> bool:
    try:
        return "seeds" in inspect.signature(sampler.generate).parameters
    except (TypeError, ValueError):  # a builtin or C-level callable: no signature to read
        return False


def _generate(
    sampler: Sampler,
    prompts: list[Any],
    keys: list[int],
    params: SamplingParams,
    seed: int,
) -> list[SamplerOutput]:
    """One sampler call seeded with ``seed``; where the sampler can, row ``i`` draws from a
    stream of its own, seeded from ``seed`` and its episode's key ``keys[i]``."""
    params = dataclasses.replace(params, seed=seed)
    if _takes_row_seeds(sampler):
        seeds: list[int | None] = [derive_seed(seed, key) for key in keys]
        return cast(RowSeededSampler, sampler).generate(prompts, params, seeds=seeds)
    return sampler.generate(prompts, params)


def _generate_with_tds(
    sampler: Sampler,
    prompts: list[Any],
    live: list[Episode],
    keys: list[int],
    params: SamplingParams,
    tds: TDSParams | None,
    seed: int,
) -> tuple[list[SamplerOutput], list[float], list[int]]:
    """Sample every live turn once, then again where TDS says the belief did not move."""
    outs = _generate(sampler, prompts, keys, params, derive_seed(seed, 0))
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
        again = _generate(
            sampler,
            [prompts[i] for i in redo],
            [keys[i] for i in redo],
            params,
            derive_seed(seed, attempt),
        )
        for i, out in zip(redo, again, strict=True):
            outs[i], phis[i] = out, _phi(out)
            resamples[i] += 1
    return outs, phis, resamples


def _record(
    episode: Episode,
    out: SamplerOutput,
    phi: float,
    resamples: int,
    prompt: list[Any],
    parsed: ParsedAction,
    answer: Step | EnvFailure | None,
    settings: RolloutSettings,
) -> None:
    """Record one turn from its parsed response and the env's answer (None: not stepped)."""
    observation, anchor = episode.observation, str(episode.info.get("anchor", episode.observation))
    reward, valid, done = -settings.invalid_penalty, False, False
    next_obs, next_info, next_image = observation, episode.info, episode.image
    if isinstance(answer, EnvFailure):  # the episode ends, the batch goes on
        episode.done = True
        episode.trajectory.stop_reason = (
            StopReason.timeout if answer.timed_out else StopReason.env_error
        )
        episode.trajectory.info["error"] = answer.error
        return
    if answer is not None:
        info = answer.info
        valid = bool(info.get("action_is_valid", True))
        reward = answer.reward - (0.0 if valid else settings.invalid_penalty)
        next_obs, next_info, next_image = answer.obs["text"], info, answer.obs.get("image")
        if answer.terminated or answer.truncated:
            done = True
            finish_episode(episode.trajectory, info, terminated=answer.terminated)
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
            prompt_images=list(prompt[-1].get("images", [])) if prompt else [],
        )
    )
    episode.history.append(
        HistoryEntry(
            observation,
            parsed.action if parsed.action is not None else INVALID_ACTION_NOTE,
            episode.image,
        )
    )
    episode.observation, episode.info, episode.image = next_obs, next_info, next_image
    episode.prev_phi = phi
    episode.done = done


def _step_all(
    envs: EnvBackend, live: list[Episode], parsed: list[ParsedAction]
) -> list[Step | EnvFailure | None]:
    """One backend call for every live episode with a parsed action (None for the others)."""
    stepped = [i for i, p in enumerate(parsed) if p.action is not None]
    answers = envs.step([live[i].slot for i in stepped], [str(parsed[i].action) for i in stepped])
    by_row: list[Step | EnvFailure | None] = [None] * len(live)
    for i, answer in zip(stepped, answers, strict=True):
        by_row[i] = answer
    return by_row


def rollout(
    sampler: Sampler,
    family: TaskFamily,
    tasks: Sequence[Task],
    group_size: int,
    params: SamplingParams,
    settings: RolloutSettings,
    seed: int = 0,
    *,
    envs: EnvBackend | None = None,
    task_offset: int = 0,
    task_indices: Sequence[int] | None = None,
) -> list[TrajectoryGroup]:
    """Play ``group_size`` episodes of every task; returns one group per task, in order.

    ``envs``: where the environments live (default: in this process, made from
    ``settings.env_kwargs``); its current batch is closed at the end, the backend is not.
    ``task_offset``: the index of ``tasks[0]`` in the whole batch when this call plays a slice
    of it, so every episode keeps the random streams it has in the whole batch.
    ``task_indices``: each task's index in the whole batch, for a subset that is not one
    contiguous slice (a resumed evaluation chunk); overrides ``task_offset``.
    """
    if envs is None:
        envs = InProcessEnvs(family.env_id, settings.env_kwargs)
    elif envs.env_id != family.env_id:
        raise ValueError(
            f"the env backend makes {envs.env_id!r}, but task family {family.name!r} plays "
            f"{family.env_id!r}"
        )
    episode_tasks = [task for task in tasks for _ in range(group_size)]
    if task_indices is None:
        task_indices = range(task_offset, task_offset + len(tasks))
    elif len(task_indices) != len(tasks):
        raise ValueError(f"{len(task_indices)} task_indices for {len(tasks)} tasks")
    keys = [index * group_size + j for index in task_indices for j in range(group_size)]
    try:
        answers = envs.reset(
            [task.seed for task in episode_tasks], [task.reset_options() for task in episode_tasks]
        )
        episodes = [
            open_episode(task, answer, slot)
            for slot, (task, answer) in enumerate(zip(episode_tasks, answers, strict=True))
        ]
        for turn in range(settings.max_turns):
            alive = [i for i, e in enumerate(episodes) if not e.done]
            if not alive:
                break
            live = [episodes[i] for i in alive]
            prompts = [
                episode_prompt(family, e, settings.memory_window, settings.image_history)
                for e in live
            ]
            outs, phis, resamples = _generate_with_tds(
                sampler,
                prompts,
                live,
                [keys[i] for i in alive],
                params,
                settings.tds,
                derive_seed(seed, turn),
            )
            parsed = [parse_agent_action(out.text, family.parse_action) for out in outs]
            stepped = _step_all(envs, live, parsed)
            turns = zip(live, outs, phis, resamples, prompts, parsed, stepped, strict=True)
            for e, out, phi, n, prompt, action, answer in turns:
                _record(e, out, phi, n, prompt, action, answer, settings)
        for e in episodes:
            if not e.done:
                cut_episode(e)
    finally:
        envs.close()
    return [
        TrajectoryGroup(
            task_id=task.task_id,
            seed=task.seed,
            trajectories=[e.trajectory for e in episodes[i * group_size : (i + 1) * group_size]],
        )
        for i, task in enumerate(tasks)
    ]
