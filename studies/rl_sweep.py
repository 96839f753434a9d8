"""Sweep RL settings from one cold start: which learning rate and batch let RL beat it?

Every arm is a ``t2po train`` run with its own overrides, all starting from the same
cold-start weights (``train.init_from``) with the same seed, so their step-0 validations are
identical and every difference after it comes from the RL settings. Arms run as parallel
processes (``--parallel``); a wall-clock budget (``--minutes``) stops the stragglers, and each
arm is reported up to its last validation. The grids are YAML files in ``studies/grids/``
(one per grid: arm name -> overrides; ``--grid`` also takes any such file's path). This is the
RL-stability study of ``docs/studies/sokoban.md``; on a GPU box it runs many arms at once.

Usage::

    python studies/rl_sweep.py --init runs/studies/learning_sokoban/runs/cold_start \
        --grid lr_batch --parallel 2 --minutes 60
    python studies/rl_sweep.py --quick          # seconds: 2 arms, 2 iterations (for tests)

Prints a table (validation success per arm at each evaluation), writes ``rl_sweep.json`` and
``rl_sweep.png`` to ``runs/studies/rl_sweep/`` (untracked; ``--out`` elsewhere) and ends with
``RESULT rl_sweep start=<s> best_final=<s> best_peak=<s> arms=<n>`` (the best arm, by its
last validation, is named on the line before).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml
from _common import finish, machine_info, run_folder, set_offline

from t2po.telemetry.plots import plot_metric, read_metrics_jsonl

REPO = Path(__file__).resolve().parents[1]

GRIDS_DIR = Path(__file__).resolve().parent / "grids"


def grid_names() -> list[str]:
    """The grids shipped in ``studies/grids/`` (one YAML file each)."""
    return sorted(p.stem for p in GRIDS_DIR.glob("*.yaml"))


def load_grid(grid: str) -> dict[str, list[str]]:
    """A grid's arms, in file order: arm name -> its ``t2po train`` overrides, in order.

    ``grid`` names a file in ``studies/grids/`` or is the path of any YAML file of the same
    shape (a mapping of arm name to a list of ``KEY=VALUE`` overrides).
    """
    path = Path(grid) if grid.endswith((".yaml", ".yml")) else GRIDS_DIR / f"{grid}.yaml"
    if not path.is_file():
        raise SystemExit(
            f"unknown grid {grid!r}: choose one of {', '.join(grid_names())} "
            "or give the path of a .yaml grid file"
        )
    arms = yaml.safe_load(path.read_text())
    if not isinstance(arms, dict) or not arms:
        raise SystemExit(f"{path}: a grid is a mapping of arm name -> list of overrides")
    for name, overrides in arms.items():
        if not (
            isinstance(overrides, list) and all(isinstance(o, str) and "=" in o for o in overrides)
        ):
            raise SystemExit(f"{path}: arm {name!r} must be a list of KEY=VALUE overrides")
    return {str(name): list(overrides) for name, overrides in arms.items()}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="studies/rl_sweep.py", description=__doc__.split("\n")[0])
    p.add_argument("--config", default=str(REPO / "configs" / "sokoban_quickstart.yaml"))
    p.add_argument("--init", type=Path, default=None, help="cold-start model folder")
    p.add_argument(
        "--grid",
        default="lr_batch",
        help=f"a grid of studies/grids/ ({', '.join(grid_names())}) or a .yaml file's path",
    )
    p.add_argument("--arms", default="", help="comma-separated subset of the grid's arms")
    p.add_argument("--parallel", type=int, default=2, help="arms running at once")
    p.add_argument("--threads", type=int, default=1, help="torch threads per arm")
    p.add_argument("--minutes", type=float, default=60.0, help="wall budget for all arms")
    p.add_argument("--iterations", type=int, default=60)
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--eval-tasks", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--work",
        type=Path,
        default=run_folder("rl_sweep") / "runs",
        help="the arms' run folders (default runs/studies/rl_sweep/runs, untracked)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=run_folder("rl_sweep") / "rl_sweep.json",
        help="the JSON (and its .png beside it; default runs/studies/rl_sweep/rl_sweep.json, "
        "untracked; --out studies/results/rl_sweep_<grid>.json updates a committed result)",
    )
    p.add_argument("--quick", action="store_true", help="2 arms, 2 iterations, no cold start")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: tabulate the arms already under --work (e.g. after an interruption)",
    )
    return p.parse_args()


def command(args: argparse.Namespace, name: str, overrides: list[str]) -> list[str]:
    init = [f"train.init_from={args.init}"] if args.init else []
    return [
        sys.executable,
        "-m",
        "t2po.cli",
        "train",
        args.config,
        f"run_dir={args.work / name}",
        f"seed={args.seed}",
        f"model.device={args.device}",
        "train.cold_start=false",
        f"train.iterations={args.iterations}",
        f"train.eval_every={args.eval_every}",
        f"train.eval_tasks={args.eval_tasks}",
        "log.progress=false",
        *init,
        *overrides,
    ]


def run_arms(args: argparse.Namespace, arms: dict[str, list[str]]) -> dict[str, str]:
    """Run every arm, ``--parallel`` at a time, until done or out of time; returns statuses."""
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONUNBUFFERED": "1"}
    deadline = time.monotonic() + args.minutes * 60
    pending = list(arms)
    running: dict[str, subprocess.Popen] = {}
    status: dict[str, str] = {}
    args.work.mkdir(parents=True, exist_ok=True)
    while pending or running:
        while pending and len(running) < args.parallel:
            name = pending.pop(0)
            log = open(args.work / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
            cmd = command(args, name, arms[name])
            running[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
            print(f"started {name}: {' '.join(arms[name])}", flush=True)
        for name, proc in list(running.items()):
            if proc.poll() is not None:
                status[name] = "done" if proc.returncode == 0 else f"failed rc={proc.returncode}"
                print(f"{name}: {status[name]}", flush=True)
                del running[name]
        if time.monotonic() > deadline:
            for name, proc in running.items():
                proc.kill()
                status[name] = "stopped at the time budget"
            for name in pending:
                status[name] = "not started (time budget)"
            break
        time.sleep(2)
    return status


def read_rows(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return read_metrics_jsonl(path) if path.is_file() else []


def summarize_arm(rows: list[dict]) -> dict:
    val = {int(r["step"]): r["val/success"] for r in rows if "val/success" in r}
    train = [r for r in rows if "rollout/success" in r]
    last = train[-1] if train else {}
    return {
        "val_success": val,
        "iterations_done": len(train),
        "train_success": [r["rollout/success"] for r in train],
        "final_invalid": last.get("rollout/invalid_rate"),
        "final_kl": last.get("actor/kl"),  # to the reference; only with algo.kl_coef > 0
        "seconds_per_iteration": (
            sum(r.get("timing/iter_s", 0.0) for r in train) / len(train) if train else None
        ),
    }


def main() -> int:
    set_offline()
    args = parse_args()
    if args.quick:
        args.grid, args.iterations, args.eval_every, args.eval_tasks = "quick", 2, 1, 4
        args.minutes = min(args.minutes, 10.0)
    arms = load_grid(args.grid)
    if args.arms:
        unknown = [k for k in args.arms.split(",") if k not in arms]
        if unknown:
            raise SystemExit(f"--arms {unknown} not in grid {args.grid!r}: {', '.join(arms)}")
        arms = {k: arms[k] for k in args.arms.split(",")}
    t0 = time.perf_counter()
    if args.report_only:
        arms = {k: v for k, v in arms.items() if (args.work / k / "metrics.jsonl").is_file()}
        status = {k: "reported from its folder" for k in arms}
    else:
        status = run_arms(args, arms)
    rows = {n: read_rows(args.work / n) for n in arms}
    results = {n: {**summarize_arm(rows[n]), "status": status.get(n, "?")} for n in arms}
    start = next((r["val_success"].get(0) for r in results.values() if 0 in r["val_success"]), None)

    steps = sorted({s for r in results.values() for s in r["val_success"]})
    header = "| arm | " + " | ".join(f"val@{s}" for s in steps) + " | iters | invalid | status |"
    print(header)
    print("|" + "---|" * (len(steps) + 4))
    for name, r in results.items():
        cells = [f"{r['val_success'][s]:.3f}" if s in r["val_success"] else "" for s in steps]
        inv = r["final_invalid"]
        print(
            f"| {name} | " + " | ".join(cells) + f" | {r['iterations_done']} | "
            f"{'' if inv is None else f'{inv:.3f}'} | {r['status']} |"
        )

    def final(r: dict) -> float:
        return r["val_success"][max(r["val_success"])] if r["val_success"] else float("nan")

    def peak(r: dict) -> float:
        later = [v for s, v in r["val_success"].items() if s > 0]
        return max(later) if later else float("nan")

    scored = [n for n, r in results.items() if any(s > 0 for s in r["val_success"])]
    best = max(scored, key=lambda n: final(results[n])) if scored else "none"
    b = results.get(best)
    result = {
        "start": start if start is not None else float("nan"),
        "best_final": final(b) if b else float("nan"),
        "best_peak": peak(b) if b else float("nan"),
        "arms": len(arms),
    }
    payload = {
        "machine": machine_info(args.device),
        "args": {k: str(v) for k, v in vars(args).items()},
        "arms": {n: {"overrides": arms[n], **results[n]} for n in arms},
        "best_arm": best,
        "seconds": time.perf_counter() - t0,
    }
    plot_metric(
        {n: [arm_rows] for n, arm_rows in rows.items()},
        "val/success",
        args.out.with_suffix(".png"),
        title="RL from one cold start: held-out success per arm",
    )
    print(f"best arm (highest last validation): {best}")
    finish("rl_sweep", args.out, payload, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
