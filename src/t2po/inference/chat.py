"""Chat prompts to token ids, the one way every part of the project does it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from t2po.types import Message


def render_chat(tokenizer: Any, messages: Sequence[Message]) -> str:
    """The prompt text with the generation prompt appended (the model answers next)."""
    text: str = tokenizer.apply_chat_template(
        list(messages), add_generation_prompt=True, tokenize=False
    )
    return text


def encode_chat(tokenizer: Any, messages: Sequence[Message]) -> list[int]:
    """Token ids of ``render_chat``; the template already holds any special tokens."""
    ids: list[int] = tokenizer(render_chat(tokenizer, messages), add_special_tokens=False)[
        "input_ids"
    ]
    return ids
