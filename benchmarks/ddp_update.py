"""ddp_update: one PPO update in 1 process vs 2 gloo processes (DDP) on the same batch.

Both arms start from the same tiny model and run ``ppo_update`` on the same turn samples with
the same mini-batch order; the 2-process arm is ``t2po.train.distributed`` as
``torchrun --nproc-per-node 2 --no-python t2po train`` uses it (each rank runs half the
micro-batches, gradients all-reduced). Reported:

* ``max_abs_diff``: the largest difference between the weights either arm ends with (float
  summation order only; 0 would mean the ranks did not split the work differently at all);
* ``ratio``: median seconds per update with 2 processes / with 1 (below 1: faster; 0.5 is
  the ideal on 2 free cores). Every process uses ``--threads`` torch threads (default 1), so
  2 processes use twice the cores of 1: this measures scaling out, not a free lunch.

Usage::

    python benchmarks/ddp_update.py            # 64 turns, micro-batches of 8, 5 repeats
    python benchmarks/ddp_update.py --quick    # seconds, for tests

Last line: ``RESULT ddp_update max_abs_diff=<x> ratio=<t2/t1>``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

import _common as common

common.set_offline()

import torch  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

from t2po.config import Config  # noqa: E402
from t2po.models import load_model_and_tokenizer  # noqa: E402
from t2po.settings import update_params  # noqa: E402
from t2po.train import distributed  # noqa: E402
from t2po.train.update import Sample, ppo_update  # noqa: E402

NAME = "ddp_update"


def make_batch(turns: int, seed: int, vocab: int) -> list[Sample]:
    """Turns shaped like the tiny model's Sokoban turns: prompts of 96-160 tokens, replies
    of 16-48, about 90% of reply tokens trained, advantages ~ N(0, 1)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(turns):
        n_p = int(torch.randint(96, 161, (1,), generator=g))
        n_r = int(torch.randint(16, 49, (1,), generator=g))
        out.append(
            Sample(
                prompt_ids=torch.randint(4, vocab, (n_p,), generator=g).tolist(),
                response_ids=torch.randint(4, vocab, (n_r,), generator=g).tolist(),
                trainable=(torch.rand(n_r, generator=g) > 0.1).tolist(),
                advantage=float(torch.randn(1, generator=g)),
            )
        )
    return out


def run_arm(args: dict[str, Any], ranks: distributed.Ranks) -> tuple[list[float], Any]:
    """``repeats`` timed updates, each from the same starting weights; the last model."""
    torch.set_num_threads(args["threads"])
    model, tokenizer = load_model_and_tokenizer("tiny", device="cpu")
    start = {k: v.clone() for k, v in model.state_dict().items()}
    samples = make_batch(args["turns"], args["seed"], len(tokenizer))
    cfg = Config()
    cfg.optim.mini_batch_size = args["turns"]
    cfg.optim.micro_batch_size = args["micro"]
    cfg.optim.ppo_epochs = 2  # behaviour log-probs are taken, split and gathered too
    params = update_params(cfg)
    policy = distributed.wrap(model, ranks, fsdp=False)
    seconds = []
    for _ in range(args["repeats"] + 1):  # the first is a warm-up, not timed
        model.load_state_dict(start)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, eps=1e-6)
        distributed.barrier(ranks)
        elapsed, _ = common.timed(
            lambda optimizer=optimizer: ppo_update(
                policy,
                optimizer,
                samples,
                params,
                pad_id=tokenizer.pad_token_id,
                generator=torch.Generator().manual_seed(args["seed"]),
                ranks=ranks,
            )
        )
        seconds.append(elapsed)
    return seconds[1:], model


def two_process_worker(rank: int, port: int, args: dict[str, Any], out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2"
    )
    ranks, _ = distributed.init_from_env("cpu")
    seconds, model = run_arm(args, ranks)
    if ranks.is_main:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, f"{out}/w.st")
        Path(f"{out}/seconds.json").write_text(json.dumps(seconds))
    distributed.close(ranks)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> None:
    parser = common.base_parser(NAME, __doc__.splitlines()[0], default_repeats=5)
    ns: argparse.Namespace = parser.parse_args(argv)
    repeats = common.setup(ns, default_repeats=5)
    args = {
        "turns": 16 if ns.quick else 64,
        "micro": 4 if ns.quick else 8,
        "repeats": repeats,
        "seed": ns.seed,
        "threads": ns.threads or 1,
    }
    torch.set_num_threads(args["threads"])
    machine = common.machine_info("cpu")
    common.print_header(NAME, machine, "cpu", repeats, ns.quick)

    one_seconds, one_model = run_arm(args, distributed.SINGLE)
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(two_process_worker, args=(free_port(), args, tmp), nprocs=2, join=True)
        two_weights = load_file(f"{tmp}/w.st")
        two_seconds = json.loads(Path(f"{tmp}/seconds.json").read_text())
    one_weights = one_model.state_dict()
    max_abs_diff = max(float((one_weights[k] - two_weights[k]).abs().max()) for k in two_weights)
    t1, t2 = common.median(one_seconds), common.median(two_seconds)
    rows = [
        ["1 process", t1, min(one_seconds), "-"],
        ["2 gloo processes (DDP)", t2, min(two_seconds), f"{max_abs_diff:.2e}"],
    ]
    common.print_table(
        f"one PPO update ({args['turns']} turns, micro-batches of {args['micro']}, 2 epochs, "
        f"{args['threads']} thread(s) per process)",
        ["arm", "median s", "min s", "max |w1 - w2|"],
        rows,
    )
    payload = {
        "quick": ns.quick,
        "machine": machine,
        "settings": args,
        "seconds_one_process": one_seconds,
        "seconds_two_processes": two_seconds,
        "max_abs_diff_weights": max_abs_diff,
    }
    common.finish(NAME, ns.out, payload, {"max_abs_diff": max_abs_diff, "ratio": t2 / t1})


if __name__ == "__main__":
    main()
