"""``Trainer`` under 2 gloo ranks with the tiny model: the same run as one process, rank 0
alone writes, checkpoints resume across world sizes (DDP and FSDP2), and ``torchrun ... t2po
train`` works."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from test_distributed import free_port, join_group, spawn

from t2po.config import config_from_dict
from t2po.train.trainer import train

pytestmark = pytest.mark.slow


def config(run_dir: Path, iterations: int) -> dict[str, Any]:
    return {
        "seed": 7,
        "run_dir": str(run_dir),
        "model": {"path": "tiny"},
        "env": {"family": "sokoban", "max_turns": 3},
        "rollout": {"tasks_per_iter": 2, "group_size": 3, "max_new_tokens": 24},
        "tti": {"l_min": 4, "window": 2, "eps": 1e-2, "l_max": 12},
        # eps 1e-4: Adam divides by sqrt(v) + eps, so a gradient that is float noise (an
        # embedding row whose contributions cancel) would otherwise become a full-size step;
        # see tests/train/test_distributed.py.
        "optim": {"lr": 1e-3, "eps": 1e-4, "mini_batch_size": 8, "micro_batch_size": 2},
        "train": {"iterations": iterations, "eval_every": 0, "eval_tasks": 0},
        "log": {"loggers": ["jsonl"], "transcripts_per_iter": -1, "progress": False},
    }


def train_worker(rank: int, world: int, port: int, data: dict[str, Any]) -> None:
    join_group(rank, world, port)
    train(config_from_dict(data))  # closes the process group at the end


def train_in_one_process(data: dict[str, Any]) -> None:
    train(config_from_dict(data))


def weights(run_dir: Path, iteration: int) -> dict[str, torch.Tensor]:
    return load_file(
        run_dir / "checkpoints" / f"iter_{iteration:06d}" / "model" / "model.safetensors"
    )


def rows(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def assert_same_weights(
    a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float = 1e-6
) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=atol, msg=name)


def test_two_ranks_train_as_one_process_and_resume_across_world_sizes(tmp_path: Path) -> None:
    one, two, back = tmp_path / "one", tmp_path / "two", tmp_path / "one_then_two"
    train_in_one_process(config(one, 1))
    shutil.copytree(one, back)  # saved by one process, resumed below by two ranks
    spawn(train_worker, config(two, 1))
    # The 2-rank iteration updated the weights as one process did, from the same rollouts.
    assert_same_weights(weights(one, 1), weights(two, 1))
    # Rank 0 alone logged: one metrics row per step, the same statistics (all ranks' micro-
    # batches), and as many transcript lines as one process wrote.
    (row_one,), (row_two,) = rows(one), rows(two)
    assert row_two["step"] == 1
    for key, value in row_one.items():
        if key.startswith(("actor/", "batch/", "rollout/")):
            assert row_two[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    transcripts = [(p / "transcripts.jsonl").read_text().count("\n") for p in (one, two)]
    assert transcripts[0] == transcripts[1] > 0
    assert sorted(p.name for p in (two / "checkpoints").iterdir()) == ["iter_000001"]

    train_in_one_process(config(one, 2))  # the reference: one process throughout
    train_in_one_process(config(two, 2))  # saved by 2 ranks, resumed by 1
    spawn(train_worker, config(back, 2))  # saved by 1, resumed by 2 ranks
    # The second iteration rolls out from weights that differ in the last float digits (the
    # summation order) and takes a second Adam step: the same episodes (rollout metrics equal
    # exactly), weights equal to a looser tolerance.
    reference = weights(one, 2)
    assert_same_weights(reference, weights(two, 2), atol=1e-5)
    assert_same_weights(reference, weights(back, 2), atol=1e-5)
    assert not torch.equal(reference["model.norm.weight"], weights(one, 1)["model.norm.weight"])
    assert [r["step"] for r in rows(two)] == [1, 2] == [r["step"] for r in rows(back)]
    last = rows(one)[-1]
    for run in (two, back):
        assert {k: v for k, v in rows(run)[-1].items() if k.startswith("rollout/")} == {
            k: v for k, v in last.items() if k.startswith("rollout/")
        }


def with_fsdp(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "train": {**data["train"], "fsdp": True}}


@pytest.mark.heavy  # 5 short runs, 2 of them 2-rank: minutes on 2 busy cores
def test_fsdp_checkpoints_resume_across_world_sizes(tmp_path: Path) -> None:
    """FSDP2 ranks save whole weights and the optimizer state gathered from their shards (as
    one process saves it): 2 FSDP ranks resume a one-process checkpoint, 1 process resumes
    theirs, and both second steps are the one-process run's. Adam's second step reads the
    saved moments, so a lost or misplaced optimizer state shows in the weights."""
    one, two, back = tmp_path / "one", tmp_path / "two", tmp_path / "one_then_two"
    train_in_one_process(config(one, 1))
    shutil.copytree(one, back)
    spawn(train_worker, with_fsdp(config(two, 1)))  # saved by 2 FSDP ranks
    assert_same_weights(weights(one, 1), weights(two, 1))
    train_in_one_process(config(one, 2))
    train_in_one_process(with_fsdp(config(two, 2)))  # resumed by 1 process (fsdp unused)
    spawn(train_worker, with_fsdp(config(back, 2)))  # one process's, resumed by 2 FSDP ranks
    reference = weights(one, 2)
    assert_same_weights(reference, weights(two, 2), atol=1e-5)
    assert_same_weights(reference, weights(back, 2), atol=1e-5)
    assert [r["step"] for r in rows(two)] == [1, 2] == [r["step"] for r in rows(back)]


def test_torchrun_t2po_train_two_ranks_end_to_end(tmp_path: Path) -> None:
    run = tmp_path / "run"
    t2po = Path(sys.executable).parent / "t2po"
    overrides = [
        f"run_dir={run}",
        "model.path=tiny",
        "env.family=sokoban",
        "env.max_turns=2",
        "rollout.tasks_per_iter=2",
        "rollout.group_size=2",
        "rollout.max_new_tokens=16",
        "optim.mini_batch_size=8",
        "optim.micro_batch_size=2",
        "train.iterations=1",
        "train.eval_tasks=0",
        "log.loggers=[jsonl]",
        "log.progress=false",
    ]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        str(free_port()),
        str(t2po),
        "train",
        *overrides,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("done: 1 iterations") == 1  # rank 0 alone reports
    assert [r["step"] for r in rows(run)] == [1]
    assert "actor/pg_loss" in rows(run)[0]
    assert (run / "checkpoints" / "iter_000001" / "manifest.json").is_file()
