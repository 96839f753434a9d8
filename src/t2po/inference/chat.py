"""Chat prompts to token ids, the one way every part of the project does it.

Prompts with pictures (``Message["images"]``) are rendered with image content parts
(``t2po.inference.vision``); their ids come from the model's processor, which expands each
picture's placeholder, so ``encode_chat`` is for text prompts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from t2po.inference.vision import (
    VisionInputs,
    encode_vision_prompt,
    message_images,
    template_messages,
)
from t2po.types import Message


def render_chat(tokenizer: Any, messages: Sequence[Message]) -> str:
    """The prompt text with the generation prompt appended (the model answers next).

    A message with pictures becomes text + image parts (one placeholder each, unexpanded).
    """
    chat: list[Any] = list(messages)
    if any(m.get("images") for m in messages):
        chat = template_messages(messages)
    text: str = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    return text


def encode_chat(tokenizer: Any, messages: Sequence[Message]) -> list[int]:
    """Token ids of ``render_chat``; the template already holds any special tokens."""
    ids: list[int] = tokenizer(render_chat(tokenizer, messages), add_special_tokens=False)[
        "input_ids"
    ]
    return ids


def encode_chat_with_images(
    tokenizer: Any, processor: Any | None, messages: Sequence[Message]
) -> tuple[list[int], VisionInputs | None]:
    """Token ids and pictures of a prompt: ``encode_chat`` for a text prompt, else the
    processor's ids (placeholders expanded) and pixels. Pictures need a processor."""
    images = message_images(messages)
    if not images:
        return encode_chat(tokenizer, messages), None
    if processor is None:
        raise ValueError(
            "the prompt shows pictures (env.kwargs.obs_mode image or text+image) but the model "
            "is a text model with no processor: use a vision-language model (model.path: "
            "tiny-vl, or a local Qwen2-VL / Qwen2.5-VL folder) or env.kwargs.obs_mode=text"
        )
    return encode_vision_prompt(processor, render_chat(tokenizer, messages), images)
