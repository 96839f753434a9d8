"""Data-parallel updates under ``torchrun``: DDP replicas, or FSDP2 shards (``train.fsdp``).

One process (no ``torchrun``) is the same code with :data:`SINGLE`: every helper here is a
no-op there, so the same config trains on a laptop and under
``torchrun --nproc-per-node N --no-python t2po train ...`` (``t2po`` is a console script,
not a Python file: without ``--no-python`` torchrun runs ``python t2po``).

The division of work (``Trainer`` owns the order, this module only the mechanics):

* **Rank 0 rolls out and computes the advantages** on the whole batch, then broadcasts the
  turn samples, so every rank updates on identical advantages. Why not split the rollouts:
  our sampler runs in the trainer's process, and under FSDP every forward is a collective;
  episodes of different lengths on different ranks would deadlock it. Ray rollout workers
  (``rollout.workers``) are the way to parallelise sampling.
* **Every rank updates on its share of each mini-batch**: the mini-batch is cut into the
  same micro-batches as in one process and rank ``r`` runs micro-batches ``r, r + N, ...``.
  Each micro-batch's loss keeps its one-process weight (its tokens over the *whole*
  mini-batch's tokens, known to every rank since each holds the whole batch), times ``N``
  because DDP and FSDP average gradients over ranks. The sum over ranks is then the
  one-process gradient, for every ``algo.loss_agg`` and ``algo.top_entropy_frac`` (both act
  inside a micro-batch), up to float summation order.
* **Ranks run the same number of passes**: a rank short of micro-batches runs a pass with
  zero loss. DDP needs every rank in the gradient all-reduce, and under FSDP every forward
  gathers parameters from all ranks. The extra pass costs no wall time: that rank would
  otherwise wait for the others.
* **Rank 0 logs and checkpoints**; checkpoints hold whole weights and an index-keyed
  optimizer state (as in one process), so a run resumes under any world size.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

T = TypeVar("T")


@dataclass(frozen=True)
class Ranks:
    """Where this process stands among the ranks of a data-parallel update."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that rolls out, logs and checkpoints."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


SINGLE = Ranks()


def init_from_env(device: str) -> tuple[Ranks, str]:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``).

    Returns the ranks and this rank's device: ``cuda`` becomes ``cuda:<LOCAL_RANK>`` (NCCL),
    anything else uses gloo. Without ``torchrun`` (or with one process): :data:`SINGLE`.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE, device
    if device.startswith("cuda"):
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return Ranks(dist.get_rank(), dist.get_world_size()), device


def close(ranks: Ranks) -> None:
    """Leave the process group (after a barrier, so no rank exits while others still talk)."""
    if ranks.active and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier(ranks: Ranks) -> None:
    if ranks.active:
        dist.barrier()


def broadcast(obj: T, ranks: Ranks) -> T:
    """Rank 0's ``obj`` on every rank (pickled between the ranks of this job, never from disk)."""
    if not ranks.active:
        return obj
    box: list[Any] = [obj if ranks.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]  # type: ignore[no-any-return]


def gather(items: list[T], ranks: Ranks) -> list[T]:
    """Every rank's ``items``, concatenated in rank order, on every rank."""
    if not ranks.active:
        return list(items)
    out: list[Any] = [None] * ranks.world_size
    dist.all_gather_object(out, items)
    return [item for part in out for item in part]


