"""``tiny-vl``: the embedded vision-language model, a ~1.6M-parameter Qwen2.5-VL.

The same idea as ``tiny`` (``tiny.py``), for image observations: an ordinary Hugging Face
folder of the Qwen2.5-VL family (the family of the paper's Sokoban agent, Qwen2.5-VL-3B),
built offline from a config with our own seeded weights, that
``AutoModelForImageTextToText`` and ``t2po.models.vision.load_processor`` load like a real
checkpoint. Random-initialised; it learns the tasks by cold start + RL on CPU.

* Tokenizer: ``tiny``'s byte-level BPE, unchanged, plus Qwen2-VL's four vision special tokens
  (``<|vision_start|>``, ``<|vision_end|>``, ``<|image_pad|>``, ``<|video_pad|>``) appended
  after it, so a text prompt is the same ids under both models.
* Chat template: ``tiny``'s ChatML, where a message's content may also be a list of parts,
  ``{"type": "text", "text": ...}`` and ``{"type": "image"}``; an image part is written
  ``<|vision_start|><|image_pad|><|vision_end|>`` as Qwen2.5-VL's own template writes it,
  and the processor expands the one ``<|image_pad|>`` into one per merged patch.
* Image processor: Qwen2-VL's, with its real settings (14-pixel patches, 2x2 merge,
  2-frame temporal patches, CLIP mean/std) and a small pixel budget (``MIN_PIXELS`` ..
  ``MAX_PIXELS``): a 96x96 Sokoban frame becomes 6x6 patches = 9 vision tokens, a 320x228
  card table 10x14 patches = 35 tokens.
* Model: the text part has ``tiny``'s shapes (4 layers, width 128, untied embeddings) with
  M-RoPE sections [4, 6, 6] over its 32-dim heads; the vision tower has 2 blocks of width
  64 (the last with full attention, as Qwen2.5-VL ends its windows) merged into the text width.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from tokenizers import AddedToken
from transformers import (
    AutoTokenizer,
    GenerationConfig,
    PreTrainedTokenizerBase,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
)

from t2po.models.cache import build_once, models_dir, save_model_folder
from t2po.models.init import seeded_init_
from t2po.models.tiny import DEFAULT_ARCH, IM_END, PAD_TOKEN, prepare_tiny

TINY_VL_NAME = "tiny-vl"
# Bump when the recipe below changes, so old cached builds are not reused.
TINY_VL_VERSION = 1

VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
IMAGE_PAD = "<|image_pad|>"
VIDEO_PAD = "<|video_pad|>"
VISION_TOKENS = (VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD)

# ChatML as tiny writes it for string contents (so text prompts are byte-identical), plus
# content lists of text and image parts, as Qwen2.5-VL's template writes them.
VL_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Pixel budget of the image processor: at least 2x2 merged patches, at most 36 (6x6 of
# 28-pixel cells), so a frame costs a handful of tokens on CPU.
MIN_PIXELS = 28 * 28 * 4
MAX_PIXELS = 28 * 28 * 36

DEFAULT_VISION: dict[str, Any] = {
    "depth": 2,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_heads": 2,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "window_size": 112,
    "fullatt_block_indexes": [1],
}
# M-RoPE splits each head's rotary half (head_dim / 2 = 16) into temporal, height and width
# sections, in Qwen2.5-VL's proportions (16, 24, 24 of 64).
MROPE_SECTION = [4, 6, 6]


def vl_tokenizer(base: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """``base`` with the vision special tokens appended and the VL chat template, in place."""
    base.add_tokens(
        [AddedToken(t, special=True, normalized=False) for t in VISION_TOKENS],
        special_tokens=True,
    )
    base.chat_template = VL_CHAT_TEMPLATE
    return base


def _save_image_processor(out_dir: Path, min_pixels: int, max_pixels: int) -> None:
    """``preprocessor_config.json``: Qwen2-VL's image processor with a small pixel budget.

    The PIL backend (no torchvision needed) writes the same settings the fast one reads.
    """
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    processor = Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels)
    processor.save_pretrained(out_dir)
    path = out_dir / "preprocessor_config.json"
    cfg = json.loads(path.read_text())
    cfg["processor_class"] = "Qwen2_5_VLProcessor"  # what AutoProcessor builds around it
    path.write_text(json.dumps(cfg, indent=2) + "\n")


def build_tiny_vl(
    out_dir: Path,
    *,
    text_model: Path | None = None,
    seed: int = 0,
    min_pixels: int = MIN_PIXELS,
    max_pixels: int = MAX_PIXELS,
    **vision: Any,
) -> Path:
    """Build the tiny VL model, its tokenizer and image processor as a Hugging Face folder.

    Args:
        out_dir: folder to write (created).
        text_model: a ``tiny`` folder whose tokenizer is extended; None = ``prepare_tiny()``.
        seed: seeds the weight initialisation.
        min_pixels, max_pixels: the image processor's pixel budget per image.
        **vision: overrides of ``DEFAULT_VISION`` (e.g. ``depth=1``).

    Returns:
        ``out_dir``.
    """
    base = text_model if text_model is not None else prepare_tiny()
    tokenizer = vl_tokenizer(AutoTokenizer.from_pretrained(base, local_files_only=True))

    def tid(token: str) -> int:
        token_id = tokenizer.convert_tokens_to_ids(token)
        assert isinstance(token_id, int)
        return token_id

    pad, eos = tid(PAD_TOKEN), tid(IM_END)
    text = {k: v for k, v in DEFAULT_ARCH.items() if k not in ("head_dim", "tie_word_embeddings")}
    config = Qwen2_5_VLConfig(
        text_config={
            **text,
            "vocab_size": len(tokenizer),
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1_000_000.0,
                "mrope_section": MROPE_SECTION,
            },
            "bos_token_id": pad,
            "eos_token_id": eos,
            "pad_token_id": pad,
        },
        vision_config={
            **DEFAULT_VISION,
            **vision,
            "out_hidden_size": DEFAULT_ARCH["hidden_size"],
        },
        image_token_id=tid(IMAGE_PAD),
        video_token_id=tid(VIDEO_PAD),
        vision_start_token_id=tid(VISION_START),
        vision_end_token_id=tid(VISION_END),
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):  # the library's own init: overwritten below
        model = Qwen2_5_VLForConditionalGeneration(config)
    text_config: Any = config.text_config  # a Qwen2_5_VLTextConfig once built
    seeded_init_(model, seed, std=text_config.initializer_range)
    model.generation_config = GenerationConfig(
        bos_token_id=pad, eos_token_id=[eos, pad], pad_token_id=pad
    )

    out_dir = Path(out_dir)
    save_model_folder(model, tokenizer, out_dir)
    _save_image_processor(out_dir, min_pixels, max_pixels)
    (out_dir / "t2po_build.json").write_text(
        json.dumps(
            {
                "recipe": f"{TINY_VL_NAME}-v{TINY_VL_VERSION}",
                "text_tokenizer": Path(base).name,
                "seed": seed,
                "vocab_size": len(tokenizer),
                "pixels": [min_pixels, max_pixels],
                "parameters": sum(p.numel() for p in model.parameters()),
            },
            indent=2,
        )
        + "\n"
    )
    return out_dir


def prepare_tiny_vl() -> Path:
    """The cached tiny VL model, built on first use (a few seconds).

    Named after the ``tiny`` folder whose tokenizer it extends, so a new ``tiny`` recipe or
    corpus gives a fresh build.
    """
    base = prepare_tiny()
    target = models_dir() / f"{TINY_VL_NAME}-v{TINY_VL_VERSION}-{base.name}"
    return build_once(target, lambda tmp: build_tiny_vl(tmp, text_model=base))
