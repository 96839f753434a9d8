"""Learning study on text Sokoban: cold start, then GiGPO alone vs T2PO (GiGPO + TTI + TDS).

One shared cold start (expert rollouts + multi-turn SFT) gives the starting policy; then, for
each RL seed, both methods train from it with the same config except the exploration
controls. Every run is validated on the same held-out rooms with evaluation sampling.

    python benchmarks/learning_sokoban.py                 # full study (about 20 minutes on 2 cores)
    python benchmarks/learning_sokoban.py --quick         # seconds: checks the script works

Prints a table, writes ``benchmarks/results/learning_sokoban.json`` and a PNG plot, and ends
with ``RESULT learning_sokoban cold_start=<s> gigpo=<s> t2po=<s> pool_<method>_first=<s>
pool_<method>_last=<s>``: final mean validation success (cold_start: the mean of the runs'
step-0 validations), then the fixed-pool arm's training success on its own rooms.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import _common as common

from t2po.config import Config, load_config
from t2po.telemetry.plots import markdown_table, plot_grid, read_metrics_jsonl
from t2po.train.coldstart import cold_start_from_config
from t2po.train.evaluate import evaluate
from t2po.train.trainer import Trainer

ROOT = Path(__file__).resolve().parent
METHODS = {
    "gigpo": ["tti.enabled=false", "tti.enabled_in_eval=false", "tds.enabled=false"],
    "t2po": [],
}


def base_config(args: argparse.Namespace, work: Path) -> list[str]:
    overrides = [
        f"env.memory_window={args.memory_window}",
        f"train.iterations={args.iterations}",
        f"train.eval_every={args.eval_every}",
        f"train.eval_tasks={args.eval_tasks}",
        "train.cold_start=false",
        f"train.init_from={work / 'cold_start'}",
        "log.progress=false",
        "log.loggers=[jsonl]",
        "log.transcripts_per_iter=4",
    ]
    if args.quick:
        overrides += [
            "rollout.tasks_per_iter=2",
            "rollout.group_size=2",
            "env.max_turns=3",
            "optim.mini_batch_size=8",
            "optim.micro_batch_size=8",
        ]
    return overrides


def run_cold_start(args: argparse.Namespace, work: Path) -> tuple[float, float]:
    """Shared starting policy; returns (seconds, held-out success of the cold-start model)."""
    overrides = [f"env.memory_window={args.memory_window}"]
    if args.rft_episodes:
        overrides.append(f"rft.episodes={args.rft_episodes}")
    if args.rft_epochs:
        overrides.append(f"rft.epochs={args.rft_epochs}")
    cfg = load_config(args.config, overrides + ["log.progress=false"])
    out = work / "cold_start"
    if (out / "config.json").is_file():  # reuse: the study's runs all start from it
        seconds = json.loads((out / "cold_start.json").read_text())["seconds"]
    else:
        seconds = cold_start_from_config(cfg, out).seconds
    eval_cfg = load_config(args.config, overrides + [f"model.path={out}"])
    summary = evaluate(eval_cfg, episodes=args.eval_tasks)
    return seconds, float(summary["rollout/success"])


def train_one(args: argparse.Namespace, work: Path, method: str, seed: int) -> list[dict]:
    run_dir = work / f"{method}_seed{seed}"
    metrics = run_dir / "metrics.jsonl"
    if args.reuse and metrics.is_file():
        rows = read_metrics_jsonl(metrics)
        if rows and rows[-1].get("step") == args.iterations:
            return rows
    if not args.reuse:  # with --reuse an interrupted run resumes from its last checkpoint
        shutil.rmtree(run_dir, ignore_errors=True)
    overrides = base_config(args, work) + METHODS[method] + [f"seed={seed}", f"run_dir={run_dir}"]
    cfg: Config = load_config(args.config, overrides)
    t0 = time.perf_counter()
    Trainer(cfg).fit()
    print(f"  {method} seed {seed}: {time.perf_counter() - t0:.0f}s", flush=True)
    return read_metrics_jsonl(run_dir / "metrics.jsonl")


def train_pool(args: argparse.Namespace, work: Path, method: str) -> list[dict]:
    """Does the update learn what it sees? RL on a fixed pool of rooms, success on that pool.

    Every iteration replays the same ``--pool-size`` rooms (8 rollouts each), so training
    success measures improvement on those rooms directly, without the room-to-room noise of
    fresh tasks. Held-out success is still validated at the end (it may drop: overfitting).
    """
    run_dir = work / f"pool_{method}"
    metrics = run_dir / "metrics.jsonl"
    if args.reuse and metrics.is_file():
        rows = read_metrics_jsonl(metrics)
        if rows and rows[-1].get("step") == args.pool_iterations:
            return rows
    if not args.reuse:
        shutil.rmtree(run_dir, ignore_errors=True)
    overrides = base_config(args, work) + METHODS[method]
    overrides += [
        f"rollout.task_pool={args.pool_size}",
        f"rollout.tasks_per_iter={args.pool_size}",
        f"optim.lr={args.pool_lr}",
        f"train.iterations={args.pool_iterations}",
        f"train.eval_every={args.pool_iterations}",
        f"run_dir={run_dir}",
    ]
    Trainer(load_config(args.config, overrides)).fit()
    return read_metrics_jsonl(run_dir / "metrics.jsonl")


def pool_summary(rows: list[dict]) -> dict[str, float]:
    """Train success on the pool: mean of the first and of the last three iterations."""
    success = [r["rollout/success"] for r in rows if "rollout/success" in r]
    return {
        "pool_success_first3": statistics.mean(success[:3]),
        "pool_success_last3": statistics.mean(success[-3:]),
        "heldout_success_end": rows[-1].get("val/success", float("nan")),
    }


def _mean_of(rows: list[dict], key: str) -> float:
    """Mean of ``key`` over the iterations that have it (step 0 holds validation only)."""
    return statistics.mean(r[key] for r in rows if key in r)


def cumulative(rows: list[dict], key: str) -> list[float]:
    total, out = 0.0, []
    for row in rows:
        total += row.get(key, 0.0) * row.get("rollout/episodes", 0.0)
        out.append(total)
    return out


def add_study_args(
    parser: argparse.ArgumentParser,
    preset: str,
    name: str,
    *,
    memory_window: int,
    rft_episodes: int,
) -> None:
    """The options every learning study shares (``rft_episodes`` 0 = the preset's)."""
    parser.add_argument("--config", default=str(ROOT.parent / "configs" / preset))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--eval-tasks", type=int, default=64)
    parser.add_argument("--memory-window", type=int, default=memory_window)
    parser.add_argument("--rft-episodes", type=int, default=rft_episodes, help="0 = the preset's")
    parser.add_argument("--rft-epochs", type=int, default=0, help="0 = the preset's")
    parser.add_argument("--work", default=str(ROOT / "results" / f"{name}_runs"))
    parser.add_argument("--out", default=str(ROOT / "results" / f"{name}.json"))
    parser.add_argument("--quick", action="store_true", help="tiny sizes to check the script")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep finished runs found in --work and resume interrupted ones (same settings)",
    )


