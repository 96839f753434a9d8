"""The Sokoban task family: instructions, action parsing, expert and tokenizer corpus."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from t2po.envs.base import TaskFamily
from t2po.envs.corpus import expert_turn_texts
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


def make_expert(env: Any) -> SokobanExpert:
    return SokobanExpert(env)


def corpus(n: int) -> Iterator[str]:
    """``n`` texts for tokenizer training: the instructions, grids and expert responses.

    Expert episodes on seeds 0, 1, 2, ... over the room shapes above; each expert turn gives
    ``grid + "\\n" + response`` (see :func:`t2po.envs.corpus.expert_turn_texts`).
    """

    def start(seed: int) -> tuple[SokobanEnv, dict[str, Any], dict[str, Any]]:
        env = SokobanEnv(**_CORPUS_ROOMS[seed % len(_CORPUS_ROOMS)])
        obs, info = env.reset(seed=seed)
        return env, obs, info

    return expert_turn_texts(
        n,
        INSTRUCTIONS,
        start,
        make_expert,
        lambda obs, info, response: f"{obs['text']}\n{response}",
    )


SOKOBAN = TaskFamily(
    name="sokoban",
    env_id=ENV_ID,
    instructions=INSTRUCTIONS,
    parse_action=parse_sokoban_action,
    make_expert=make_expert,
    memory_window=2,
    max_turns=20,  # the env's own max_steps default
    corpus=corpus,
)
