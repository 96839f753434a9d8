"""Data-parallel update (``t2po.train.distributed``) with gloo on CPU: 2 processes = 1 process.

Each test spawns 2 ranks (``torch.multiprocessing``), runs the same PPO update as one process
on the same batch, and compares gradients, updated weights and the reduced statistics.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.multiprocessing as mp
from conftest import default_update, random_qwen3
from safetensors.torch import load_file, save_file

from t2po.train import distributed
from t2po.train.distributed import SINGLE, Ranks, my_share
from t2po.train.update import Sample, ppo_update

# Two settings that together touch every part of the split: several epochs and mini-batches
# (behaviour log-probs gathered across ranks), a KL reference, an odd number of micro-batches
# (a padding pass on rank 1), and a per-micro-batch aggregation and entropy quantile.
SETTINGS = {
    "token_mean_kl": {"ppo_epochs": 2, "mini_batch_size": 7, "kl_coef": 0.1},
    "seq_mean_top_entropy": {
        "ppo_epochs": 1,
        "mini_batch_size": 11,
        "loss_agg": "seq-mean-token-mean",
        "top_entropy_frac": 0.5,
    },
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def join_group(rank: int, world: int, port: int) -> Ranks:
    """What ``torchrun`` sets up, then ``init_from_env`` as the trainer calls it."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
    )
    torch.set_num_threads(1)
    ranks, device = distributed.init_from_env("cpu")
    assert (ranks, device) == (Ranks(rank, world), "cpu")
    return ranks


def batch() -> list[Sample]:
    """11 turns of varied lengths; one has no trained token (it is left out of the update)."""
    g = torch.Generator().manual_seed(5)
    samples = []
    for i in range(11):
        n_p = int(torch.randint(3, 9, (1,), generator=g))
        n_r = int(torch.randint(1, 7, (1,), generator=g))
        trainable = (torch.rand(n_r, generator=g) > 0.2).tolist() if i != 4 else [False] * n_r
        samples.append(
            Sample(
                prompt_ids=torch.randint(1, 50, (n_p,), generator=g).tolist(),
                response_ids=torch.randint(1, 50, (n_r,), generator=g).tolist(),
                trainable=trainable,
                advantage=float(torch.randn(1, generator=g)),
            )
        )
    return samples


def one_update(
    setting: str, ranks: Ranks, fsdp: bool = False
) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """The update of ``SETTINGS[setting]`` on ``batch()``; returns the gradients of the last
    step and the updated weights (whole tensors), and the statistics."""
    model = random_qwen3(0, layers=2)
    ref = copy.deepcopy(model).eval().requires_grad_(False)
    policy = distributed.wrap(model, ranks, fsdp)
    if fsdp:
        distributed.shard(ref)
    # eps 1e-4: with a small eps Adam turns a gradient of float-noise size into a ~lr step
    # whose size hangs on the gradient's last digits, which the order of summation across
    # ranks changes (eps 1e-6 passed on an Intel Xeon and failed on an AMD EPYC, whose
    # kernels round differently: k_proj of layer 1).
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-2, eps=1e-4)
    params = default_update(micro_batch_size=2, **SETTINGS[setting])
    stats = ppo_update(
        policy,
        optimizer,
        batch(),
        params,
        pad_id=0,
        generator=torch.Generator().manual_seed(3),
        ref_model=ref if params.kl_coef > 0 else None,
        ranks=ranks,
    )
    tensors = {}
    for name, p in distributed.unwrap(policy).named_parameters():
        tensors[f"weight/{name}"] = distributed.local_value(p.detach()).clone()
        assert p.grad is not None
        tensors[f"grad/{name}"] = distributed.local_value(p.grad).clone()
    return tensors, stats


def update_worker(rank: int, world: int, port: int, out: str, fsdp: bool) -> None:
    ranks = join_group(rank, world, port)
    for setting in SETTINGS:
        tensors, stats = one_update(setting, ranks, fsdp)
        save_file(tensors, f"{out}/{setting}_rank{rank}.safetensors")
        Path(f"{out}/{setting}_rank{rank}.json").write_text(json.dumps(stats))
    distributed.close(ranks)


def spawn(fn: Any, *args: Any, world: int = 2) -> None:
    mp.spawn(fn, args=(world, free_port(), *args), nprocs=world, join=True)


def assert_same_update(out: Path) -> None:
    for setting in SETTINGS:
        expected, expected_stats = one_update(setting, SINGLE)
        for rank in (0, 1):
            got = load_file(out / f"{setting}_rank{rank}.safetensors")
            assert got.keys() == expected.keys()
            for name, value in expected.items():
                torch.testing.assert_close(got[name], value, rtol=1e-5, atol=1e-6, msg=name)
            # Every rank reports the statistics of all micro-batches, as one process does.
            stats = json.loads((out / f"{setting}_rank{rank}.json").read_text())
            assert stats.keys() == expected_stats.keys()
            for key, value in expected_stats.items():
                assert stats[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
        # The update moved the weights (the comparison is not between two untouched models).
        start = random_qwen3(0, layers=2).named_parameters()
        moved = [n for n, w in start if not torch.equal(expected[f"weight/{n}"], w)]
        assert moved


def test_my_share_splits_round_robin_and_pads_to_equal_passes() -> None:
    assert my_share(5, Ranks(0, 2)) == [0, 2, 4]
    assert my_share(5, Ranks(1, 2)) == [1, 3, -1]
    assert my_share(1, Ranks(1, 3)) == [-1]
    assert my_share(4, SINGLE) == [0, 1, 2, 3]


@pytest.mark.slow
def test_two_ddp_ranks_give_the_one_process_gradients_weights_and_stats(tmp_path: Path) -> None:
    spawn(update_worker, str(tmp_path), False)
    assert_same_update(tmp_path)


@pytest.mark.slow
def test_two_fsdp_ranks_give_the_one_process_gradients_weights_and_stats(tmp_path: Path) -> None:
    # FSDP2's fully_shard works on CPU with gloo in torch >= 2.6 (checked here, not skipped).
    spawn(update_worker, str(tmp_path), True)
    assert_same_update(tmp_path)


def test_one_process_is_unchanged_by_the_ranks_argument() -> None:
    # SINGLE is the default: the same numbers whether or not a caller passes it.
    model = random_qwen3(0)
    params = default_update(micro_batch_size=2, mini_batch_size=4)
    a = ppo_update(
        model,
        torch.optim.AdamW(model.parameters(), lr=1e-2),
        batch(),
        params,
        pad_id=0,
        generator=torch.Generator().manual_seed(3),
    )
    model_b = random_qwen3(0)
    b = ppo_update(
        model_b,
        torch.optim.AdamW(model_b.parameters(), lr=1e-2),
        batch(),
        dataclasses.replace(params),
        pad_id=0,
        generator=torch.Generator().manual_seed(3),
        ranks=SINGLE,
    )
    assert a == b
    for (n, p), q in zip(model.named_parameters(), model_b.parameters(), strict=True):
        assert torch.equal(p, q), n
