"""LoRA adapters through PEFT (extra ``[peft]``): wrap a causal LM, restore adapter weights,
run the model with its adapters off, and merge an adapter folder into a plain HF folder.

Design (architecture.md, Decision 9: PEFT, not our own adapter layers):

* Only the adapter matrices train. PEFT freezes the base weights, and nothing here ever
  merges the adapters into them during a run (merge + unmerge would round the base weights in
  float), so the base stays bit-identical to the folder it was loaded from.
* The KL reference of a LoRA run is :class:`AdaptersOff`: the *same* module with the adapters
  switched off. The base never trains, so that is exactly the policy the run started from,
  and a LoRA run holds one copy of the base weights instead of two.
* A checkpoint's ``model/`` folder holds what PEFT saves (``adapter_config.json``,
  ``adapter_model.safetensors``) plus the tokenizer; ``adapter_config.json`` names the base
  folder by absolute path. :func:`merge_adapter_folder` (``t2po models merge``) folds the
  adapters into the base and writes an ordinary HF folder that anything here loads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from t2po.models.loading import load_model_and_tokenizer, prepare_tokenizer

ADAPTER_CONFIG = "adapter_config.json"
ALL_LINEAR = "all-linear"  # PEFT's name for every linear layer but the output head


@dataclass(frozen=True)
class LoraParams:
    """The adapter shape: rank ``r``, scale ``alpha / r``, dropout on the adapter input, and
    the module names (PEFT's suffix match) that get adapters; ``("all-linear",)`` = all."""

    r: int
    alpha: float
    dropout: float
    target_modules: tuple[str, ...]


def _peft() -> ModuleType:
    try:
        import peft
    except ImportError:
        raise ImportError(
            "LoRA (model.lora.r > 0, `t2po models merge`) needs PEFT: pip install 't2po[peft]'"
        ) from None
    return peft


def is_lora(model: Any) -> bool:
    """True for a model wrapped by :func:`apply_lora` (a PEFT model with adapters)."""
    return callable(getattr(model, "disable_adapter", None)) and hasattr(model, "peft_config")


def is_adapter_folder(path: str | Path) -> bool:
    """True when ``path`` holds PEFT adapters (``adapter_config.json``), not a whole model."""
    return (Path(path) / ADAPTER_CONFIG).is_file()


def _linear_names(model: nn.Module) -> list[str]:
    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    return sorted(names)


def apply_lora(model: nn.Module, params: LoraParams, *, base_path: str | Path) -> nn.Module:
    """Wrap ``model`` (in place) with fresh LoRA adapters; returns the PEFT model.

    ``base_path`` is the folder ``model`` was loaded from; it is written, absolute, into the
    adapters' ``adapter_config.json`` so ``t2po models merge`` finds the base from any folder.
    Adapter weights start as PEFT initialises them (``B = 0``: the wrapped model computes
    exactly what the base does until the first update).
    """
    peft = _peft()
    targets: str | list[str] = (
        ALL_LINEAR if list(params.target_modules) == [ALL_LINEAR] else list(params.target_modules)
    )
    config = peft.LoraConfig(
        r=params.r,
        lora_alpha=params.alpha,
        lora_dropout=params.dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    linear = _linear_names(model)
    try:
        wrapped: nn.Module = peft.get_peft_model(model, config)
    except ValueError as error:  # PEFT's "Target modules {...} not found in the base model"
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ValueError(
            f"model.lora.target_modules {list(params.target_modules)}: {first[:200]} "
            f"Linear modules of this model: {', '.join(linear)}; or use ['{ALL_LINEAR}']."
        ) from None
    peft_config: Any = getattr(wrapped, "peft_config")  # noqa: B009 (set by PEFT, untyped)
    peft_config["default"].base_model_name_or_path = str(Path(base_path).resolve())
    return wrapped


def decoding_model(model: nn.Module) -> nn.Module:
    """The module a sampler should call: a LoRA model's inner HF model (the same modules,
    adapters active), else ``model``. Decoding through the inner model keeps its own forward
    signature (its ``cache`` keyword; PEFT's wrapper only forwards ``**kwargs``) and skips
    the wrapper's per-call hooks, which a decode loop would pay every token."""
    if not is_lora(model):
        return model
    inner: nn.Module = getattr(model, "get_base_model")()  # noqa: B009 (PEFT, untyped)
    return inner


def adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter weights of a LoRA model, keyed as PEFT saves them."""
    return dict(_peft().get_peft_model_state_dict(model))


def load_adapter_weights(model: nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """Put saved adapter weights into a LoRA model, in place.

    Raises ``ValueError`` when the saved adapters have other tensors or shapes than the
    model's (a different ``model.lora`` r or target_modules, or another base model).
    """
    expected = adapter_state(model)
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    reshaped = sorted(
        k for k in set(expected) & set(weights) if expected[k].shape != weights[k].shape
    )
    if missing or unexpected or reshaped:
        raise ValueError(
            "the saved adapters do not fit this model's LoRA (other model.lora.r or "
            f"target_modules, or another base model): missing {missing[:3]}, unexpected "
            f"{unexpected[:3]}, other shapes {reshaped[:3]}"
        )
    _peft().set_peft_model_state_dict(model, weights)


class AdaptersOff(nn.Module):
    """The base model under a LoRA policy: the same module, run with its adapters switched off.

    A LoRA run's KL reference (its base never trains, so this is the policy it started from)
    with no second copy of the weights. The policy is held outside this module's tree, so
    ``eval()``/``train()`` here never change the policy's mode; the forward runs the policy in
    eval mode (as a frozen reference copy would be) and restores the mode after.
    """

    def __init__(self, policy: nn.Module) -> None:
        super().__init__()
        if not is_lora(policy):
            raise ValueError("AdaptersOff needs a LoRA model (see apply_lora)")
        self._policy = (policy,)  # a tuple: not registered as a submodule

    @property
    def policy(self) -> nn.Module:
        return self._policy[0]

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]:
        return self.policy.parameters(recurse)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        policy: Any = self.policy
        was_training = policy.training
        policy.eval()
        try:
            with torch.no_grad(), policy.disable_adapter():
                return policy(*args, **kwargs)
        finally:
            policy.train(was_training)


def _read_adapter_config(adapter_dir: Path) -> dict[str, Any]:
    try:
        config: dict[str, Any] = json.loads((adapter_dir / ADAPTER_CONFIG).read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{adapter_dir / ADAPTER_CONFIG} is unreadable ({error})") from None
    return config


def merge_adapter_folder(
    adapter_dir: str | Path,
    out: str | Path,
    *,
    base: str | Path | None = None,
    dtype: str = "float32",
) -> Path:
    """Fold the adapters of ``adapter_dir`` into their base; write a plain HF folder ``out``.

    The base is ``base`` when given, else the folder named in ``adapter_config.json``. The
    tokenizer comes from ``adapter_dir`` when it holds one (a checkpoint does), else from the
    base. ``out`` must not exist or be empty, so a merge never mixes with older files.
    """
    peft = _peft()
    adapter_dir, out = Path(adapter_dir), Path(out)
    if not is_adapter_folder(adapter_dir):
        raise ValueError(f"{adapter_dir} holds no LoRA adapters (no {ADAPTER_CONFIG})")
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"--out {out} is not empty; choose a new folder")
    base_path = base or _read_adapter_config(adapter_dir).get("base_model_name_or_path")
    if not base_path:
        raise ValueError(f"{adapter_dir / ADAPTER_CONFIG} names no base model; pass --base")
    model, tokenizer = load_model_and_tokenizer(base_path, dtype=dtype)
    wrapped = peft.PeftModel.from_pretrained(model, str(adapter_dir))
    merged = wrapped.merge_and_unload()
    if (adapter_dir / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        tokenizer = prepare_tokenizer(
            AutoTokenizer.from_pretrained(adapter_dir, local_files_only=True)
        )
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out