def my_share(n: int, ranks: Ranks) -> list[int]:
    """The indices of ``n`` work items this rank runs (``r, r + N, ...``), padded with ``-1``
    (a pass that only keeps this rank in step) up to ``ceil(n / N)`` on every rank."""
    mine = list(range(ranks.rank, n, ranks.world_size))
    passes = -(-n // ranks.world_size)
    return mine + [-1] * (passes - len(mine))


# ---------------------------------------------------------------------------- wrapping


def wrap(model: nn.Module, ranks: Ranks, fsdp: bool) -> nn.Module:
    """The module the update runs through: DDP around ``model``, or ``model`` sharded in place
    by FSDP2 (one shard group per decoder layer, then the root), or ``model`` itself."""
    if not ranks.active:
        return model
    if fsdp:
        shard(model)
        return model
    device = next(model.parameters()).device
    # Buffers (rotary frequencies) are constants: syncing them at every forward would make
    # every forward a collective, which the no-gradient log-prob passes do not need.
    # (torch 2.13 renamed broadcast_buffers to forward_sync_buffers; pyproject allows 2.4.)
    ddp = nn.parallel.DistributedDataParallel
    no_sync = (
        {"forward_sync_buffers": False}
        if "forward_sync_buffers" in inspect.signature(ddp).parameters
        else {"broadcast_buffers": False}
    )
    device_ids = [device.index] if device.type == "cuda" else None
    return ddp(model, device_ids, **no_sync)  # type: ignore[arg-type]


def shard(model: nn.Module) -> None:
    """FSDP2 ``fully_shard`` per decoder layer (HF's ``_no_split_modules``), then the root."""
    try:
        from torch.distributed.fsdp import fully_shard
    except ImportError:  # torch < 2.6 has it only under a private path
        raise ImportError(
            f"train.fsdp=true needs torch>=2.6 (FSDP2's fully_shard); this is {torch.__version__}"
        ) from None

    layer_types = set(getattr(model, "_no_split_modules", None) or [])
    for module in model.modules():
        if module is not model and type(module).__name__ in layer_types:
            fully_shard(module)
    fully_shard(model)


def is_fsdp(model: nn.Module) -> bool:
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # torch < 2.6: no FSDP2, so nothing is sharded
        return False
    return isinstance(model, FSDPModule)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (FSDP2 shards in place: the module itself)."""
    if isinstance(model, nn.parallel.DistributedDataParallel):
        inner: nn.Module = model.module
        return inner
    return model


@contextlib.contextmanager
def gradient_sync(model: nn.Module, enabled: bool) -> Iterator[None]:
    """Inside, backward passes only accumulate (no all-reduce) unless ``enabled``."""
    if isinstance(model, nn.parallel.DistributedDataParallel) and not enabled:
        with model.no_sync():
            yield
    elif is_fsdp(model):
        model.set_requires_gradient_sync(enabled)  # type: ignore[operator]
        try:
            yield
        finally:
            model.set_requires_gradient_sync(True)  # type: ignore[operator]
    else:
        yield


def local_value(x: torch.Tensor) -> torch.Tensor:
    """A plain tensor from a (replicated) DTensor, e.g. FSDP's total gradient norm."""
    full = getattr(x, "full_tensor", None)
    return full() if callable(full) else x


# ---------------------------------------------------------------------------- FSDP states


def full_model_state(model: nn.Module) -> dict[str, Any]:
    """The whole weights of a sharded model on CPU, on rank 0 (empty elsewhere); collective."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return dict(get_model_state_dict(model, options=options))  # name -> CPU tensor


def _fqns(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[list[str]]:
    names = {id(p): n for n, p in model.named_parameters()}
    return [[names[id(p)] for p in group["params"]] for group in optimizer.param_groups]


def full_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """A sharded optimizer's state as one process saves it (keys 0, 1, ... in parameter order),
    on CPU, on rank 0 (empty elsewhere); collective."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    by_name: dict[str, Any] = dict(get_optimizer_state_dict(model, optimizer, options=options))
    if not by_name:
        return {}
    fqns = _fqns(model, optimizer)
    index = {name: i for i, name in enumerate(n for group in fqns for n in group)}
    groups = [
        {**group, "params": [index[n] for n in names]}
        for group, names in zip(by_name["param_groups"], fqns, strict=True)
    ]
    state = {index[name]: value for name, value in by_name["state"].items()}
    return {"state": state, "param_groups": groups}


def load_full_optimizer_state(
    model: nn.Module, optimizer: torch.optim.Optimizer, saved: dict[str, Any]
) -> None:
    """Load a one-process (index-keyed) optimizer state into a sharded optimizer."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_optimizer_state_dict,
    )

    names = [n for group in _fqns(model, optimizer) for n in group]
    state = {names[int(i)]: value for i, value in saved["state"].items()}
    groups = [
        {**group, "params": [names[int(i)] for i in group["params"]]}
        for group in saved["param_groups"]
    ]
    set_optimizer_state_dict(
        model,
        optimizer,
        {"state": state, "param_groups": groups},
        options=StateDictOptions(full_state_dict=True),
    )


class SavedOptimizer:
    """What ``save_checkpoint`` asks of an optimizer (``state_dict``) for a gathered state."""

    def __init__(self, state: dict[str, Any]) -> None:
        self._state = state

    def state_dict(self) -> dict[str, Any]:
        return self._state


def merge_stats(
    tagged: Sequence[tuple[tuple[int, ...], str, float]], ranks: Ranks
) -> dict[str, list[float]]:
    """Per-micro-batch statistics of all ranks, in one-process order (by their tags)."""
    merged: dict[str, list[float]] = {}
    for _, key, value in sorted(gather(list(tagged), ranks), key=lambda t: t[0]):
        merged.setdefault(key, []).append(value)
    return merged
