"""Learning study on the card games: does RL raise held-out success, and GRPO vs GiGPO vs T2PO?

For each game (NumberLine on 0..10, EZPoints) and each cold start, one cold start is trained,
then GRPO, GiGPO and T2PO train from it (the protocol of ``_family_study.py``, same seeds for
every method). The cold start and every final model play the same held-out tasks on
``--streams`` sampling streams (``t2po eval``'s own path), and each run is paired against the
cold start, task by task (``t2po compare``'s sign test).

Two cold starts (``--starts``):

- ``weak``: the expert slips to a random admissible move on a share of turns chosen so that
  the teacher is right on ~60% of them (``WEAK_SLIP``: 0.8 of NumberLine's two moves, 0.5 of
  EZPoints' ~5 tokens) and every episode is kept, so the model starts with a little of the rule;
- ``format``: ``rft.teacher=format_only``, a uniformly random valid move with the expert's
  thought shape: the format and none of the rule (the stretch goal).

    python studies/learning_cards.py      # full: 2 games x 2 starts x 3 methods x 3 seeds
    python studies/learning_cards.py --games numberline --starts weak --seeds 1
    python studies/learning_cards.py --quick          # a minute: checks the script works

Writes ``runs/studies/learning_cards/learning_cards.json`` and a plot of held-out success
against environment steps per method (GiGPO's claim is step-level credit: fewer steps than
GRPO), and ends with ``RESULT learning_cards numberline_cold=<s> numberline_grpo=<s> ...
ezpoints_t2po=<s>`` for the weakly informed start (mean over seeds; the format-only arm is in
the table and the JSON).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import _common as common
from _family_study import _vs_cold_start, add_study_args, held_out, shrink_for_quick, train_one

from t2po.config import load_config
from t2po.telemetry.plots import markdown_table, plot_grid
from t2po.train.coldstart import cold_start_from_config

NAME = "learning_cards"
METHODS = ("grpo", "gigpo", "t2po")
# Each game's settings on top of the preset (configs/cards_numberline.yaml).
GAMES = {
    "numberline": ["env.kwargs.game=numberline", "env.kwargs.max_pos=10", "env.max_turns=20"],
    "ezpoints": ["env.kwargs.game=ezpoints", "env.kwargs.max_pos=null", "env.max_turns=8"],
}
# The weak teacher's slip rate per game: right on ~60% of turns, 1 - slip + slip / n_actions.
WEAK_SLIP = {"numberline": 0.8, "ezpoints": 0.5}
STARTS = {
    "weak": ["rft.teacher=expert", "rft.min_score=-1"],  # + the game's WEAK_SLIP
    "format": ["rft.teacher=format_only", "rft.expert_slip=0"],
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add_study_args(parser, "cards_numberline.yaml", NAME, memory_window=0)
    parser.add_argument("--games", default="numberline,ezpoints", help=f"of {', '.join(GAMES)}")
    parser.add_argument("--starts", default="weak,format", help=f"of {', '.join(STARTS)}")
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"of {', '.join(METHODS)}, in "
        "this order (parallel processes can take one method each with --reuse)",
    )
    parser.add_argument("--streams", type=int, default=2, help="sampling streams per evaluation")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.set_defaults(iterations=100, eval_every=25, eval_tasks=128, final_eval_tasks=256)
    args = parser.parse_args()
    if args.quick:
        shrink_for_quick(args)
        args.games, args.starts, args.streams = "numberline", "weak", 2
    args.final_eval_tasks = args.final_eval_tasks or args.eval_tasks
    chosen_kinds = (("game", args.games, GAMES), ("start", args.starts, STARTS),
                    ("method", args.methods, METHODS))  # fmt: skip
    for kind, chosen, valid in chosen_kinds:
        unknown = set(chosen.split(",")) - set(valid)
        if unknown:
            parser.error(f"unknown {kind} {sorted(unknown)}; valid: {', '.join(valid)}")
    return args


def env_steps_curve(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation rows with ``env_steps``: training environment steps taken up to that step."""
    total, curve = 0.0, []
    for row in rows:
        total += float(row.get("rollout/env_steps", 0.0))
        if "val/success" in row:
            curve.append({"env_steps": total, "val/success": row["val/success"]})
    return curve


