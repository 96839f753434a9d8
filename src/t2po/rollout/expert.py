"""Expert rollouts for cold start: the task family's solver plays, with the agent's prompts.

The prompts are built exactly as the rollout engine builds them, so supervised fine-tuning on
these turns teaches the policy the format and the task from the states it will really see.

A *slipping* expert (``slip > 0``) models a fallible teacher, such as a sampled LLM whose
traces are used for cold start: on each turn, with probability ``slip``, its decision is
drawn uniformly from ``info["admissible_actions"]`` instead of its plan, and it re-plans from
wherever that led. Where the expert can rewrite its thought for the drawn action
(``slip_thought``, e.g. Sokoban's last word "move X"), the response stays consistent; otherwise
the thought is kept and only the action slips. Successful episodes still contain slips, so
the cold-start policy inherits a spread decision, and RL has mistakes to learn away.

A *format-only* teacher (``format_only=True``, ``rft.teacher=format_only``) is the same
mechanism at its limit: every decision is a uniform draw from the admissible actions
(``slip`` 1), and the thought is always the expert's ``slip_thought`` for the drawn action,
also when the draw happens to be the planned one, so no thought carries the plan. The cold
start keeps all its episodes: the policy learns the response format and none of the rule.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from t2po.envs.base import TaskFamily
from t2po.response_format import format_response
from t2po.rollout.engine import (
    RolloutSettings,
    Task,
    cut_episode,
    derive_seed,
    episode_prompt,
    finish_episode,
    start_episode,
)
from t2po.rollout.prompts import HistoryEntry
from t2po.types import StopReason, Trajectory, Turn


def slipped_action(planned: str, info: dict[str, Any], slip: float, rng: random.Random) -> str:
    """``planned``, or with probability ``slip`` a uniform draw from the admissible actions.

    The draw may return the planned action itself, so the rate of *different* actions is
    ``slip * (1 - 1/len(admissible))``. In a state without admissible actions nothing slips;
    ``expert_rollout`` refuses a family whose environment reports none at all.
    """
    if slip <= 0.0 or rng.random() >= slip:
        return planned
    admissible = info.get("admissible_actions") or []
    return str(rng.choice(admissible)) if admissible else planned


def expert_rollout(
    family: TaskFamily,
    tasks: Sequence[Task],
    settings: RolloutSettings,
    slip: float = 0.0,
    seed: int = 0,
    format_only: bool = False,
) -> list[Trajectory]:
    """One expert episode per task; failures are recorded, never raised.

    ``slip`` is the probability of a random action per turn (module docstring); the slips
    are drawn from ``seed`` and the task's seed, so the same call gives the same episodes.
    ``format_only`` draws every action (``slip`` is then 1) and always rewrites the thought.
    """
    if not 0.0 <= slip <= 1.0:
        raise ValueError(f"slip must be in [0, 1], got {slip}")
    if format_only:
        slip = 1.0
    trajectories = []
    for task in tasks:
        episode = start_episode(family, task, settings)
        if episode.env is None:
            trajectories.append(episode.trajectory)
            continue
        if slip > 0.0 and "admissible_actions" not in episode.info:
            # Raised here, not inside the episode's try: a teacher that cannot slip is a
            # configuration error, not an episode failure to record and train past.
            episode.env.close()
            who = "rft.teacher=format_only" if format_only else f"rft.expert_slip={slip}"
            fix = "use rft.teacher=expert" if format_only else "set rft.expert_slip=0"
            raise ValueError(
                f"{who}: a slipping teacher draws its slips from "
                f"info['admissible_actions'], which task family {family.name!r} does not "
                f"report; {fix}, or have its environment list the valid actions "
                "in info['admissible_actions'] (docs/add_a_family.md)"
            )
        expert = family.make_expert(episode.env.unwrapped)
        rng = random.Random(derive_seed(seed, "slip", task.seed))
        obs = {"text": episode.observation}
        try:
            for _ in range(settings.max_turns):
                step = expert.act(obs, episode.info)
                action = slipped_action(step.action, episode.info, slip, rng)
                thought = step.thought
                if (format_only or action != step.action) and hasattr(expert, "slip_thought"):
                    thought = expert.slip_thought(thought, action)
                prompt = episode_prompt(
                    family, episode, settings.memory_window, settings.image_history
                )
                obs, reward, terminated, truncated, info = episode.env.step(action)
                done = bool(terminated or truncated)
                episode.trajectory.turns.append(
                    Turn(
                        observation=episode.observation,
                        anchor=str(episode.info.get("anchor", episode.observation)),
                        prompt_text=prompt[-1]["content"],
                        response_text=format_response(thought, action),
                        prompt_token_ids=[],
                        response_token_ids=[],
                        logprobs=[],
                        uncertainty=[],
                        forced_mask=[],
                        tti_fired_at=None,
                        phi=0.0,
                        tds_resamples=0,
                        action=action,
                        action_valid=bool(info.get("action_is_valid", True)),
                        reward=float(reward),
                        done=done,
                        image=episode.image,
                        prompt_images=list(prompt[-1].get("images", [])),
                    )
                )
                episode.history.append(HistoryEntry(episode.observation, action, episode.image))
                episode.observation, episode.info = obs["text"], dict(info)
                episode.image = obs.get("image")
                if done:
                    finish_episode(episode.trajectory, info, terminated=bool(terminated))
                    break
            else:
                cut_episode(episode)
        except Exception as exc:  # noqa: BLE001 - a failing expert or env ends the episode only
            episode.trajectory.stop_reason = StopReason.env_error
            episode.trajectory.info["error"] = repr(exc)
        finally:
            episode.env.close()
        trajectories.append(episode.trajectory)
    return trajectories
