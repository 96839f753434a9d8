"""Learning study on household tasks: cold start, then GiGPO alone vs T2PO, per task type.

The same protocol as ``learning_sokoban.py`` (whose run helpers it reuses): one shared cold
start from the household expert, then for each RL seed GiGPO and T2PO (GiGPO + TTI + TDS)
train from it with the same config except the exploration controls. The cold-start model
and every run's final checkpoint are evaluated on the same held-out tasks (``valid_unseen``,
evaluation sampling), and success is reported overall and per ALFWorld task type.

    python benchmarks/learning_household.py            # full study (long on 2 CPU cores)
    python benchmarks/learning_household.py --quick    # minutes: checks the script works

Prints a table, writes ``benchmarks/results/learning_household.json`` and a PNG plot, and
ends with ``RESULT learning_household cold_start=<s> gigpo=<s> t2po=<s>`` (held-out success,
mean over seeds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import _common as common
from learning_sokoban import METHODS, train_one

from t2po.config import load_config
from t2po.envs.household import TaskType
from t2po.telemetry.plots import markdown_table, plot_grid
from t2po.train.coldstart import cold_start_from_config
from t2po.train.evaluate import evaluate

ROOT = Path(__file__).resolve().parent
NAME = "learning_household"


def held_out(config: str, model_path: Path, overrides: list[str], episodes: int) -> dict:
    """Evaluation summary of the model at ``model_path`` (overall and per-type success)."""
    cfg = load_config(config, [*overrides, f"model.path={model_path}", "log.progress=false"])
    return evaluate(cfg, episodes=episodes)


def per_type(summary: dict[str, Any]) -> dict[str, float]:
    prefix = "env/household/"
    return {
        key[len(prefix) : -len("/success")]: float(value)
        for key, value in summary.items()
        if key.startswith(prefix) and key.endswith("/success")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    preset = ROOT.parent / "configs" / "household_quickstart.yaml"
    parser.add_argument("--config", default=str(preset))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--eval-tasks", type=int, default=64)
    parser.add_argument("--memory-window", type=int, default=2)
    parser.add_argument("--rft-episodes", type=int, default=400)
    parser.add_argument("--rft-epochs", type=int, default=0, help="0 = the preset's")
    parser.add_argument("--work", default=str(ROOT / "results" / f"{NAME}_runs"))
    parser.add_argument("--out", default=str(ROOT / "results" / f"{NAME}.json"))
    parser.add_argument("--quick", action="store_true", help="tiny sizes to check the script")
    parser.add_argument(
        "--reuse", action="store_true", help="keep finished runs found in --work (same settings)"
    )
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.iterations, args.eval_every, args.eval_tasks = 1, 2, 2, 4
        args.rft_episodes, args.rft_epochs = 16, 1

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    common_overrides = [f"env.memory_window={args.memory_window}"]
    rft = [f"rft.episodes={args.rft_episodes}"]
    if args.rft_epochs:
        rft.append(f"rft.epochs={args.rft_epochs}")
    cold_dir = work / "cold_start"
    if (cold_dir / "config.json").is_file():  # reuse: every run of the study starts from it
        cold_seconds = json.loads((cold_dir / "cold_start.json").read_text())["seconds"]
    else:
        cold_cfg = load_config(args.config, common_overrides + rft + ["log.progress=false"])
        cold_seconds = cold_start_from_config(cold_cfg, cold_dir).seconds
    cold = held_out(args.config, cold_dir, common_overrides, args.eval_tasks)
    print(f"cold start: {cold_seconds:.0f}s, held-out success {cold['rollout/success']:.3f}")

    runs: dict[str, list[list[dict]]] = {m: [] for m in METHODS}
    finals: dict[str, list[dict]] = {m: [] for m in METHODS}
    for seed in range(args.seeds):
        for method in METHODS:
            runs[method].append(train_one(args, work, method, seed))
            final = work / f"{method}_seed{seed}" / "checkpoints" / f"iter_{args.iterations:06d}"
            finals[method].append(
                held_out(args.config, final / "model", common_overrides, args.eval_tasks)
            )

    types = [t.value for t in TaskType]
    table = [{"method": "cold start", "success": cold["rollout/success"], **per_type(cold)}]
    summary: dict[str, Any] = {"cold_start": {"seconds": cold_seconds, **table[0]}}
    for method, evals in finals.items():
        success = [e["rollout/success"] for e in evals]
        row: dict[str, Any] = {"method": method, "success": statistics.mean(success)}
        for task_type in types:
            values = [per_type(e)[task_type] for e in evals if task_type in per_type(e)]
            if values:
                row[task_type] = statistics.mean(values)
        row["std"] = statistics.stdev(success) if len(success) > 1 else 0.0
        summary[method] = {**row, "per_seed": success}
        table.append(row)

    short = dict(zip(types, ["pick", "look", "clean", "heat", "cool", "pick two"], strict=True))
    columns = [("method", "method", "s"), ("success", "held-out success", ".3f")]
    columns += [(t, short[t], ".2f") for t in types if any(t in row for row in table)]
    columns += [("std", "± std (seeds)", ".3f")]
    print()
    print(markdown_table(table, columns))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    png = plot_grid(
        runs,
        ["rollout/success", "val/success", "rollout/tokens_per_turn", "rollout/turns"],
        out.with_suffix(".png"),
        title=f"Household, tiny model: GiGPO vs T2PO ({args.seeds} seeds)",
    )
    result = {
        "machine": common.machine_info("cpu"),
        "args": vars(args),
        "methods": summary,
        "runs": runs,
        "plot": str(png),
        "wall_s": time.perf_counter() - t0,
    }
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"plot: {png}\njson: {out}")
    print(
        f"RESULT {NAME} cold_start={cold['rollout/success']:.3f} "
        f"gigpo={summary['gigpo']['success']:.3f} t2po={summary['t2po']['success']:.3f}"
    )


if __name__ == "__main__":
    main()
