"""Checkpoints: model (safetensors, a normal HF folder), optimizer, RNG states, iteration.

A checkpoint is written to a temporary folder and renamed into place, so a crash while
saving never leaves a half checkpoint that ``latest_checkpoint`` would pick up.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

_PREFIX = "iter_"


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    iteration: int  # number of completed iterations


def _rng_state() -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    run_dir: Path,
    iteration: int,
    model: Any,
    tokenizer: Any,
    optimizer: torch.optim.Optimizer | None,
    extra: dict[str, Any] | None = None,
    keep: int = 2,
    modules: dict[str, Any] | None = None,
) -> Checkpoint:
    """Save after ``iteration`` completed iterations; keep the newest ``keep`` checkpoints."""
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{_PREFIX}{iteration:06d}"
    tmp = root / f".tmp_{_PREFIX}{iteration:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp / "model", safe_serialization=True)
    tokenizer.save_pretrained(tmp / "model")
    if optimizer is not None:
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(_rng_state(), tmp / "rng.pt")
    if modules:  # e.g. the critic and its optimizer: anything with a state_dict
        torch.save({k: m.state_dict() for k, m in modules.items()}, tmp / "modules.pt")
    (tmp / "state.json").write_text(json.dumps({"iteration": iteration, **(extra or {})}))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old.path, ignore_errors=True)
    return Checkpoint(final, iteration)


def list_checkpoints(run_dir: Path) -> list[Checkpoint]:
    """Complete checkpoints, oldest first."""
    root = run_dir / "checkpoints"
    found = []
    for path in root.glob(f"{_PREFIX}*") if root.is_dir() else []:
        state = path / "state.json"
        if state.is_file():
            found.append(Checkpoint(path, int(json.loads(state.read_text())["iteration"])))
    return sorted(found, key=lambda c: c.iteration)


def latest_checkpoint(run_dir: Path) -> Checkpoint | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def load_training_state(
    checkpoint: Checkpoint,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    modules: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Restore weights, optimizer and RNG states in place; returns the saved state dict."""
    from safetensors.torch import load_file

    weights: dict[str, torch.Tensor] = {}
    for f in sorted((checkpoint.path / "model").glob("*.safetensors")):
        weights.update(load_file(f))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    # Tied embeddings are saved once; anything else missing is a real mismatch.
    real_missing = [k for k in missing if "lm_head" not in k]
    if real_missing or unexpected:
        raise RuntimeError(
            f"Checkpoint {checkpoint.path} does not match the model: missing {real_missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    if optimizer is not None and (checkpoint.path / "optimizer.pt").is_file():
        saved_optimizer = torch.load(checkpoint.path / "optimizer.pt", weights_only=False)
        _check_same_trained_parameters(checkpoint, saved_optimizer, optimizer)
        optimizer.load_state_dict(saved_optimizer)
    if modules:
        saved = torch.load(checkpoint.path / "modules.pt", weights_only=False)
        for name, module in modules.items():
            module.load_state_dict(saved[name])
    _restore_rng(torch.load(checkpoint.path / "rng.pt", weights_only=False))
    state: dict[str, Any] = json.loads((checkpoint.path / "state.json").read_text())
    return state


def _check_same_trained_parameters(
    checkpoint: Checkpoint, saved: dict[str, Any], optimizer: torch.optim.Optimizer
) -> None:
    """Refuse, with the likely cause, an optimizer state saved for other trained parameters.

    torch's own message ("loaded state dict contains a parameter group that doesn't match the
    size of optimizer's group") does not say why; the usual reason is a change of
    ``optim.frozen`` (or of the model) between the run and its resume.
    """
    saved_sizes = [len(group["params"]) for group in saved["param_groups"]]
    sizes = [len(group["params"]) for group in optimizer.param_groups]
    if saved_sizes != sizes:
        raise ValueError(
            f"cannot resume from {checkpoint.path}: its optimizer state is for "
            f"{sum(saved_sizes)} trained parameter tensors in groups of {saved_sizes}, this "
            f"run trains {sum(sizes)} in groups of {sizes}. Resume with the settings the run "
            "was started with (optim.frozen, the model), or start a new run_dir."
        )
