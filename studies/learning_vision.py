"""Learning study on pictures: NumberLine and Sokoban as images, tiny-vl, GiGPO vs T2PO.

The protocol of ``_family_study.py`` per arm (a game shown as a picture, ``obs_mode=image``,
with its vision preset): one cold start from the game's expert on its frames (the preset's:
NumberLine's weak teacher, ``rft.expert_slip`` 0.8; Sokoban's optimal one), then for each RL
seed GiGPO and T2PO (GiGPO + TTI + TDS) train from it with the same config except the
exploration controls. The cold-start model and every final checkpoint play the same held-out
tasks on ``--streams`` sampling streams (``t2po eval``'s own path, ``run_suite``), and each
run is paired against the cold start task by task (``t2po compare``'s sign test).

NumberLine in pictures: the observation text holds no numbers, so the moves per direction of
``learning_cards.numberline_moves`` are read from the held-out episodes with each turn's state
replayed from the deal (start, target) and the valid moves (written beside the evaluation as
``heldout_states/episodes.jsonl``); the replay must end where the game ended.

    python studies/learning_vision.py --quick      # ~60 s on a free core: checks the script works
    S="python studies/learning_vision.py --threads 1"
    OMP_NUM_THREADS=1 $S    # full: ~34 minutes on one free core (estimate below)
    $S --arms numberline --reuse & $S --arms sokoban --reuse; wait; $S --reuse  # 2 cores

Prints the tables, writes ``runs/studies/learning_vision/learning_vision.json`` and one PNG
per arm beside it (untracked; ``--out studies/results/learning_vision.json`` updates the
committed result) and ends with ``RESULT learning_vision numberline_cold=<s>
numberline_gigpo=<s> numberline_t2po=<s> sokoban_cold=<s> sokoban_gigpo=<s> sokoban_t2po=<s>``
(held-out success over all streams, mean over seeds).

Default sizes, from stage times measured on tiny-vl at 1 thread (CPU seconds, AMD EPYC):

| stage | NumberLine | Sokoban |
|---|---|---|
| cold start, the study's (128 x 5 epochs / 200 x 5 epochs) | 267 | 140 |
| held-out, 64 tasks x 2 streams (cold start) | 44 | 34 |
| RL iteration, 4 x 8 episodes, GiGPO / T2PO | 36 / 48 | 28 / 22 |
| RL iteration, the presets' 8 x 8 (weaker cold start) | 105 / 98 | 45 / 50 |
| the presets' cold start (256 / 400 x 10 epochs), by turns | ~1075 | ~560 |

So 1 seed, 10 iterations of 4 x 8 episodes, validation on 16 tasks every 5, the cold start
and both final models on 64 held-out tasks x 2 streams: about 1270 s for NumberLine and 770 s
for Sokoban, ~34 minutes in all (less once episodes get shorter).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common as common
from _family_study import (
    COSTS,
    PAIRED_COLUMNS,
    ROOT,
    add_study_args,
    cold_start_overrides,
    costs_of,
    held_out,
    paired_rows,
    shrink_for_quick,
    train_one,
)
from learning_cards import numberline_moves, run_record, seed_summary

from t2po.config import load_config
from t2po.evaluation.store import ResultStore
from t2po.telemetry.plots import markdown_table, plot_grid
from t2po.train.coldstart import cold_start_from_config

NAME = "learning_vision"
METHODS = ("gigpo", "t2po")


@dataclass(frozen=True)
class Arm:
    """A game shown as pictures: its preset and the study's cold start size."""

    preset: Path  # the game, obs_mode=image, the cold start and RL recipe of its quickstart
    # The study's cold start (expert episodes, SFT epochs): the presets' (256-400 x 10) take
    # 10-20 CPU minutes each on tiny-vl, more than the whole study's budget.
    rft_episodes: int
    rft_epochs: int


