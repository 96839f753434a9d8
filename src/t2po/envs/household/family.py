"""The household task family: instructions, action parsing, expert and tokenizer corpus."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from t2po.envs.base import TaskFamily
from t2po.envs.corpus import expert_turn_texts
from t2po.envs.household.env import HouseholdEnv
from t2po.envs.household.expert import HouseholdExpert
from t2po.envs.household.generator import SPLITS

ENV_ID = "t2po/Household-v0"
MAX_ACTION_CHARS = 120

INSTRUCTIONS = (
    "You are a household robot. Complete the task with one text command per turn. Commands: "
    "go to R, open R, close R, take O from R, move O to R, heat O with R, cool O with R, "
    "clean O with R, use O, examine X, look, inventory. Choose one of the admissible actions. "
    "Reply <think>reasoning</think><action>action</action>"
)

# ALFWorld's older grammar said "put O in/on R"; accept it (and "in", "on") for "move O to R".
_PUT = re.compile(r"put (?P<obj>.+?) (?:in/on|into|in|on) (?P<rec>.+)")


def parse_household_action(text: str) -> str | None:
    """Canonical command: lower case, single spaces, no final period; None if empty/too long.

    Any well-formed text is returned; whether it is admissible is the environment's call
    (an inadmissible command is an invalid action there, never an exception).
    """
    if not isinstance(text, str) or len(text) > MAX_ACTION_CHARS:
        return None
    words = text.strip().rstrip(".").lower().split()
    if not words:
        return None
    command = " ".join(words)
    put = _PUT.fullmatch(command)
    if put is not None:
        return f"move {put['obj']} to {put['rec']}"
    return command


def make_expert(env: Any) -> HouseholdExpert:
    return HouseholdExpert(env)


def corpus(n: int) -> Iterator[str]:
    """``n`` texts for tokenizer training: instructions, observations, expert responses.

    Expert episodes on train seeds 0, 1, 2, ...; each expert turn gives ``task + observation
    + admissible actions + response`` (see :func:`t2po.envs.corpus.expert_turn_texts`).
    """
    env = HouseholdEnv()

    def start(seed: int) -> tuple[HouseholdEnv, dict[str, Any], dict[str, Any]]:
        obs, info = env.reset(seed=seed)
        return env, obs, info

    def turn_text(obs: dict[str, Any], info: dict[str, Any], response: str) -> str:
        actions = ", ".join(info["admissible_actions"])
        return f"Task: {info['task']}\n{obs['text']}\nAdmissible actions: {actions}\n{response}"

    yield from expert_turn_texts(n, INSTRUCTIONS, start, make_expert, turn_text)
    env.close()


HOUSEHOLD = TaskFamily(
    name="household",
    env_id=ENV_ID,
    instructions=INSTRUCTIONS,
    parse_action=parse_household_action,
    make_expert=make_expert,
    memory_window=2,
    max_turns=50,  # the env's own max_steps default
    list_admissible=True,
    corpus=corpus,
    splits=SPLITS,
    train_split="train",
    eval_split="valid_unseen",
)
