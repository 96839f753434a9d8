"""What a task family provides to the rollout engine, the cold start and the CLI.

The environment itself is a plain ``gymnasium.Env`` (registered as ``t2po/<Name>-v0``):
``reset(seed=, options=) -> (obs, info)`` and ``step(action: str) -> (obs, reward,
terminated, truncated, info)`` with ``obs = {"text": str}`` (plus ``"image"`` for vision
tasks). ``info`` carries ``anchor`` (raw state text for GiGPO step groups), ``won``,
``action_is_valid`` (after a step), ``admissible_actions`` where the task has them, and
``task_type``.

Everything the *agent* side needs (how to explain the task, how to read an action out of
model text, an expert for cold start) is described by a ``TaskFamily``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ExpertStep:
    """One expert decision: a short thought and the action (plain text, no tags)."""

    thought: str
    action: str


class Expert(Protocol):
    """A scripted solver that plays one episode of a family's environment."""

    def act(self, observation: dict[str, Any], info: dict[str, Any]) -> ExpertStep:
        """Next thought and action for the current state."""
        ...

    # Optional: ``slip_thought(thought: str, action: str) -> str`` rewrites a thought so that
    # it ends in another action. A slipping cold-start teacher (``rft.expert_slip``) uses it to
    # keep thought and action consistent; experts without it keep their original thought.


@dataclass(frozen=True)
class TaskFamily:
    """Agent-side description of one task family (sokoban, household, shop, search, ...)."""

    name: str  # short name used in configs and metrics: "sokoban"
    env_id: str  # Gymnasium id: "t2po/Sokoban-v0"
    instructions: str  # what the agent is told about the task and the response format
    parse_action: Callable[[str], str | None]  # action text inside <action> -> canonical action
    make_expert: Callable[[Any], Expert]  # env (unwrapped) -> expert for that episode
    memory_window: int = 2  # P: (observation, action) pairs kept in the prompt (method.md §6)
    # Turns per episode when this family is played without its own config (the other families
    # of a `t2po eval` suite): the budget its tasks are usually given.
    max_turns: int = 15
    list_admissible: bool = False  # show info["admissible_actions"] in every prompt
    corpus: Callable[[int], Iterator[str]] | None = None  # sample texts for tokenizer training
    # Named task splits the env accepts as ``reset(options={"split": name})``, e.g. household's
    # ("train", "valid_seen", "valid_unseen"). Empty: the seed alone picks the task (sokoban).
    splits: tuple[str, ...] = ()
    train_split: str | None = None  # split of training and cold-start tasks
    eval_split: str | None = None  # default held-out split of validation and `t2po eval`
