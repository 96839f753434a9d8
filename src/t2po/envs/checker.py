"""Conformance check for a task family (``t2po check-env <family>``).

Runs Gymnasium's ``check_env`` on the unwrapped environment (its warnings count as
problems too), then this project's contract (``t2po.envs.base``): observation dict with
``text``, info with ``anchor``/``won``/``task_type`` and, where present, a str ``task`` and a
``score`` in [0, 1]; same seed gives the same task, invalid actions leave the state alone
with reward 0 and ``action_is_valid`` False, admissible actions parse to themselves (and are
there when the family lists them in its prompts), and the expert wins the checked seeds.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium.utils.env_checker import check_env

from t2po.envs.base import TaskFamily
from t2po.envs.registry import get_family, make_env

INVALID_ACTION = "@@ this is not an action @@"


def check_family(
    name: str,
    seeds: Sequence[int] = (0, 1, 2),
    env_kwargs: dict[str, Any] | None = None,
    max_expert_steps: int = 200,
) -> list[str]:
    """Problems found with family ``name`` (an empty list means it conforms)."""
    family = get_family(name)
    kwargs = env_kwargs or {}
    problems: list[str] = []
    if not family.instructions.strip():
        problems.append("instructions are empty")

    env = make_env(family.name, **kwargs)
    try:
        problems += _gymnasium_check(env.unwrapped)
        problems += _reset_contract(env.unwrapped, family, seeds)
        problems += _invalid_action_contract(env.unwrapped, seeds[0] if seeds else 0)
        problems += _expert_contract(env.unwrapped, family, seeds, max_expert_steps)
    except Exception as exc:  # a broken env is a finding, not a crash of the checker
        problems.append(f"unexpected {type(exc).__name__}: {exc}")
    finally:
        env.close()
    return problems


def _gymnasium_check(env: gymnasium.Env[Any, Any]) -> list[str]:
    problems = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            check_env(env)
        except Exception as exc:
            problems.append(f"gymnasium check_env failed: {type(exc).__name__}: {exc}")
    problems += [f"gymnasium check_env warning: {w.message}" for w in caught]
    return problems


def _info_problems(info: dict[str, Any], where: str) -> list[str]:
    problems = []
    if not isinstance(info.get("anchor"), str):
        problems.append(f"{where}: info['anchor'] must be a str")
    if not isinstance(info.get("won"), bool):
        problems.append(f"{where}: info['won'] must be a bool")
    if not isinstance(info.get("task_type"), str):
        problems.append(f"{where}: info['task_type'] must be a str")
    admissible = info.get("admissible_actions")
    if admissible is not None and not (
        isinstance(admissible, list) and all(isinstance(a, str) for a in admissible)
    ):
        problems.append(f"{where}: info['admissible_actions'] must be a list of str")
    # Optional keys the engine reads: the goal line of every prompt, and the graded score
    # that cold-start filtering (rft.min_score) and env/<family>/score use.
    if "task" in info and not (isinstance(info["task"], str) and info["task"].strip()):
        problems.append(f"{where}: info['task'] (the prompt's goal line) must be a non-empty str")
    score = info.get("score")
    if score is not None and not (
        isinstance(score, int | float) and not isinstance(score, bool) and 0.0 <= score <= 1.0
    ):
        problems.append(f"{where}: info['score'] must be a number in [0, 1], got {score!r}")
    return problems


def _obs_problems(obs: Any, where: str) -> list[str]:
    if not isinstance(obs, dict) or not isinstance(obs.get("text"), str):
        return [f"{where}: observation must be a dict with a str 'text'"]
    image = obs.get("image")
    if image is not None and not (
        isinstance(image, np.ndarray)
        and image.dtype == np.uint8
        and image.ndim == 3
        and image.shape[2] == 3
    ):
        return [f"{where}: observation 'image' must be a uint8 (H, W, 3) array"]
    return []


def _obs_key(obs: dict[str, Any]) -> tuple[str, bytes]:
    """What identifies an observation: its text and, in image modes, its pixels (the text of
    an image observation is the same note for every state)."""
    image = obs.get("image")
    return obs["text"], b"" if image is None else np.asarray(image).tobytes()


def _reset_contract(
    env: gymnasium.Env[Any, Any], family: TaskFamily, seeds: Sequence[int]
) -> list[str]:
    problems: list[str] = []
    texts = []
    for seed in seeds:
        obs, info = env.reset(seed=seed)
        where = f"reset(seed={seed})"
        problems += _obs_problems(obs, where) + _info_problems(info, where)
        if problems:
            return problems
        if info["won"]:
            problems.append(f"{where}: the task is already won")
        if family.list_admissible and not info.get("admissible_actions"):
            problems.append(
                f"{where}: list_admissible is set but info['admissible_actions'] is missing"
            )
        obs_again, _ = env.reset(seed=seed)
        if _obs_key(obs_again) != _obs_key(obs):
            problems.append(f"{where}: the same seed gave a different observation")
        for action in info.get("admissible_actions") or []:
            if family.parse_action(action) != action:
                problems.append(f"{where}: admissible action {action!r} does not parse to itself")
        texts.append(_obs_key(obs))
    if len(texts) >= 3 and len(set(texts)) == 1:
        problems.append(f"seeds {list(seeds)} all gave the same observation")
    return problems


def _invalid_action_contract(env: gymnasium.Env[Any, Any], seed: int) -> list[str]:
    obs, info = env.reset(seed=seed)
    obs2, reward, _, _, info2 = env.step(INVALID_ACTION)
    where = f"step({INVALID_ACTION!r})"
    problems = _obs_problems(obs2, where) + _info_problems(info2, where)
    if info2.get("action_is_valid") is not False:
        problems.append(f"{where}: info['action_is_valid'] must be False")
    if float(reward) != 0.0:
        problems.append(f"{where}: reward must be 0 (the rollout engine applies the penalty)")
    if info2.get("anchor") != info.get("anchor"):
        problems.append(f"{where}: an invalid action changed the state")
    return problems


def _expert_contract(
    env: gymnasium.Env[Any, Any], family: TaskFamily, seeds: Sequence[int], max_steps: int
) -> list[str]:
    problems = []
    for seed in seeds:
        obs, info = env.reset(seed=seed)
        expert = family.make_expert(env)
        won = False
        for _ in range(max_steps):
            step = expert.act(obs, info)
            if family.parse_action(step.action) is None:
                problems.append(f"seed {seed}: expert action {step.action!r} does not parse")
                break
            obs, _, terminated, truncated, info = env.step(step.action)
            if info.get("action_is_valid") is False:
                problems.append(f"seed {seed}: the env rejected expert action {step.action!r}")
                break
            if terminated or truncated:
                won = bool(info.get("won"))
                break
        if not won:
            problems.append(f"seed {seed}: the expert did not win")
    return problems
