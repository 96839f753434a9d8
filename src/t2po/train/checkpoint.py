"""Checkpoints: model (safetensors, a normal HF folder), optimizer, RNG states, iteration.

A LoRA run (``model.lora.r > 0``) saves only its adapters in ``model/`` (PEFT's
``adapter_config.json`` + ``adapter_model.safetensors``, with the tokenizer); resuming puts
them back on top of the same base. ``t2po models merge`` turns them into a whole HF folder.

Safe to resume from a shared or damaged run folder:

* **Nothing is unpickled.** Weights are safetensors; optimizer, scheduler, critic and RNG
  states are safetensors + JSON (``state_files``); the iteration is ``state.json``. A
  pickle planted in a run folder (``rng.pt``, ``optimizer.pt``) is never read.
* **Verified.** ``manifest.json`` (every file's size and sha256) is written last; a
  checkpoint whose files do not match it is reported by path and skipped, and the run
  resumes from the newest intact checkpoint (a warning says which and why).
* **Atomic.** A checkpoint is written to a temporary folder and renamed into place, so a
  crash while saving never leaves a half checkpoint under an ``iter_`` name.

Checkpoints from before the manifest (``optimizer.pt``, ``rng.pt``, ``modules.pt``) still
load, unverified, through torch's weights-only unpickler, which refuses any object other
than tensors, containers and numbers (and, for the numpy RNG state, numpy arrays).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from t2po.models.vision import copy_processor_files
from t2po.train.state_files import load_tree, save_tree, tree_files

_PREFIX = "iter_"
_NAME = re.compile(rf"{_PREFIX}(\d+)")
MANIFEST = "manifest.json"
FORMAT = 2  # 1: pickled .pt files, no manifest
_LEGACY_FILES = ("optimizer.pt", "modules.pt", "rng.pt")


class CheckpointError(ValueError):
    """A checkpoint that is damaged, incomplete or holds something we refuse to load."""


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    iteration: int  # number of completed iterations
    verified: bool = False  # its files matched its manifest when it was found or written


# ---------------------------------------------------------------------------- RNG states


def _rng_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    assert isinstance(keys, np.ndarray)  # legacy=True: the ('MT19937', keys, ...) tuple
    return {
        "python": random.getstate(),
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _restore_rng(state: dict[str, Any]) -> None:
    random.setstate(_as_tuples(state["python"]))
    numpy_state = state["numpy"]
    if isinstance(numpy_state, dict):
        keys = numpy_state["keys"].numpy().astype(np.uint32)
        np.random.set_state(
            (
                numpy_state["name"],
                keys,
                numpy_state["pos"],
                numpy_state["has_gauss"],
                numpy_state["cached_gaussian"],
            )
        )
    else:  # format 1: numpy's own tuple
        np.random.set_state(numpy_state)
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuples(value: Any) -> Any:
    """``random.setstate`` wants tuples all the way down; a format-1 file may hold lists."""
    if isinstance(value, list | tuple):
        return tuple(_as_tuples(v) for v in value)
    return value


# ---------------------------------------------------------------------------- saving


def save_checkpoint(
    run_dir: Path,
    iteration: int,
    model: Any,
    tokenizer: Any,
    optimizer: torch.optim.Optimizer | None,
    extra: dict[str, Any] | None = None,
    keep: int = 2,
    modules: dict[str, Any] | None = None,
    processor_from: Path | None = None,
) -> Checkpoint:
    """Save after ``iteration`` completed iterations; keep the newest ``keep`` checkpoints.

    ``modules`` are extra things with a ``state_dict`` (the scheduler, the critic and its
    optimizer); their states must be tensors, containers and numbers. ``processor_from``: the
    vision-language model folder the run started from, whose processor files ``model/`` gets
    (so the checkpoint evaluates and serves as that model).
    """
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{_PREFIX}{iteration:06d}"
    tmp = root / f".tmp_{_PREFIX}{iteration:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp / "model", safe_serialization=True)
    tokenizer.save_pretrained(tmp / "model")
    if processor_from is not None:
        copy_processor_files(processor_from, tmp / "model")
    if optimizer is not None:
        save_tree(tmp / "optimizer", optimizer.state_dict())
    save_tree(tmp / "rng", _rng_state())
    if modules:
        save_tree(tmp / "modules", {k: m.state_dict() for k, m in modules.items()})
    (tmp / "state.json").write_text(json.dumps({"iteration": iteration, **(extra or {})}))
    _write_manifest(tmp)  # last: a folder with a valid manifest is complete
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    # Prune only older checkpoints: a damaged newer one (skipped at resume) must never
    # outlive the one just written.
    older = [c for c in _candidates(run_dir) if c.iteration < iteration]
    for old in older[: max(0, len(older) - (keep - 1))] if keep > 0 else []:
        shutil.rmtree(old.path, ignore_errors=True)
    return Checkpoint(final, iteration, verified=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_manifest(folder: Path) -> None:
    files = {
        p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
    manifest = {"format": FORMAT, "files": files}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))


# ---------------------------------------------------------------------------- finding


def _candidates(run_dir: Path) -> list[Checkpoint]:
    """Every ``iter_*`` folder, oldest first, intact or not."""
    root = run_dir / "checkpoints"
    found = []
    for path in root.iterdir() if root.is_dir() else []:
        match = _NAME.fullmatch(path.name)
        if match and path.is_dir():
            found.append(Checkpoint(path, int(match.group(1))))
    return sorted(found, key=lambda c: c.iteration)


def list_checkpoints(run_dir: Path) -> list[Checkpoint]:
    """Checkpoints that finished saving (manifest, or a format-1 ``state.json``), oldest first.

    Cheap (no hashing); :func:`latest_checkpoint` verifies the one it returns.
    """
    return [
        c
        for c in _candidates(run_dir)
        if (c.path / MANIFEST).is_file() or (c.path / "state.json").is_file()
    ]


def latest_checkpoint(run_dir: Path) -> Checkpoint | None:
    """The newest checkpoint that passes :func:`verify_checkpoint`, or None if there is none.

    Each newer damaged checkpoint is reported by path in a warning. Raises
    :class:`CheckpointError` when checkpoints exist but none is intact, rather than
    silently starting the run over.
    """
    damaged: list[str] = []
    for checkpoint in reversed(_candidates(run_dir)):
        try:
            verify_checkpoint(checkpoint)
        except CheckpointError as error:
            damaged.append(str(error))
            continue
        if damaged:
            warnings.warn(
                "skipped damaged checkpoints: "
                + "; ".join(damaged)
                + f". Resuming from {checkpoint.path} (iteration {checkpoint.iteration}).",
                stacklevel=2,
            )
        return Checkpoint(checkpoint.path, checkpoint.iteration, verified=True)
    if damaged:
        raise CheckpointError(
            "no intact checkpoint to resume from: "
            + "; ".join(damaged)
            + f". Move {run_dir / 'checkpoints'} aside to start over, or set train.resume=false."
        )
    return None


# ---------------------------------------------------------------------------- verifying


def verify_checkpoint(checkpoint: Checkpoint) -> None:
    """Raise :class:`CheckpointError` naming the file when ``checkpoint`` is not intact.

    With a manifest: every listed file exists with its size and sha256, and the parts a
    resume needs are listed. Without one (format 1): every file loads, pickles only through
    the weights-only unpickler.
    """
    path = checkpoint.path
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        if (path / "rng.pt").is_file():
            _verify_format_1(checkpoint)
            return
        raise CheckpointError(f"{manifest_path} is missing (the save did not finish)")
    try:
        manifest = json.loads(manifest_path.read_text())
        files: dict[str, dict[str, Any]] = manifest["files"]
    except (ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"{manifest_path} is unreadable ({error})") from None
    needed = ["state.json", *tree_names("rng")]
    lacking = [n for n in needed if n not in files]
    if lacking or not any(n.startswith("model/") and n.endswith(".safetensors") for n in files):
        raise CheckpointError(f"{manifest_path} does not list {lacking or 'the model weights'}")
    for name, expected in files.items():
        file = path / name
        if ".." in Path(name).parts or not file.is_file():
            raise CheckpointError(f"{file} is missing")
        size = file.stat().st_size
        if size != expected.get("bytes"):
            raise CheckpointError(
                f"{file} has {size} bytes, the manifest says {expected.get('bytes')} (truncated?)"
            )
        if _sha256(file) != expected.get("sha256"):
            raise CheckpointError(f"{file} does not match its sha256 in the manifest")


def tree_names(stem: str) -> list[str]:
    """The file names ``save_tree`` writes for ``stem``."""
    return [p.name for p in tree_files(Path(stem))]


def _verify_format_1(checkpoint: Checkpoint) -> None:
    from safetensors import safe_open

    path = checkpoint.path
    try:
        json.loads((path / "state.json").read_text())["iteration"]
        for f in sorted((path / "model").glob("*.safetensors")):
            with safe_open(str(f), framework="pt") as weights:
                for key in weights.keys():  # noqa: SIM118 (safe_open has no __iter__)
                    weights.get_tensor(key)
    except Exception as error:  # any parse error means a damaged file
        raise CheckpointError(f"{path}: {error}") from None
    for name in _LEGACY_FILES:
        if (path / name).is_file():
            _load_format_1(path / name)


def _load_format_1(file: Path) -> Any:
    """A format-1 ``.pt`` through torch's weights-only unpickler (never running code)."""
    # numpy's RNG state is a tuple holding an ndarray: these are the globals that needs.
    numpy_globals: list[Callable[..., Any] | tuple[Callable[..., Any], str]] = [
        np.ndarray,
        np.dtype,
        type(np.dtype(np.uint32)),
        np._core.multiarray._reconstruct,  # type: ignore[attr-defined]
    ]
    try:
        with torch.serialization.safe_globals(numpy_globals):
            return torch.load(file, weights_only=True, map_location="cpu")
    except Exception as error:  # refused (UnpicklingError) or truncated (EOFError, ...)
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise CheckpointError(
            f"{file} was refused or is damaged ({type(error).__name__}: {first_line[:200]})"
        ) from None