def run_arm(args: argparse.Namespace, game: str, start: str) -> dict[str, Any]:
    """One (game, cold start): the cold start, every method x seed, all held-out evaluations."""
    work = Path(args.work) / f"{game}_{start}"
    work.mkdir(parents=True, exist_ok=True)
    arm_args = argparse.Namespace(**vars(args))
    arm_args.rl_overrides = [*GAMES[game], *args.rl_overrides]
    shared = [f"env.memory_window={args.memory_window}", *GAMES[game]]
    cold_dir = work / "cold_start"
    if not (cold_dir / "cold_start.json").is_file():
        rft = [*STARTS[start], *(["rft.episodes=16", "rft.epochs=1"] if args.quick else [])]
        if start == "weak":
            rft.append(f"rft.expert_slip={WEAK_SLIP[game]}")
        cfg = load_config(args.config, [*shared, *rft, "log.progress=false"])
        cold_start_from_config(cfg, cold_dir)
    cold = held_out(
        args.config, cold_dir, shared, args.final_eval_tasks, cold_dir / "heldout", args.streams
    )
    print(f"{game}/{start}: cold start held-out success {cold['rollout/success']:.3f}", flush=True)
    chosen = args.methods.split(",")
    finals: dict[str, list[dict[str, Any]]] = {m: [] for m in chosen}
    steps: dict[str, list[float]] = {m: [] for m in chosen}
    curves: dict[str, list[list[dict[str, Any]]]] = {m: [] for m in chosen}
    for seed in range(args.seeds):  # seed-major: a cut-short study has every method per seed
        for method in chosen:
            rows = train_one(arm_args, work, method, seed)
            run_dir = work / f"{method}_seed{seed}"
            model = run_dir / "checkpoints" / f"iter_{args.iterations:06d}" / "model"
            final = held_out(args.config, model, shared, args.final_eval_tasks,
                             run_dir / "heldout", args.streams)  # fmt: skip
            finals[method].append(final)
            curves[method].append(env_steps_curve(rows))
            steps[method].append(sum(float(r.get("rollout/env_steps", 0.0)) for r in rows))
    methods: dict[str, Any] = {}
    for method in chosen:
        success = [f["rollout/success"] for f in finals[method]]
        methods[method] = {
            "success": statistics.mean(success),
            "std": statistics.stdev(success) if len(success) > 1 else 0.0,
            "per_seed": success,
            "stream_success": [f.get("stream_success") for f in finals[method]],
            "paired_vs_cold_start": [_vs_cold_start(cold["won"], f["won"]) for f in finals[method]],
            "env_steps": statistics.mean(steps[method]),  # training environment steps per run
        }
    return {
        "cold_start": {
            "success": cold["rollout/success"],
            "stream_success": cold.get("stream_success"),
            "cold_start": json.loads((cold_dir / "cold_start.json").read_text()),
        },
        "methods": methods,
        "curves": curves,
    }


def main() -> None:
    args = parse_args()
    common.set_offline()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    games, starts = args.games.split(","), args.starts.split(",")
    arms = {f"{g}/{s}": run_arm(args, g, s) for g in games for s in starts}

    table = []
    for arm, result in arms.items():
        cold = result["cold_start"]["success"]
        table.append({"arm": arm, "method": "cold start", "success": cold})
        for method, m in result["methods"].items():
            wins = [(p["only_after"], p["only_before"], p["p"]) for p in m["paired_vs_cold_start"]]
            table.append({
                "arm": arm, "method": method, "success": m["success"], "std": m["std"],
                "paired": "; ".join(f"+{a}/-{b} p={p:.3f}" for a, b, p in wins),
            })  # fmt: skip
    columns = [
        ("arm", "game/cold start", "s"),
        ("method", "method", "s"),
        ("success", "held-out success", ".3f"),
        ("std", "± std (seeds)", ".3f"),
        ("paired", "vs cold start per seed (won only after / only before, sign test)", "s"),
    ]
    print()
    print(markdown_table(table, columns))

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plots = {}
    for arm, result in arms.items():
        png = out.with_name(f"{out.stem}_{arm.replace('/', '_')}.png")
        title = f"{arm}: held-out success"
        plots[arm] = str(
            plot_grid(result["curves"], ["val/success"], png, x_key="env_steps", title=title)
        )
    result_line: dict[str, float] = {}
    for game in games:
        weak = arms.get(f"{game}/weak") or arms[f"{game}/{starts[0]}"]
        result_line[f"{game}_cold"] = weak["cold_start"]["success"]
        for method, m in weak["methods"].items():
            result_line[f"{game}_{method}"] = m["success"]
    payload = {
        "machine": common.machine_info("cpu"),
        "args": {k: str(v) for k, v in vars(args).items()},
        "arms": {arm: {k: v for k, v in r.items() if k != "curves"} for arm, r in arms.items()},
        "curves": {arm: r["curves"] for arm, r in arms.items()},
        "plots": plots,
        "wall_s": time.perf_counter() - t0,
    }
    common.finish(NAME, out, payload, result_line)


if __name__ == "__main__":
    main()
