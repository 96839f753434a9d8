"""Turn prompts with a memory window (method.md §6).

Each turn's prompt holds the task, the last ``P`` (observation, action) pairs and the
current observation, not the whole history, so its length stays flat over long episodes.

Pictures (image observations): the user message carries the pictures of the last
``image_history`` steps it shows (default 1: only the current one), oldest first, after the
text (``Message["images"]``). A step beyond the memory window shows no picture either, so
every picture belongs to a step the text names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from t2po.types import Message

INVALID_ACTION_NOTE = "(invalid response: no action was taken)"


@dataclass(frozen=True)
class HistoryEntry:
    """One earlier turn as the agent will see it again."""

    observation: str
    action: str  # the action taken, or INVALID_ACTION_NOTE
    image: np.ndarray | None = field(default=None, compare=False)  # shown with observation


def build_messages(
    instructions: str,
    observation: str,
    history: Sequence[HistoryEntry],
    *,
    memory_window: int,
    turn_index: int,
    task: str | None = None,
    admissible_actions: Sequence[str] | None = None,
    image: np.ndarray | None = None,
    image_history: int = 1,
) -> list[Message]:
    """The chat prompt for one turn. ``turn_index`` is 0-based; shown 1-based to the agent.

    ``image``: the current observation's picture; with it, the user message carries the
    pictures of the last ``image_history`` steps shown (module docstring).
    """
    recent = list(history)[-memory_window:] if memory_window > 0 else []
    first_shown = turn_index - len(recent)
    parts: list[str] = []
    if task:
        parts.append(f"Task: {task}")
    for offset, entry in enumerate(recent):
        step = first_shown + offset + 1
        parts.append(
            f"Step {step} observation:\n{entry.observation}\nStep {step} action: {entry.action}"
        )
    parts.append(f"Step {turn_index + 1} observation (now):\n{observation}")
    if admissible_actions:
        parts.append("Admissible actions: " + ", ".join(admissible_actions))
    messages = turn_messages(instructions, "\n\n".join(parts))
    shown = [entry.image for entry in recent] + [image]
    images = [i for i in shown[-image_history:] if i is not None] if image_history > 0 else []
    if images:
        messages[-1]["images"] = images
    return messages


def turn_messages(instructions: str, user_text: str) -> list[Message]:
    """The two-message prompt every turn uses; a turn stores only ``user_text``."""
    return [
        {"role": "system", "content": instructions},
        {"role": "user", "content": user_text},
    ]