ARMS = {
    "numberline": Arm(ROOT.parent / "configs" / "vision_cards_quickstart.yaml", 128, 5),
    "sokoban": Arm(ROOT.parent / "configs" / "vision_sokoban_quickstart.yaml", 200, 5),
}
CURVES = ["rollout/success", "val/success", "rollout/tokens_per_turn", "rollout/turns"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add_study_args(parser, ARMS["numberline"].preset.name, NAME, memory_window=0)
    parser.add_argument("--arms", default=",".join(ARMS), help=f"of {', '.join(ARMS)}")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"of {', '.join(METHODS)}")
    parser.add_argument("--streams", type=int, default=2, help="sampling streams per evaluation")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument(
        "--tasks-per-iter", type=int, default=4, help="RL tasks per iteration (0 = the preset's)"
    )
    parser.add_argument(
        "--group-size", type=int, default=8, help="RL episodes per task (0 = the preset's)"
    )
    # Sized for <= 40 minutes on one core (stage times measured at 1 thread: module docstring).
    # --rft-episodes / --rft-epochs 0 = each arm's own (ARMS), not the preset's.
    parser.set_defaults(
        config=None, seeds=1, iterations=10, eval_every=5, eval_tasks=16, final_eval_tasks=64
    )
    args = parser.parse_args(argv)
    if args.config is not None:
        parser.error("learning_vision plays each arm's own preset (ARMS); choose with --arms")
    if args.quick:
        shrink_for_quick(args)
    args.final_eval_tasks = args.final_eval_tasks or args.eval_tasks
    for kind, chosen, valid in (("arm", args.arms, ARMS), ("method", args.methods, METHODS)):
        unknown = set(chosen.split(",")) - set(valid)
        if unknown:
            parser.error(f"unknown {kind} {sorted(unknown)}; valid: {', '.join(valid)}")
    if args.streams < 1 or args.tasks_per_iter < 0 or args.group_size < 0:
        parser.error("--streams must be >= 1, --tasks-per-iter and --group-size >= 0")
    return args


def rl_sizes(args: argparse.Namespace) -> list[str]:
    """The RL batch of the study (before ``--set``; ``--quick`` shrinks it further)."""
    sizes = [f"rollout.tasks_per_iter={args.tasks_per_iter}"] if args.tasks_per_iter else []
    return sizes + ([f"rollout.group_size={args.group_size}"] if args.group_size else [])


