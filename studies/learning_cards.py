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
import math
import re
import statistics
import time
from pathlib import Path
from typing import Any

import _common as common
from _family_study import _vs_cold_start, add_study_args, held_out, shrink_for_quick, train_one

from t2po.config import load_config
from t2po.evaluation.store import ResultStore
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
    parser.add_argument(
        "--import-from",
        action="append",
        default=[],
        metavar="JSON",
        help="an earlier result of this study (repeatable): a (method, seed) it holds for the "
        "same arm is taken from it instead of trained, if its cold start is the same one "
        "(equal SFT losses and held-out success) and the run settings match",
    )
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


def run_record(
    seed: int, final: dict[str, Any], cold_won: Any, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """One RL run: its held-out result ``final`` paired against the cold start's wins, its
    validation curve over environment steps and the steps it trained on."""
    return {
        "seed": seed,
        "success": final["rollout/success"],
        "stream_success": final.get("stream_success"),
        "paired_vs_cold_start": _vs_cold_start(cold_won, final["won"]),
        "curve": env_steps_curve(rows),
        "env_steps": sum(float(r.get("rollout/env_steps", 0.0)) for r in rows),
    }


def seed_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A method's runs over seeds: mean success and its spread, each seed's success and
    pairing, and the runs without their curves (those go to the plots)."""
    success = [r["success"] for r in runs]
    return {
        "success": statistics.mean(success),
        "std": statistics.stdev(success) if len(success) > 1 else 0.0,
        "per_seed": success,
        "paired_vs_cold_start": [r["paired_vs_cold_start"] for r in runs],
        "runs": [{k: v for k, v in r.items() if k != "curve"} for r in runs],
    }


NUMBERS = re.compile(r"Target: (\d+)\s+Current: (\d+)")


def numberline_moves(heldout: Path) -> dict[str, float]:
    """How the NumberLine policy moves, per direction, on its held-out episodes.

    ``right_up``: share of turns with the target above the position where the move was ``+``
    (``right_down`` likewise with ``-``); ``success_up`` / ``success_down``: success on the
    tasks whose target starts above / below, and ``success_balanced`` their mean. A policy
    that drifts to one move scores well on a split that leans that way (the held-out split
    wants ``+`` on 2 optimal moves in 3), so overall success alone cannot tell a learned rule.
    """
    right = {"up": [0, 0], "down": [0, 0]}  # [right moves, turns]
    won = {"up": [0, 0], "down": [0, 0]}
    for episode in ResultStore(heldout).episodes():
        info = episode.get("info") or {}
        if "start" in info and "target" in info:
            task = "up" if info["target"] > info["start"] else "down"
            won[task][0] += bool(episode["won"])
            won[task][1] += 1
        for turn in episode["turns"]:
            match = NUMBERS.search(str(turn["observation"]))
            if not match or match[1] == match[2]:
                continue
            direction = "up" if int(match[1]) > int(match[2]) else "down"
            right[direction][0] += turn["action"] == ("+" if direction == "up" else "-")
            right[direction][1] += 1
    success = {d: hits / max(n, 1) for d, (hits, n) in won.items()}
    return {
        **{f"right_{d}": hits / max(n, 1) for d, (hits, n) in right.items()},
        **{f"success_{d}": rate for d, rate in success.items()},
        # as if the split held as many tasks of each direction (the held-out one leans '+')
        "success_balanced": (success["up"] + success["down"]) / 2,
        **{f"turns_{d}": float(n) for d, (_, n) in right.items()},
    }


def _same_cold_start(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Whether an earlier result's cold start is this one: the same SFT run, the same play.

    The data and the held-out success must be equal; the losses equal to 1e-3 relative,
    because another CPU (other SIMD kernels) rounds the same SFT run differently in the last
    digits (measured: 2e-8 after the first epoch, 3e-5 after the tenth, EZPoints' format-only
    cold start on an Intel Xeon vs an AMD EPYC) while it trains the same model.
    """
    exact = ("episodes", "kept", "turns", "teacher_success")
    same_losses = all(
        len(ours["cold_start"][k]) == len(theirs["cold_start"][k])
        and all(math.isclose(a, b, rel_tol=1e-3)
                for a, b in zip(ours["cold_start"][k], theirs["cold_start"][k], strict=True))
        for k in ("epoch_losses", "val_losses")
    )  # fmt: skip
    return (
        ours["success"] == theirs["success"]
        and all(ours["cold_start"].get(k) == theirs["cold_start"].get(k) for k in exact)
        and same_losses
    )


RUN_SETTINGS = ("config", "iterations", "eval_every", "eval_tasks", "final_eval_tasks",
                "memory_window", "rl_overrides", "streams")  # fmt: skip


def _legacy_runs(method: dict[str, Any], curves: list[Any]) -> list[dict[str, Any]]:
    """Run records of a result written before they existed (its lists are in seed order)."""
    columns = zip(method["per_seed"], method["stream_success"], method["paired_vs_cold_start"],
                  curves, strict=True)  # fmt: skip
    return [
        {
            "seed": seed,
            "success": success,
            "stream_success": streams,
            "paired_vs_cold_start": paired,
            "curve": curve,
            "env_steps": curve[-1]["env_steps"] if curve else None,  # at the last validation
        }
        for seed, (success, streams, paired, curve) in enumerate(columns)
    ]


def imported_runs(
    args: argparse.Namespace, arm: str, cold: dict[str, Any]
) -> dict[tuple[str, int], dict[str, Any]]:
    """(method, seed) -> run record, from ``--import-from`` results of the same arm and setup."""
    runs: dict[tuple[str, int], dict[str, Any]] = {}
    for path in args.import_from:
        earlier = json.loads(Path(path).read_text())
        if arm not in earlier["arms"]:
            continue
        differ = [k for k in RUN_SETTINGS if earlier["args"].get(k) != str(getattr(args, k))]
        if differ:
            raise SystemExit(f"--import-from {path}: {arm} was run with other {differ}")
        result = earlier["arms"][arm]
        if not _same_cold_start(cold, result["cold_start"]):
            raise SystemExit(f"--import-from {path}: {arm} started from another cold start")
        for method, m in result["methods"].items():
            curves = earlier["curves"][arm][method]
            records = [
                {**run, "curve": curve} for run, curve in zip(m["runs"], curves, strict=True)
            ] if "runs" in m else _legacy_runs(m, curves)  # fmt: skip
            for record in records:
                runs.setdefault((method, record["seed"]), {**record, "imported_from": path})
    return runs


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
    cold_result = {
        "success": cold["rollout/success"],
        "stream_success": cold.get("stream_success"),
        "cold_start": json.loads((cold_dir / "cold_start.json").read_text()),
    }
    if game == "numberline":
        cold_result["moves"] = numberline_moves(cold_dir / "heldout")
    earlier = imported_runs(args, f"{game}/{start}", cold_result)
    chosen = args.methods.split(",")
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in chosen}
    for seed in range(args.seeds):  # seed-major: a cut-short study has every method per seed
        for method in chosen:
            if (method, seed) in earlier:
                runs[method].append(earlier[method, seed])
                continue
            rows = train_one(arm_args, work, method, seed)
            run_dir = work / f"{method}_seed{seed}"
            model = run_dir / "checkpoints" / f"iter_{args.iterations:06d}" / "model"
            final = held_out(args.config, model, shared, args.final_eval_tasks,
                             run_dir / "heldout", args.streams)  # fmt: skip
            record = run_record(seed, final, cold["won"], rows)
            if game == "numberline":
                record["moves"] = numberline_moves(run_dir / "heldout")
            runs[method].append(record)
    methods: dict[str, Any] = {}
    for method in chosen:
        steps = [r["env_steps"] for r in runs[method] if r["env_steps"] is not None]
        methods[method] = {
            **seed_summary(runs[method]),
            "stream_success": [r["stream_success"] for r in runs[method]],
            "env_steps": statistics.mean(steps) if steps else None,  # training env steps per run
        }
    return {
        "cold_start": cold_result,
        "methods": methods,
        "curves": {m: [r["curve"] for r in runs[m]] for m in chosen},
    }


MOVES_COLUMNS = [
    ("arm", "game/cold start", "s"),
    ("run", "run", "s"),
    ("success", "held-out success", ".3f"),
    ("right_up", "right moves, target above", ".3f"),
    ("right_down", "right moves, target below", ".3f"),
    ("success_up", "success, target above", ".3f"),
    ("success_down", "success, target below", ".3f"),
    ("success_balanced", "success, directions balanced", ".3f"),
]


def moves_table(arms: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """NumberLine rows: right moves and success per direction, the cold start and every run."""
    rows = []
    for arm, result in arms.items():
        cold = result["cold_start"]
        if "moves" in cold:
            rows.append({"arm": arm, "run": "cold start", "success": cold["success"],
                         **cold["moves"]})  # fmt: skip
        for method, m in result["methods"].items():
            for run in m["runs"]:
                if "moves" in run:
                    rows.append({"arm": arm, "run": f"{method} seed {run['seed']}",
                                 "success": run["success"], **run["moves"]})  # fmt: skip
    return rows


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
    moves = moves_table(arms)
    if moves:
        print()
        print(markdown_table(moves, MOVES_COLUMNS))

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
