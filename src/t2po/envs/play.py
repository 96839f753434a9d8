"""Play a task family in the terminal (``t2po play <family> --seed N``).

Type an action at the prompt; ``hint`` shows what the expert would think and do, ``quit``
(or end of input) stops. Input and output are injectable so tests can script a game.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from t2po.envs.registry import get_family, make_env

HINT, QUIT = "hint", "quit"


def play(
    family_name: str,
    seed: int,
    input_fn: Callable[[str], str] = input,
    print_fn: Callable[[str], None] = print,
    **env_kwargs: Any,
) -> float:
    """Play one episode of ``family_name`` on task ``seed``; returns the total env reward."""
    family = get_family(family_name)
    env = make_env(family.name, **env_kwargs)
    try:
        obs, info = env.reset(seed=seed)
        expert = family.make_expert(env.unwrapped)
        print_fn(family.instructions)
        print_fn(f"Type an action, {HINT!r} for the expert's move, or {QUIT!r}.\n")
        if info.get("task"):
            print_fn(f"Task: {info['task']}")
        print_fn(obs["text"])
        admissible = info.get("admissible_actions")
        _show_actions(family.list_admissible, admissible, print_fn)
        total = 0.0
        while True:
            try:
                line = input_fn("action> ").strip()
            except EOFError:
                break
            if line.lower() == QUIT:
                break
            if line.lower() == HINT:
                step = expert.act(obs, info)
                print_fn(f"hint: {step.thought} -> {step.action}")
                continue
            action = family.parse_action(line)
            if action is None:
                choices = f" Try one of: {', '.join(admissible)}." if admissible else ""
                print_fn(f"{line!r} is not an action.{choices}")
                continue
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            if info.get("action_is_valid") is False and info.get("error"):
                print_fn(f"invalid action: {info['error']}")
            print_fn(obs["text"])
            print_fn(f"reward {float(reward):+.2f}  total {total:+.2f}")
            admissible = info.get("admissible_actions", admissible)
            done = bool(terminated or truncated)
            _show_actions(family.list_admissible and not done, admissible, print_fn)
            if terminated or truncated:
                print_fn("You won!" if info.get("won") else "Episode over.")
                break
        return total
    finally:
        env.close()


def _show_actions(
    show: bool, admissible: list[str] | None, print_fn: Callable[[str], None]
) -> None:
    """List the page's actions for families that show them to the agent (e.g. shop clicks)."""
    if show and admissible:
        print_fn(f"Actions: {', '.join(admissible)}")
