"""Turn prompts with a memory window (method.md §6).

Each turn's prompt holds the task, the last ``P`` (observation, action) pairs and the
current observation, not the whole history, so its length stays flat over long episodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from t2po.types import Message

INVALID_ACTION_NOTE = "(invalid response: no action was taken)"


@dataclass(frozen=True)
class HistoryEntry:
    """One earlier turn as the agent will see it again."""

    observation: str
    action: str  # the action taken, or INVALID_ACTION_NOTE


def build_messages(
    instructions: str,
    observation: str,
    history: Sequence[HistoryEntry],
    *,
    memory_window: int,
    turn_index: int,
    task: str | None = None,
    admissible_actions: Sequence[str] | None = None,
) -> list[Message]:
    """The chat prompt for one turn. ``turn_index`` is 0-based; shown 1-based to the agent."""
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
    return turn_messages(instructions, "\n\n".join(parts))


def turn_messages(instructions: str, user_text: str) -> list[Message]:
    """The two-message prompt every turn uses; a turn stores only ``user_text``."""
    return [
        {"role": "system", "content": instructions},
        {"role": "user", "content": user_text},
    ]