def shrink_for_quick(args: argparse.Namespace) -> None:
    """``--quick``: sizes that only check the script runs end to end."""
    args.seeds, args.iterations, args.eval_every, args.eval_tasks = 1, 2, 2, 4
    args.rft_episodes, args.rft_epochs = 16, 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_study_args(parser, "quickstart.yaml", "learning_sokoban", memory_window=0, rft_episodes=400)
    parser.add_argument("--pool-iterations", type=int, default=20, help="0 skips the pool arm")
    parser.add_argument("--pool-size", type=int, default=8)
    parser.add_argument("--pool-lr", type=float, default=1e-4)
    args = parser.parse_args()
    if args.quick:
        shrink_for_quick(args)
        args.pool_iterations, args.pool_size = 2, 2

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cold_seconds, cold_eval = run_cold_start(args, work)
    print(f"cold start: {cold_seconds:.0f}s, held-out success {cold_eval:.3f}", flush=True)

    runs: dict[str, list[list[dict]]] = {m: [] for m in METHODS}
    for seed in range(args.seeds):
        for method in METHODS:
            runs[method].append(train_one(args, work, method, seed))

    pool: dict[str, dict[str, float]] = {}
    if args.pool_iterations:
        for method in METHODS:
            pool[method] = pool_summary(train_pool(args, work, method))

    # The cold-start reference: every run validates the cold-start model at step 0 on the same
    # held-out rooms with its own sampling stream, as it does at its last step. Their mean is
    # the like-for-like baseline (one extra evaluation alone varies by about ±0.06).
    step0 = [rows[0]["val/success"] for seeds in runs.values() for rows in seeds]
    cold_success = statistics.mean(step0)

    table = []
    summary: dict[str, Any] = {}
    for method, seeds in runs.items():
        finals = [rows[-1].get("val/success", float("nan")) for rows in seeds]
        best_train = [max(r.get("rollout/success", 0.0) for r in rows) for rows in seeds]
        steps = [cumulative(rows, "rollout/turns")[-1] for rows in seeds]
        tokens = [cumulative(rows, "rollout/tokens")[-1] for rows in seeds]
        tpt = [_mean_of(rows, "rollout/tokens_per_turn") for rows in seeds]
        turns = [_mean_of(rows, "rollout/turns") for rows in seeds]
        std = statistics.stdev(finals) if len(finals) > 1 else 0.0
        summary[method] = {
            "final_val_success": finals,
            "final_val_success_mean": statistics.mean(finals),
            "final_val_success_std": std,
            "env_steps": statistics.mean(steps),
            "tokens": statistics.mean(tokens),
            "tokens_per_turn": statistics.mean(tpt),
            "turns_per_episode": statistics.mean(turns),
            "best_train_success": statistics.mean(best_train),
        }
        table.append({"method": method, **summary[method]})

    columns = [
        ("method", "method", "s"),
        ("final_val_success_mean", "val success", ".3f"),
        ("final_val_success_std", "± std (seeds)", ".3f"),
        ("best_train_success", "best train success", ".3f"),
        ("turns_per_episode", "turns/episode", ".2f"),
        ("tokens_per_turn", "tokens/turn", ".1f"),
        ("env_steps", "env steps", ".0f"),
        ("tokens", "tokens", ".0f"),
    ]
    print()
    print(
        f"cold start held-out success: {cold_success:.3f} (mean of the runs' step-0 validations, "
        f"min {min(step0):.3f}, max {max(step0):.3f}; one separate evaluation: {cold_eval:.3f})"
    )
    print(markdown_table(table, columns))
    if pool:
        print(
            f"\nfixed pool of {args.pool_size} rooms, {args.pool_iterations} iterations, "
            f"lr {args.pool_lr:g} (train success on the pool, first 3 vs last 3 iterations):"
        )
        print(
            markdown_table(
                [{"method": m, **v} for m, v in pool.items()],
                [
                    ("method", "method", "s"),
                    ("pool_success_first3", "pool success, first 3", ".3f"),
                    ("pool_success_last3", "pool success, last 3", ".3f"),
                    ("heldout_success_end", "held-out success at the end", ".3f"),
                ],
            )
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    png = plot_grid(
        {m: seeds for m, seeds in runs.items()},
        ["rollout/success", "val/success", "rollout/tokens_per_turn", "rollout/turns"],
        out.with_suffix(".png"),
        title=f"Sokoban, tiny model: GiGPO vs T2PO ({args.seeds} seeds)",
    )
    result = {
        "machine": common.machine_info("cpu"),
        "args": vars(args),
        "cold_start": {
            "seconds": cold_seconds,
            "val_success": cold_success,
            "val_success_step0_runs": step0,
            "val_success_separate_eval": cold_eval,
        },
        "methods": summary,
        "fixed_pool": pool,
        "runs": runs,
        "plot": str(png),
        "wall_s": time.perf_counter() - t0,
    }
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"plot: {png}\njson: {out}")
    print(
        f"RESULT learning_sokoban cold_start={cold_success:.3f} "
        f"gigpo={summary['gigpo']['final_val_success_mean']:.3f} "
        f"t2po={summary['t2po']['final_val_success_mean']:.3f}"
        + "".join(
            f" pool_{m}_first={v['pool_success_first3']:.3f}"
            f" pool_{m}_last={v['pool_success_last3']:.3f}"
            for m, v in pool.items()
        )
    )


if __name__ == "__main__":
    main()
