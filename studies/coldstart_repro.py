"""Does the quickstart's cold start reach the same quality whatever the thread count?

Runs the cold start of a config (default: the Sokoban quickstart's) several times, each in
its own process with ``OMP_NUM_THREADS`` set (1 and 2 threads, twice each by default: the
float rounding of a matrix product depends on how it is split across threads, so two thread
counts give two training trajectories, and a repeat checks the run is deterministic), then
plays every resulting model on the same held-out tasks with the same sampling seeds
(``t2po eval``). Goal: the spread of held-out success over the runs is at most 0.06 and
every run reaches 0.45.

A cold start already in ``--work`` is reused only when its ``cold_start.json`` names the
same base model (folder and file hash) as the config resolves to now; otherwise it is made
again. (A named model such as ``tiny`` moves to another folder when the built-in families'
text changes its tokenizer: reusing older cold starts once compared models of two base
models as if they were repeats.)

    python studies/coldstart_repro.py                       # 4 cold starts, ~1 h on 2 shared cores
    python studies/coldstart_repro.py --jobs 4 --eval-tasks 128  # the 4 runs at once
    python studies/coldstart_repro.py --quick               # seconds: a plumbing check

Last line: ``RESULT coldstart_repro spread=<max-min success> min_success=<s>``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _common as common

NAME = "coldstart_repro"
QUICK = ["rft.episodes=8", "rft.epochs=2", "env.max_turns=4"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=f"studies/{NAME}.py", description=__doc__.split("\n")[0])
    p.add_argument("--config", default=str(common.REPO / "configs" / "sokoban_quickstart.yaml"))
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--repeats", type=int, default=2, help="cold starts per thread count")
    p.add_argument("--jobs", type=int, default=1, help="runs at once (each in its own processes)")
    p.add_argument("--eval-tasks", type=int, default=64, help="held-out tasks per model")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--quick", action="store_true", help="tiny sizes (seconds; for tests)")
    p.add_argument("--work", type=Path, default=common.run_folder(NAME) / "runs")
    p.add_argument("--out", type=Path, default=common.run_folder(NAME) / f"{NAME}.json")
    return p.parse_args()


def t2po(args: list[str], threads: int) -> None:
    """One ``t2po`` command in a fresh process pinned to ``threads`` threads."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cmd = [sys.executable, "-m", "t2po.cli", *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


def base_model(config: str, overrides: list[str]) -> tuple[str, str]:
    """The folder and file hash of the base model the config's cold start starts from."""
    from t2po.config import load_config
    from t2po.models.loading import resolve_model_path
    from t2po.train.coldstart import base_model_fingerprint

    folder = resolve_model_path(load_config(config, overrides).model.path)
    return str(folder), base_model_fingerprint(folder)


def reusable(model: Path, base_sha256: str) -> bool:
    """True when ``model`` holds a finished cold start made from the base model hashed
    ``base_sha256`` (a cold start without the hash, or from another base, is made again)."""
    record = model / "cold_start.json"
    if not record.is_file():
        return False
    return bool(json.loads(record.read_text()).get("base_model_sha256") == base_sha256)


def one_run(
    args: argparse.Namespace, threads: int, repeat: int, overrides: list[str], base_sha256: str
) -> dict:
    """Cold start then held-out evaluation; the cold start is read back when already on
    disk from the same base model."""
    folder = args.work / f"threads{threads}_run{repeat}"
    model = folder / "cold_start"
    t0 = time.perf_counter()
    if not reusable(model, base_sha256):
        t2po(["rft", args.config, *overrides, "--out", str(model)], threads)
    seconds = time.perf_counter() - t0
    eval_dir = folder / "eval"
    # Evaluation at one thread for every model, so only the cold start differs between runs.
    t2po(
        ["eval", args.config, *overrides, f"model.path={model}",
         "--episodes", str(args.eval_tasks), f"eval.batch_size={args.eval_tasks}",
         "--out", str(eval_dir)],
        1,
    )  # fmt: skip
    cold = json.loads((model / "cold_start.json").read_text())
    summary = json.loads((eval_dir / "summary.json").read_text())
    return {
        "threads": threads,
        "repeat": repeat,
        "success": summary["total"]["success"],
        "sft_loss_last": cold["epoch_losses"][-1],
        "val_loss_best": min(cold["val_losses"]) if cold.get("val_losses") else None,
        "best_epoch": cold.get("best_epoch"),
        "val_losses": cold.get("val_losses"),
        "cold_start_s": seconds,
        "base_model_sha256": cold["base_model_sha256"],
        # Equal hashes for two runs at one thread count: the cold start is bit-reproducible.
        "weights_sha256": hashlib.sha256((model / "model.safetensors").read_bytes()).hexdigest(),
    }


def main() -> None:
    args = parse_args()
    common.set_offline()
    overrides = ["log.progress=false", *(QUICK if args.quick else []), *args.set]
    if args.quick:
        args.eval_tasks, args.repeats = 4, 1
    thread_counts = [int(t) for t in args.threads.split(",")]
    base_folder, base_sha256 = base_model(args.config, overrides)
    print(f"base model {base_folder} (sha256 {base_sha256[:12]})", flush=True)
    plan = [(threads, repeat) for threads in thread_counts for repeat in range(args.repeats)]

    def run(threads: int, repeat: int) -> dict:
        row = one_run(args, threads, repeat, overrides, base_sha256)
        print(
            f"threads {threads} run {repeat}: held-out success {row['success']:.3f}, "
            f"SFT loss {row['sft_loss_last']:.4f}, kept epoch {row['best_epoch']}",
            flush=True,
        )
        return row

    # Each run's arithmetic depends on its own thread count only, not on what else the
    # machine runs, so running several at once changes the wall time, not the results.
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(lambda plan_item: run(*plan_item), plan))
    success = [r["success"] for r in rows]
    result = {"spread": max(success) - min(success), "min_success": min(success)}
    common.print_table(
        f"cold start of {Path(args.config).name}, {args.eval_tasks} held-out tasks each",
        ["threads", "run", "held-out success", "last SFT loss", "best val loss", "kept epoch"],
        [
            [r["threads"], r["repeat"], r["success"], r["sft_loss_last"], r["val_loss_best"],
             r["best_epoch"]]
            for r in rows
        ],
    )  # fmt: skip
    payload = {
        "machine": common.machine_info("cpu"),
        "args": {k: str(v) for k, v in vars(args).items()},
        "base_model": {"folder": base_folder, "sha256": base_sha256},
        "runs": rows,
        "goal": {"spread_max": 0.06, "min_success": 0.45},
    }
    common.finish(NAME, args.out, payload, result)


if __name__ == "__main__":
    main()
