"""Play a task family in the terminal (``t2po play <family> --seed N``).

Type an action at the prompt; ``hint`` shows what the expert would think and do, ``quit``
(or end of input) stops. Input and output are injectable so tests can script a game.

With ``frames_dir`` (``t2po play sokoban --image``) the environment shows images
(``obs_mode=image`` unless the arguments name another) and every frame the agent would see
is written there as ``frame_000.png``, ``frame_001.png``, ... (one per observation).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from t2po.envs.frames import write_png
from t2po.envs.obs_mode import ObsMode
from t2po.envs.registry import get_family, make_env

HINT, QUIT = "hint", "quit"


def play(
    family_name: str,
    seed: int,
    input_fn: Callable[[str], str] = input,
    print_fn: Callable[[str], None] = print,
    frames_dir: str | Path | None = None,
    **env_kwargs: Any,
) -> float:
    """Play one episode of ``family_name`` on task ``seed``; returns the total env reward."""
    family = get_family(family_name)
    if frames_dir is not None:
        env_kwargs.setdefault("obs_mode", ObsMode.image.value)
        if str(env_kwargs["obs_mode"]) == ObsMode.text:
            raise ValueError("obs_mode=text shows no image: use obs_mode=image or text+image")
    try:
        env = make_env(family.name, **env_kwargs)
    except TypeError as exc:
        if "obs_mode" not in str(exc):
            raise
        raise ValueError(
            f"task family {family.name!r} has no image observations (env.kwargs.obs_mode); "
            "sokoban and cards have"
        ) from None
    try:
        frames = _Frames(Path(frames_dir), print_fn) if frames_dir is not None else None
        obs, info = env.reset(seed=seed)
        expert = family.make_expert(env.unwrapped)
        print_fn(family.instructions)
        print_fn(f"Type an action, {HINT!r} for the expert's move, or {QUIT!r}.\n")
        if info.get("task"):
            print_fn(f"Task: {info['task']}")
        print_fn(obs["text"])
        if frames is not None:
            frames.write(obs)
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
            if frames is not None:
                frames.write(obs)
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


def default_frames_dir(family_name: str) -> Path:
    """A new temporary folder for the frames of one game."""
    return Path(tempfile.mkdtemp(prefix=f"t2po-play-{family_name}-"))


class _Frames:
    """Numbers and writes the frames of one game, saying where each went."""

    def __init__(self, folder: Path, print_fn: Callable[[str], None]) -> None:
        self.folder, self.print_fn, self.count = folder, print_fn, 0
        print_fn(f"frames: {folder}")

    def write(self, obs: dict[str, Any]) -> None:
        path = write_png(obs["image"], self.folder / f"frame_{self.count:03d}.png")
        self.count += 1
        self.print_fn(f"frame: {path}")


def _show_actions(
    show: bool, admissible: list[str] | None, print_fn: Callable[[str], None]
) -> None:
    """List the page's actions for families that show them to the agent (e.g. shop clicks)."""
    if show and admissible:
        print_fn(f"Actions: {', '.join(admissible)}")