# ---------------------------------------------------------------------------- loading


def load_training_state(
    checkpoint: Checkpoint,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    modules: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Restore weights, optimizer and RNG states in place; returns the saved state dict.

    Verifies the checkpoint first unless it was (``latest_checkpoint`` returns it verified).
    """
    if not checkpoint.verified:
        verify_checkpoint(checkpoint)  # once, for both parts
        checkpoint = Checkpoint(checkpoint.path, checkpoint.iteration, verified=True)
    load_model_weights(checkpoint, model)
    return load_run_state(checkpoint, optimizer, modules)


def load_model_weights(checkpoint: Checkpoint, model: nn.Module) -> None:
    """Restore the policy's weights (or its LoRA adapters) in place, from whole weights.

    A data-parallel run loads them before its model is wrapped or sharded
    (``t2po.train.distributed``), so any world size resumes any checkpoint.
    """
    from safetensors.torch import load_file

    from t2po.models.lora import is_adapter_folder, is_lora, load_adapter_weights

    if not checkpoint.verified:
        verify_checkpoint(checkpoint)
    path = checkpoint.path
    weights: dict[str, torch.Tensor] = {}
    for f in sorted((path / "model").glob("*.safetensors")):
        weights.update(load_file(f))
    if is_adapter_folder(path / "model") != is_lora(model):
        lora = is_lora(model)
        saved, now = ("a whole model", "with") if lora else ("LoRA adapters", "without")
        raise CheckpointError(
            f"cannot resume from {path}: it holds {saved} and this run is {now} LoRA "
            "(model.lora.r); resume with the model.lora the run was started with, or start a "
            "new run_dir"
        )
    if is_lora(model):
        try:
            load_adapter_weights(model, weights)
        except ValueError as error:
            raise CheckpointError(f"cannot resume from {path}: {error}") from None
    else:
        missing, unexpected = model.load_state_dict(weights, strict=False)
        # Tied embeddings are saved once; anything else missing is a real mismatch.
        real_missing = [k for k in missing if "lm_head" not in k]
        if real_missing or unexpected:
            raise RuntimeError(
                f"Checkpoint {path} does not match the model: missing {real_missing[:5]}, "
                f"unexpected {unexpected[:5]}"
            )


def load_run_state(
    checkpoint: Checkpoint,
    optimizer: torch.optim.Optimizer | None,
    modules: dict[str, Any] | None = None,
    load_optimizer: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Restore optimizer, ``modules`` and RNG states in place; returns the saved state dict.

    ``load_optimizer`` replaces ``optimizer.load_state_dict`` for the saved (one-process,
    index-keyed) state, e.g. to load it into FSDP's sharded optimizer.
    """
    if not checkpoint.verified:
        verify_checkpoint(checkpoint)
    path = checkpoint.path
    format_1 = not (path / MANIFEST).is_file()

    def part(stem: str) -> Any:
        if format_1:
            file = path / f"{stem}.pt"
            return _load_format_1(file) if file.is_file() else None
        return load_tree(path / stem) if (path / tree_names(stem)[1]).is_file() else None

    saved_optimizer = part("optimizer") if optimizer is not None else None
    if optimizer is not None and saved_optimizer is not None:
        _check_same_trained_parameters(checkpoint, saved_optimizer, optimizer)
        (load_optimizer or optimizer.load_state_dict)(saved_optimizer)
    if modules:
        saved = part("modules")
        if saved is None:
            raise CheckpointError(f"{path} holds no state for {sorted(modules)}")
        for name, module in modules.items():
            module.load_state_dict(saved[name])
    _restore_rng(part("rng"))
    state: dict[str, Any] = json.loads((path / "state.json").read_text())
    return state


def read_modules_state(checkpoint: Checkpoint) -> dict[str, Any]:
    """The saved ``modules`` states (scheduler, critic, ...) of a checkpoint, for inspection."""
    return dict(load_tree(checkpoint.path / "modules"))


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
