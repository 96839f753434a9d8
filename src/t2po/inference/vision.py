"""Image prompts through a vision-language model's processor: the one way sampler, trainer and
SFT turn a chat prompt with pictures into token ids and pixels.

A message carries its pictures under ``"images"`` (RGB uint8 ``(H, W, 3)`` arrays, oldest
first; ``t2po.types.Message``). For the chat template they become content parts, the text
first and then one ``{"type": "image"}`` part per picture (the order the API sampler sends
them in), and the template writes one ``<|vision_start|><|image_pad|><|vision_end|>`` per
picture. The processor (``AutoProcessor``) then resizes each picture within its pixel budget,
cuts it into patches (``pixel_values``, one row per patch), and expands each ``<|image_pad|>``
into one pad per merged patch (``image_grid_thw`` says how many).

Positions: Qwen2-VL's M-RoPE gives a picture's tokens 3-D (time, row, column) positions and
the text after it positions that continue from the picture's largest, not from its token
count; ``mrope_position_ids`` asks the model for them (``get_rope_index``), which is what the
model does itself when the trainer's forward passes ``mm_token_type_ids``, so sampler and
trainer place every token at the same position.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from t2po.types import Message


@dataclass(frozen=True)
class VisionInputs:
    """What a vision-language model reads beside one prompt's (or one batch's) token ids."""

    pixel_values: Tensor  # (patches, patch_dim) float32, rows in picture order
    image_grid_thw: Tensor  # (pictures, 3) long: patches along time, height, width
    image_token_id: int  # the placeholder id whose positions take the picture features


def message_images(messages: Sequence[Message]) -> list[np.ndarray]:
    """Every picture of a prompt, in the order its template writes them."""
    return [image for m in messages for image in m.get("images", ())]


def template_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Messages as a chat template reads them: a message with pictures gets content parts."""
    out: list[dict[str, Any]] = []
    for m in messages:
        images = m.get("images", ())
        if not images:
            out.append({"role": m["role"], "content": m["content"]})
            continue
        parts: list[dict[str, Any]] = [{"type": "text", "text": m["content"]}]
        parts += [{"type": "image"} for _ in images]
        out.append({"role": m["role"], "content": parts})
    return out


def encode_vision_prompt(
    processor: Any, text: str, images: Sequence[np.ndarray]
) -> tuple[list[int], VisionInputs]:
    """Token ids (placeholders expanded) and pixels of one rendered prompt with pictures."""
    from PIL import Image

    enc = processor(
        text=[text],
        images=[Image.fromarray(np.asarray(image, dtype=np.uint8)) for image in images],
        return_tensors="pt",
        add_special_tokens=False,
    )
    ids: list[int] = enc["input_ids"][0].tolist()
    vision = VisionInputs(
        pixel_values=enc["pixel_values"].float(),
        image_grid_thw=enc["image_grid_thw"].long(),
        image_token_id=int(processor.image_token_id),
    )
    return ids, vision


def encode_pictures(processor: Any, images: Sequence[np.ndarray]) -> VisionInputs:
    """The pixels of a prompt's pictures alone, as ``encode_vision_prompt`` makes them (the
    processor runs its image processor on the same pictures with the same settings); for a
    turn whose token ids were already expanded by the sampler."""
    from PIL import Image

    enc = processor.image_processor(
        images=[Image.fromarray(np.asarray(image, dtype=np.uint8)) for image in images],
        return_tensors="pt",
    )
    return VisionInputs(
        pixel_values=enc["pixel_values"].float(),
        image_grid_thw=enc["image_grid_thw"].long(),
        image_token_id=int(processor.image_token_id),
    )


def cat_vision(items: Sequence[VisionInputs | None]) -> VisionInputs | None:
    """One batch's pictures: the rows' pixels and grids in row order (None rows have none)."""
    present = [v for v in items if v is not None]
    if not present:
        return None
    token_ids = {v.image_token_id for v in present}
    if len(token_ids) != 1:
        raise ValueError(f"pictures of one batch name different placeholder ids: {token_ids}")
    return VisionInputs(
        pixel_values=torch.cat([v.pixel_values for v in present]),
        image_grid_thw=torch.cat([v.image_grid_thw for v in present]),
        image_token_id=present[0].image_token_id,
    )


def mm_token_types(input_ids_B_L: Tensor, image_token_id: int) -> Tensor:
    """``mm_token_type_ids`` as the processor makes them: 1 at picture placeholders, else 0."""
    return (input_ids_B_L == image_token_id).int()


def mrope_position_ids(
    model: Any, input_ids_B_L: Tensor, mask_B_L: Tensor, vision: VisionInputs
) -> Tensor:
    """``(3, B, L)`` M-RoPE positions of a (left- or right-) padded batch with pictures."""
    inner = model.model if hasattr(model.model, "get_rope_index") else model
    get_rope_index = inner.get_rope_index
    kwargs: dict[str, Any] = {
        "image_grid_thw": vision.image_grid_thw.to(input_ids_B_L.device),
        "attention_mask": mask_B_L,
    }
    if "mm_token_type_ids" in inspect.signature(get_rope_index).parameters:
        kwargs["mm_token_type_ids"] = mm_token_types(input_ids_B_L, vision.image_token_id)
    positions, _deltas = get_rope_index(input_ids_B_L, **kwargs)
    return positions
