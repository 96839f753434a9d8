"""The Sokoban task family: instructions, action parsing, expert and tokenizer corpus."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from t2po.envs.base import TaskFamily
from t2po.envs.sokoban.env import SokobanEnv
from t2po.envs.sokoban.expert import SokobanExpert
from t2po.envs.sokoban.render import LEGEND
from t2po.envs.sokoban.room import parse_sokoban_action

ENV_ID = "t2po/Sokoban-v0"

INSTRUCTIONS = (
    f"Sokoban. Push every box onto a target. {LEGEND}. Cells are (row,col) from the top-left. "
    "Walk into a box to push it. Actions: up, down, left, right. "
    "Reply <think>reasoning</think><action>action</action>"
)

# Room shapes the corpus cycles through, so the tokenizer sees every size it may meet.
_CORPUS_ROOMS: tuple[dict[str, Any], ...] = (
    {"dim_room": (6, 6), "num_boxes": 1},
    {"dim_room": (6, 6), "num_boxes": 2},
    {"dim_room": (7, 7), "num_boxes": 1},
    {"dim_room": (7, 7), "num_boxes": 2, "max_solution_len": 14},
)


def format_response(thought: str, action: str) -> str:
    """The strict response format the agent must produce (method.md §6)."""
    return f"<think>{thought}</think><action>{action}</action>"


def make_expert(env: Any) -> SokobanExpert:
    return SokobanExpert(env)


def corpus(n: int) -> Iterator[str]:
    """``n`` texts for tokenizer training: the instructions, grids and expert responses.

    Deterministic: expert episodes on seeds 0, 1, 2, ... over the room shapes above. Each
    expert turn gives ``grid + "\\n" + response``; the instructions come every 25 texts.
    """
    produced = 0
    seed = 0
    while produced < n:
        env = SokobanEnv(**_CORPUS_ROOMS[seed % len(_CORPUS_ROOMS)])
        obs, info = env.reset(seed=seed)
        expert = SokobanExpert(env)
        done = False
        while not done and produced < n:
            if produced % 25 == 0:
                yield INSTRUCTIONS
            else:
                step = expert.act(obs, info)
                yield f"{obs['text']}\n{format_response(step.thought, step.action)}"
                obs, _, terminated, truncated, info = env.step(step.action)
                done = terminated or truncated
            produced += 1
        seed += 1


SOKOBAN = TaskFamily(
    name="sokoban",
    env_id=ENV_ID,
    instructions=INSTRUCTIONS,
    parse_action=parse_sokoban_action,
    make_expert=make_expert,
    memory_window=2,
    corpus=corpus,
)
