"""Vision-language model folders: which folders are one, their processor, their placeholders.

A folder is a vision-language model when its ``config.json`` has a ``vision_config`` (the
Qwen2-VL and Qwen2.5-VL families, and ``tiny-vl``); it loads with
``AutoModelForImageTextToText`` and comes with a processor (``preprocessor_config.json``).

``load_processor`` is ``AutoProcessor.from_pretrained``. In transformers 5 the Qwen2-VL
processors also require a video processor, which needs torchvision; where torchvision is
missing (this project's CPU install: PyPI's torchvision does not import beside the CPU torch
build) the same processor class is built around the folder's image processor and
tokenizer with no video processor. Images go through the same code either way.

``suppress_vision_placeholders``: a vision-language model must never *write* its vision
placeholders (``<|image_pad|>`` etc.): the processor and the model read every one in a
sequence as a slot for image features, so a sampled one would break the trainer's forward
of that sequence (more slots than features). The LM head's scores for them are set to a
large negative number in every forward (sampling, the update, SFT alike), so the policy is
one distribution everywhere; a real checkpoint gives them ~0 probability anyway.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

# Config keys that name vision special tokens (Qwen2-VL / Qwen2.5-VL).
_PLACEHOLDER_KEYS = (
    "image_token_id",
    "video_token_id",
    "vision_start_token_id",
    "vision_end_token_id",
)


def is_vision_folder(path: Path) -> bool:
    """True when the model folder's ``config.json`` describes a vision-language model."""
    try:
        config = json.loads((Path(path) / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "vision_config" in config


def is_vision_model(model: Any) -> bool:
    """True for a loaded vision-language model (its config has a ``vision_config``)."""
    return getattr(getattr(model, "config", None), "vision_config", None) is not None


def placeholder_ids(config: Any) -> list[int]:
    """The vision placeholder token ids a config names (sorted, distinct)."""
    ids = {getattr(config, key, None) for key in _PLACEHOLDER_KEYS}
    return sorted(i for i in ids if isinstance(i, int))


def suppress_vision_placeholders(model: nn.Module) -> None:
    """Install the LM-head hook of the module docstring on a vision-language model."""
    ids = placeholder_ids(model.config)
    head = model.get_output_embeddings()  # type: ignore[operator]
    if not ids or head is None or getattr(head, "_t2po_suppressed", None) == ids:
        return
    index = torch.tensor(ids, dtype=torch.long)

    def hook(_module: nn.Module, _inputs: Any, logits: torch.Tensor) -> torch.Tensor:
        # Finite, not -inf: 0 * log 0 in an entropy would be NaN; exp of it is exactly 0.
        low = torch.finfo(logits.dtype).min / 2
        return logits.index_fill(-1, index.to(logits.device), low)

    head.register_forward_hook(hook)
    head._t2po_suppressed = ids


class MissingProcessorError(FileNotFoundError):
    """A vision-language model folder without a usable processor configuration."""


def load_processor(path: Path) -> Any:
    """The processor of a vision-language model folder (module docstring)."""
    path = Path(path)
    if not (path / "preprocessor_config.json").is_file():
        raise MissingProcessorError(
            f"{str(path)!r} is a vision-language model without preprocessor_config.json; "
            "copy the processor files (preprocessor_config.json, chat_template) from the "
            "model's original folder"
        )
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(path, local_files_only=True)
    except ImportError as exc:
        # The video processor needs torchvision; build the image-only processor instead.
        processor = _image_only_processor(path)
        if processor is None:
            raise exc
        return processor


def _image_only_processor(path: Path) -> Any | None:
    """The folder's processor class around its image processor and tokenizer, no video."""
    import transformers
    from transformers import AutoImageProcessor, AutoTokenizer

    config = json.loads((path / "preprocessor_config.json").read_text())
    name = config.get("processor_class")
    if name is None:
        model_type = json.loads((path / "config.json").read_text()).get("model_type", "")
        name = {"qwen2_vl": "Qwen2VLProcessor", "qwen2_5_vl": "Qwen2_5_VLProcessor"}.get(model_type)
    cls = getattr(transformers, str(name), None) if name else None
    if cls is None:
        return None

    class ImageOnly(cls):  # type: ignore[misc, valid-type]
        """``cls`` that accepts no video processor (its __call__ needs none for images)."""

        def check_argument_for_proper_class(self, argument_name: str, argument: Any) -> Any:
            if argument_name == "video_processor" and argument is None:
                return None
            return super().check_argument_for_proper_class(argument_name, argument)

    ImageOnly.__name__ = ImageOnly.__qualname__ = cls.__name__
    image_processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    return ImageOnly(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=None,
        chat_template=tokenizer.chat_template,
    )


# The files of a processor beside a model's own (what AutoProcessor reads back).
PROCESSOR_FILES = (
    "preprocessor_config.json",
    "processor_config.json",
    "video_preprocessor_config.json",
    "chat_template.json",
)


def copy_processor_files(source: Path, target: Path) -> None:
    """Copy a vision-language model folder's processor files into ``target`` (a fine-tuned or
    checkpointed copy of it), so that folder loads as the same model with the same processor."""
    import shutil

    for name in PROCESSOR_FILES:
        if (Path(source) / name).is_file():
            shutil.copy2(Path(source) / name, Path(target) / name)