def replay_numberline_states(heldout: Path, out: Path, max_pos: int) -> Path:
    """The held-out episodes with each turn's observation written as NumberLine's state text.

    A picture turn records only the note, so the state the agent saw is replayed: the position
    starts at ``info["start"]``, a valid ``+``/``-`` moves it one step, clamped to
    ``0..max_pos`` (the game's rule), an invalid action leaves it. The replayed final position
    must be the game's (``info["position"]``), else the replay is wrong and this raises.
    Returns ``out`` (a folder ``numberline_moves`` reads).
    """
    rows = []
    for episode in ResultStore(heldout).episodes():
        info = episode.get("info") or {}
        position, target = int(info["start"]), int(info["target"])
        turns = []
        for turn in episode["turns"]:
            turns.append({**turn, "observation": f"Target: {target}\nCurrent: {position}"})
            if turn["action_valid"] and turn["action"] in ("+", "-"):
                step = 1 if turn["action"] == "+" else -1
                position = min(max_pos, max(0, position + step))
        if "position" in info and position != int(info["position"]):
            raise ValueError(
                f"{episode['key']}: replayed position {position} != the game's "
                f"{info['position']}; the replay no longer follows NumberLine's rule"
            )
        rows.append({**episode, "turns": turns})
    out.mkdir(parents=True, exist_ok=True)
    (out / "episodes.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return out


def moves_of(config: Path, heldout: Path) -> dict[str, float] | None:
    """NumberLine's moves per direction on a held-out evaluation (None for other games)."""
    cfg = load_config(str(config))
    if cfg.env.kwargs.get("game") != "numberline":
        return None
    states = replay_numberline_states(
        heldout, heldout.with_name("heldout_states"), int(cfg.env.kwargs.get("max_pos", 5))
    )
    return numberline_moves(states)


def run_arm(args: argparse.Namespace, arm: str) -> dict[str, Any]:
    """One arm: its cold start, every method x seed from it, all held-out evaluations."""
    config = ARMS[arm].preset
    work = Path(args.work) / arm
    work.mkdir(parents=True, exist_ok=True)
    arm_args = argparse.Namespace(**vars(args))
    arm_args.config = str(config)
    arm_args.rl_overrides = [*rl_sizes(args), *args.rl_overrides]
    shared = [f"env.memory_window={args.memory_window}"]
    cold_dir = work / "cold_start"
    stages: dict[str, float] = {}
    if not (cold_dir / "cold_start.json").is_file():  # every run of the arm starts from it
        size = [f"rft.episodes={ARMS[arm].rft_episodes}", f"rft.epochs={ARMS[arm].rft_epochs}"]
        rft = [*size, *cold_start_overrides(args)]  # the command line's sizes win
        cfg = load_config(str(config), [*shared, *rft, "log.progress=false"])
        cold_start_from_config(cfg, cold_dir)
    cold_start = json.loads((cold_dir / "cold_start.json").read_text())
    stages["cold_start_s"] = float(cold_start["seconds"])

    def evaluate(model: Path, out: Path) -> dict[str, Any]:
        t0 = time.perf_counter()
        summary = held_out(str(config), model, shared, args.final_eval_tasks, out, args.streams)
        stages[f"heldout_{out.parent.name}_s"] = time.perf_counter() - t0
        return summary

    cold = evaluate(cold_dir, cold_dir / "heldout")
    print(f"{arm}: cold start held-out success {cold['rollout/success']:.3f}", flush=True)
    cold_result: dict[str, Any] = {
        "success": cold["rollout/success"],
        "stream_success": cold.get("stream_success"),
        **costs_of([cold]),
        "cold_start": cold_start,
    }
    moves = moves_of(config, cold_dir / "heldout")
    if moves is not None:
        cold_result["moves"] = moves
    methods = args.methods.split(",")
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    rows_of: dict[str, list[list[dict]]] = {m: [] for m in methods}
    for seed in range(args.seeds):  # seed-major: a cut-short study has every method per seed
        for method in methods:
            rows = train_one(arm_args, work, method, seed)
            run_dir = work / f"{method}_seed{seed}"
            stages[f"train_{run_dir.name}_s"] = sum(float(r.get("timing/iter_s", 0)) for r in rows)
            model = run_dir / "checkpoints" / f"iter_{args.iterations:06d}" / "model"
            final = evaluate(model, run_dir / "heldout")
            record = {**run_record(seed, final, cold["won"], rows), **costs_of([final])}
            moves = moves_of(config, run_dir / "heldout")
            if moves is not None:
                record["moves"] = moves
            runs[method].append(record)
            rows_of[method].append(rows)
    summary: dict[str, Any] = {}
    for method in methods:
        summary[method] = {**seed_summary(runs[method]), **costs_of_runs(runs[method])}
    return {
        "cold_start": cold_result,
        "methods": summary,
        "curves": {m: [r["curve"] for r in runs[m]] for m in methods},
        "rows": rows_of,
        "stage_seconds": stages,
    }


def costs_of_runs(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Mean over a method's runs of each cost of play (``COSTS``) they all report."""
    return {
        column: statistics.mean(float(r[column]) for r in runs)
        for _, column in COSTS
        if runs and all(column in r for r in runs)
    }


TABLE_COLUMNS = [
    ("arm", "game (pictures)", "s"),
    ("method", "method", "s"),
    ("success", "held-out success", ".3f"),
    ("std", "± std (seeds)", ".3f"),
    ("success_balanced", "success, directions balanced", ".3f"),
    ("turns", "turns/episode", ".2f"),
    ("tokens_per_turn", "tokens/turn", ".1f"),
    ("invalid", "invalid turns", ".3f"),
    ("paired", "vs cold start per seed (won only after / only before, sign test)", "s"),
]


def table_rows(arms: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The summary table: per arm the cold start, then each method's mean over seeds."""
    rows = []
    for arm, result in arms.items():
        cold = result["cold_start"]
        rows.append({"arm": arm, "method": "cold start", **cold,
                     **(cold.get("moves") or {})})  # fmt: skip
        for method, m in result["methods"].items():
            balanced = [r["moves"]["success_balanced"] for r in m["runs"] if "moves" in r]
            wins = [(p["only_after"], p["only_before"], p["p"]) for p in m["paired_vs_cold_start"]]
            rows.append({
                "arm": arm, "method": method, **m,
                "success_balanced": statistics.mean(balanced) if balanced else None,
                "paired": "; ".join(f"+{a}/-{b} p={p:.3f}" for a, b, p in wins),
            })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    common.set_offline()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    arms = {arm: run_arm(args, arm) for arm in args.arms.split(",")}

    print()
    print(markdown_table(table_rows(arms), TABLE_COLUMNS))
    for arm, result in arms.items():
        print(f"\n{arm}: each run against the cold start, task by task and stream by stream")
        print(markdown_table(paired_rows(result["methods"], tuple(result["methods"])),
                             PAIRED_COLUMNS))  # fmt: skip

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plots = {}
    for arm, result in arms.items():
        png = out.with_name(f"{out.stem}_{arm}.png")
        title = f"{arm} as pictures, tiny-vl: GiGPO vs T2PO ({args.seeds} seed(s))"
        plots[arm] = str(plot_grid(result["rows"], CURVES, png, ncols=2, title=title))
    result_line: dict[str, float] = {}
    for arm, result in arms.items():
        result_line[f"{arm}_cold"] = result["cold_start"]["success"]
        for method, m in result["methods"].items():
            result_line[f"{arm}_{method}"] = m["success"]
    payload = {
        "machine": common.machine_info("cpu"),
        "args": {k: str(v) for k, v in vars(args).items()},
        "arms": {
            arm: {k: v for k, v in r.items() if k not in ("curves", "rows")}
            for arm, r in arms.items()
        },  # fmt: skip
        "curves": {arm: r["curves"] for arm, r in arms.items()},
        "plots": plots,
        "wall_s": time.perf_counter() - t0,
    }
    common.finish(NAME, out, payload, result_line)


if __name__ == "__main__":
    main()
