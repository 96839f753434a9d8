"""Expert rollouts for cold start: the task family's solver plays, with the agent's prompts.

The prompts are built exactly as the rollout engine builds them, so supervised fine-tuning on
these turns teaches the policy the format and the task from the states it will really see.
"""

from __future__ import annotations

from collections.abc import Sequence

from t2po.envs.base import TaskFamily
from t2po.rollout.engine import (
    RolloutSettings,
    Task,
    episode_prompt,
    finish_episode,
    start_episode,
)
from t2po.rollout.parsing import format_response
from t2po.rollout.prompts import HistoryEntry
from t2po.types import StopReason, Trajectory, Turn


def expert_rollout(
    family: TaskFamily, tasks: Sequence[Task], settings: RolloutSettings
) -> list[Trajectory]:
    """One expert episode per task; failures are recorded, never raised."""
    trajectories = []
    for task in tasks:
        episode = start_episode(family, task, settings)
        if episode.env is None:
            trajectories.append(episode.trajectory)
            continue
        expert = family.make_expert(episode.env.unwrapped)
        obs = {"text": episode.observation}
        try:
            for _ in range(settings.max_turns):
                step = expert.act(obs, episode.info)
                prompt = episode_prompt(family, episode, settings.memory_window)
                obs, reward, terminated, truncated, info = episode.env.step(step.action)
                done = bool(terminated or truncated)
                episode.trajectory.turns.append(
                    Turn(
                        observation=episode.observation,
                        anchor=str(episode.info.get("anchor", episode.observation)),
                        prompt_text=prompt[-1]["content"],
                        response_text=format_response(step.thought, step.action),
                        prompt_token_ids=[],
                        response_token_ids=[],
                        logprobs=[],
                        uncertainty=[],
                        forced_mask=[],
                        tti_fired_at=None,
                        phi=0.0,
                        tds_resamples=0,
                        action=step.action,
                        action_valid=bool(info.get("action_is_valid", True)),
                        reward=float(reward),
                        done=done,
                    )
                )
                episode.history.append(HistoryEntry(episode.observation, step.action))
                episode.observation, episode.info = obs["text"], dict(info)
                if done:
                    finish_episode(episode.trajectory, info, terminated=bool(terminated))
                    break
            else:
                episode.trajectory.stop_reason = StopReason.max_turns
        except Exception as exc:  # noqa: BLE001 - a failing expert or env ends the episode only
            episode.trajectory.stop_reason = StopReason.env_error
            episode.trajectory.info["error"] = repr(exc)
        finally:
            episode.env.close()
        trajectories.append(episode.trajectory)
    return trajectories
