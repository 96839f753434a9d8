"""SmolLM2-135M-Instruct on the card games, on CPU: zero-shot, cold start, GiGPO and T2PO.

Issue 16 part 6: what a real pretrained model does on NumberLine and EZPoints at every
stage, and what each stage costs on a CPU. For each game (``--games``):

1. *zero-shot*: the model as converted, no fine-tuning;
2. *cold start*: SFT on the weakly informed expert of ``configs/cards_smollm2.yaml`` (it
   slips to a random move on 80% of turns, every episode kept), which leaves RL work to do;
3. *GiGPO* and *T2PO* (GiGPO + TTI + TDS, ``_family_study.METHODS``), each from that cold
   start for ``--iterations`` iterations.

Every stage plays the same held-out tasks on ``--streams`` sampling streams (``t2po eval``'s
path, ``_family_study.held_out``); each RL run and the zero-shot model are paired against the
cold start task by task (``t2po compare``'s sign test). Reported per stage: held-out success,
invalid and malformed turns, turns per episode, tokens per turn, wall seconds; per RL run:
seconds per iteration (rollout and update apart) and the update's tokens per second.

    python studies/smollm2_cards.py                  # both games (~45 min, 1 busy core)
    python studies/smollm2_cards.py --games ezpoints --iterations 3
    python studies/smollm2_cards.py --quick --model tiny   # a minute: checks the script

``--model tiny`` runs the same path on the tiny model (no SmolLM2 package needed). Writes
``runs/studies/smollm2_cards/smollm2_cards.json`` (``--out`` to change it) and ends with
``RESULT smollm2_cards <game>_zero_shot=<s> <game>_cold=<s> <game>_gigpo=<s> <game>_t2po=<s>
... s_per_iter=<mean seconds per RL iteration>``.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path
from typing import Any

import _common as common
from _family_study import METHODS, _vs_cold_start, held_out

from t2po.config import load_config
from t2po.envs.registry import get_family, make_env
from t2po.evaluation.store import ResultStore
from t2po.inference.chat import encode_chat
from t2po.models.loading import load_tokenizer
from t2po.rollout.prompts import build_messages
from t2po.telemetry.plots import markdown_table, read_metrics_jsonl
from t2po.train.coldstart import cold_start_from_config
from t2po.train.trainer import Trainer

NAME = "smollm2_cards"
ROOT = Path(__file__).resolve().parent
# Each game on top of the preset (configs/cards_smollm2.yaml is NumberLine on 0..5).
GAMES = {
    "numberline": [],
    "ezpoints": [
        "env.kwargs.game=ezpoints",
        "env.kwargs.max_pos=null",  # a NumberLine option; EZPoints takes none
        "env.max_turns=6",  # the expert needs 4 turns (card, operator, card, =)
        "rollout.max_new_tokens=48",  # its thought spells the formula: ~35 tokens
    ],
}
NOT_A_FORMAT_ERROR = "not a valid action"  # parse errors after the format was read
NUMBERLINE_STATE = re.compile(r"Target: (\d+)\nCurrent: (\d+)")
NUMBERLINE_THOUGHT = re.compile(r"current (\d+), target (\d+)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT.parent / "configs" / "cards_smollm2.yaml"))
    parser.add_argument("--model", default="", help="model.path of every stage; '' = preset's")
    parser.add_argument("--games", default="numberline,ezpoints", help=f"of {', '.join(GAMES)}")
    parser.add_argument("--methods", default="gigpo,t2po", help=f"of {', '.join(METHODS)}")
    # The defaults are the committed run's, sized to ~45 minutes of one shared CPU core.
    parser.add_argument("--iterations", type=int, default=3, help="RL iterations per method")
    parser.add_argument("--tasks-per-iter", type=int, default=2)
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--eval-tasks", type=int, default=8, help="held-out tasks per stage")
    parser.add_argument("--streams", type=int, default=2, help="sampling streams per stage")
    parser.add_argument(
        "--probe-tasks",
        type=int,
        default=8,
        help="NumberLine: training-split tasks each trained model plays to check both "
        "directions (direction_probe); 0 = none",
    )
    parser.add_argument("--rft-episodes", type=int, default=16, help="0 = the preset's")
    parser.add_argument("--rft-epochs", type=int, default=1, help="0 = the preset's")
    parser.add_argument("--seed", type=int, default=0, help="the RL runs' seed")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override for every stage (repeatable), e.g. env.max_turns=8",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--work", default=str(common.run_folder(NAME) / "runs"))
    parser.add_argument("--out", default=str(common.run_folder(NAME) / f"{NAME}.json"))
    parser.add_argument(
        "--reuse", action="store_true", help="keep the finished stages found in --work"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes to check the script")
    args = parser.parse_args()
    if args.quick:
        args.iterations, args.tasks_per_iter, args.group_size = 1, 2, 2
        args.eval_tasks, args.streams, args.rft_episodes, args.rft_epochs = 2, 2, 4, 1
        args.probe_tasks = 2
        args.overrides = ["env.max_turns=3", "rollout.max_new_tokens=16", *args.overrides]
    for kind, chosen, valid in (("game", args.games, GAMES), ("method", args.methods, METHODS)):
        unknown = set(chosen.split(",")) - set(valid)
        if unknown:
            parser.error(f"unknown {kind} {sorted(unknown)}; valid: {', '.join(valid)}")
    return args


def stage_overrides(args: argparse.Namespace, game: str) -> list[str]:
    """Overrides every stage of ``game`` shares (the model, the game, the user's)."""
    model = [f"model.path={args.model}"] if args.model else []
    return [*model, *GAMES[game], *args.overrides, "log.progress=false"]


def prompt_tokens(config: str, overrides: list[str]) -> int:
    """Tokens of a first-turn prompt of the game (every turn's prompt is within a token or two:
    memory window 0), to turn logged turn counts into the tokens an update trains on."""
    cfg = load_config(config, overrides)
    family = get_family(cfg.env.family)
    tokenizer = load_tokenizer(cfg.model.path)
    env = make_env(family.env_id, **cfg.env.kwargs)
    obs, info = env.reset(seed=0)
    env.close()
    text = obs["text"] if isinstance(obs, dict) else str(obs)
    messages = build_messages(
        family.instructions,
        text,
        [],
        memory_window=0,
        turn_index=0,
        task=info.get("task"),
        admissible_actions=info.get("admissible_actions"),
    )
    return len(encode_chat(tokenizer, messages))


def numberline_moves(turns: list[dict[str, Any]]) -> dict[str, float]:
    """NumberLine's diagnostics (docs/studies/cards.md) over the turns that show its state:
    the share whose move heads for the target, and whose thought copies the state; and the
    right-move share apart for states that want ``+`` and ``-`` (a policy that learned only
    the marginal is right in one direction, wrong in the other)."""
    right = {"+": 0, "-": 0}
    shown = {"+": 0, "-": 0}
    copied = 0
    for turn in turns:
        state = NUMBERLINE_STATE.search(turn["observation"])
        if state is None:
            continue
        target, current = int(state[1]), int(state[2])
        wanted = "+" if target > current else "-"
        shown[wanted] += 1
        right[wanted] += turn["action"] == wanted
        thought = NUMBERLINE_THOUGHT.search(turn["response"] or "")
        copied += thought is not None and (int(thought[1]), int(thought[2])) == (current, target)
    total = shown["+"] + shown["-"]
    if not total:
        return {}
    moves = {
        "right_move_rate": (right["+"] + right["-"]) / total,
        "state_copy_rate": copied / total,
        "up_turns": float(shown["+"]),
        "down_turns": float(shown["-"]),
    }
    for wanted, name in (("+", "right_up_rate"), ("-", "right_down_rate")):
        if shown[wanted]:
            moves[name] = right[wanted] / shown[wanted]
    return moves


def play_stats(folder: Path) -> dict[str, Any]:
    """Malformed-reply rate, NumberLine's move diagnostics, play seconds and a few
    transcript snippets of an evaluation folder (read back as it was written)."""
    store = ResultStore(folder)
    episodes = list(store.episodes())
    turns = [t for e in episodes for t in e["turns"]]
    malformed = [
        t for t in turns if t["parse_error"] and not t["parse_error"].startswith(NOT_A_FORMAT_ERROR)
    ]
    snippets = [
        {
            "task": e["key"],
            "won": e["won"],
            "observation": e["turns"][0]["observation"],
            "response": e["turns"][0]["response"][:240],
        }
        for e in episodes[:2]
        if e["turns"]
    ]
    return {
        "malformed_rate": len(malformed) / max(1, len(turns)),
        **numberline_moves(turns),
        "seconds": sum(float(u["seconds"]) for u in store.usage()),  # the playing, not a reread
        "snippets": snippets,
    }


def evaluate(
    args: argparse.Namespace, overrides: list[str], model: Path, folder: Path
) -> dict[str, Any]:
    """One stage's held-out summary (``won`` per task and stream), its cost and snippets."""
    summary = held_out(args.config, model, overrides, args.eval_tasks, folder, args.streams)
    summary.update(play_stats(folder))
    return summary


def direction_probe(
    args: argparse.Namespace, overrides: list[str], model: Path, folder: Path
) -> dict[str, Any]:
    """NumberLine only: the model on ``--probe-tasks`` training-split tasks, one stream.

    The held-out split of the 0..5 line is 6 (start, target) pairs of which 5 start below the
    target, so held-out success cannot tell the rule from a policy that always presses ``+``;
    the training split's 24 pairs are half each way. The right-move share per direction
    there is the check (seen pairs: it measures the rule, not generalisation)."""
    probe = [*overrides, "eval.split=train"]
    summary = held_out(args.config, model, probe, args.probe_tasks, folder, 1)
    episodes = list(ResultStore(folder).episodes())
    moves = numberline_moves([t for e in episodes for t in e["turns"]])
    return {"success": summary["rollout/success"], "tasks": len(episodes), **moves}


def train_rl(
    args: argparse.Namespace, overrides: list[str], cold_dir: Path, method: str, run_dir: Path
) -> list[dict[str, Any]]:
    """One RL run from the cold start (kept with ``--reuse`` when finished); its metrics."""
    metrics = run_dir / "metrics.jsonl"
    if args.reuse and metrics.is_file():
        rows = read_metrics_jsonl(metrics)
        if rows and rows[-1].get("step") == args.iterations:
            return rows
    rl = [
        f"train.init_from={cold_dir}",
        "train.cold_start=false",
        f"train.iterations={args.iterations}",
        f"train.checkpoint_every={args.iterations}",  # only the final model is evaluated
        "train.eval_every=0",
        "train.eval_tasks=0",  # the study evaluates the final model on its held-out tasks
        f"rollout.tasks_per_iter={args.tasks_per_iter}",
        f"rollout.group_size={args.group_size}",
        "log.loggers=[jsonl]",
        "log.transcripts_per_iter=4",
        f"seed={args.seed}",
        f"run_dir={run_dir}",
        "train.resume=false",
    ]
    cfg = load_config(args.config, [*overrides, *METHODS[method], *rl])
    Trainer(cfg).fit()
    return read_metrics_jsonl(metrics)


def iteration_costs(rows: list[dict[str, Any]], prompt_len: int) -> dict[str, float]:
    """Seconds per iteration (rollout and update apart) and the update's tokens per second.

    An update trains on every turn's prompt and response; the prompt is ``prompt_len``
    tokens (within one or two: memory window 0), so tokens ≈ turns × prompt + responses.
    """
    iters = [r for r in rows if "timing/iter_s" in r]
    tokens = [r["rollout/env_steps"] * prompt_len + r["rollout/tokens_total"] for r in iters]
    update_s = sum(r["timing/update_s"] for r in iters)
    return {
        "s_per_iter": statistics.mean(r["timing/iter_s"] for r in iters),
        "rollout_s_per_iter": statistics.mean(r["timing/rollout_s"] for r in iters),
        "update_s_per_iter": statistics.mean(r["timing/update_s"] for r in iters),
        "turns_per_iter": statistics.mean(r["rollout/env_steps"] for r in iters),
        "update_tokens_per_s": sum(tokens) / update_s if update_s > 0 else float("nan"),
        "train_success": [r["rollout/success"] for r in iters],
        "train_invalid_rate": [r["rollout/invalid_rate"] for r in iters],
    }


STAGE_KEYS = (
    ("rollout/success", "success"),
    ("rollout/invalid_rate", "invalid"),
    ("malformed_rate", "malformed"),
    ("right_move_rate", "right_move"),
    ("state_copy_rate", "state_copy"),
    ("rollout/turns", "turns"),
    ("rollout/tokens_per_turn", "tokens_per_turn"),
    ("stream_success", "stream_success"),
    ("seconds", "eval_s"),
    ("snippets", "snippets"),
)


def stage_row(summary: dict[str, Any], cold: dict[str, Any] | None) -> dict[str, Any]:
    row = {column: summary[key] for key, column in STAGE_KEYS if key in summary}
    if cold is not None:
        row["paired_vs_cold_start"] = _vs_cold_start(cold["won"], summary["won"])
    return row


def run_game(args: argparse.Namespace, game: str) -> dict[str, Any]:
    """Every stage of one game: zero-shot, cold start, each RL method; costs and snippets."""
    work = Path(args.work) / game
    work.mkdir(parents=True, exist_ok=True)
    shared = stage_overrides(args, game)
    model = Path(load_config(args.config, shared).model.path)
    prompt_len = prompt_tokens(args.config, shared)

    zero = evaluate(args, shared, model, work / "zero_shot" / "heldout")
    print(f"{game}: zero-shot {zero['rollout/success']:.3f} ({zero['seconds']:.0f}s)", flush=True)

    cold_dir = work / "cold_start"
    if not (args.reuse and (cold_dir / "cold_start.json").is_file()):
        rft = [f"rft.episodes={args.rft_episodes}"] if args.rft_episodes else []
        rft += [f"rft.epochs={args.rft_epochs}"] if args.rft_epochs else []
        cold_start_from_config(load_config(args.config, [*shared, *rft]), cold_dir)
    sft = json.loads((cold_dir / "cold_start.json").read_text())
    cold = evaluate(args, shared, cold_dir, cold_dir / "heldout")
    print(
        f"{game}: cold start {cold['rollout/success']:.3f} (SFT {sft['seconds']:.0f}s, "
        f"eval {cold['seconds']:.0f}s)",
        flush=True,
    )
    probes = game == "numberline" and args.probe_tasks > 0

    def probe(model: Path, folder: Path) -> dict[str, Any]:
        return {"train_split_probe": direction_probe(args, shared, model, folder)} if probes else {}

    stages: dict[str, Any] = {
        "zero_shot": stage_row(zero, cold),
        "cold_start": {**stage_row(cold, None), "sft": sft, **probe(cold_dir, cold_dir / "probe")},
    }
    for method in args.methods.split(","):
        run_dir = work / f"{method}_seed{args.seed}"
        rows = train_rl(args, shared, cold_dir, method, run_dir)
        final = run_dir / "checkpoints" / f"iter_{args.iterations:06d}" / "model"
        summary = evaluate(args, shared, final, run_dir / "heldout")
        costs = iteration_costs(rows, prompt_len)
        stages[method] = {**stage_row(summary, cold), **costs, **probe(final, run_dir / "probe")}
        print(
            f"{game}: {method} {summary['rollout/success']:.3f} "
            f"({costs['s_per_iter']:.0f} s/iteration, {costs['update_tokens_per_s']:.0f} "
            "update tokens/s)",
            flush=True,
        )
    return {"prompt_tokens": prompt_len, "model": str(model), "stages": stages}


def print_tables(games: dict[str, Any]) -> None:
    table, costs = [], []
    for game, result in games.items():
        for stage, row in result["stages"].items():
            paired = row.get("paired_vs_cold_start")
            table.append({
                "game": game, "stage": stage, **row,
                "streams": " / ".join(f"{s:.3f}" for s in row.get("stream_success") or []),
                "paired": f"+{paired['only_after']}/-{paired['only_before']} p={paired['p']:.3f}"
                if paired else "",
            })  # fmt: skip
            if "s_per_iter" in row:
                costs.append({"game": game, "method": stage, **row})
    print()
    print(markdown_table(table, [
        ("game", "game", "s"), ("stage", "stage", "s"),
        ("success", "held-out success", ".3f"), ("streams", "per stream", "s"),
        ("invalid", "invalid turns", ".3f"), ("malformed", "malformed replies", ".3f"),
        ("right_move", "right moves", ".3f"),
        ("turns", "turns/episode", ".2f"), ("tokens_per_turn", "tokens/turn", ".1f"),
        ("paired", "vs cold start (won only here / only there, sign test)", "s"),
    ]))  # fmt: skip
    probes = [
        {"game": game, "stage": stage, **row["train_split_probe"]}
        for game, result in games.items()
        for stage, row in result["stages"].items()
        if "train_split_probe" in row
    ]
    if probes:
        print()
        print(markdown_table(probes, [
            ("game", "game", "s"), ("stage", "stage", "s"), ("tasks", "training tasks", "d"),
            ("success", "success", ".3f"), ("right_up_rate", "right when + wanted", ".3f"),
            ("right_down_rate", "right when - wanted", ".3f"),
            ("state_copy_rate", "thought copies state", ".3f"),
        ]))  # fmt: skip
    if costs:
        print()
        print(markdown_table(costs, [
            ("game", "game", "s"), ("method", "method", "s"),
            ("s_per_iter", "s/iteration", ".0f"), ("rollout_s_per_iter", "rollout s", ".0f"),
            ("update_s_per_iter", "update s", ".0f"), ("turns_per_iter", "turns/iteration", ".0f"),
            ("update_tokens_per_s", "update tokens/s", ".0f"),
        ]))  # fmt: skip


def main() -> None:
    args = parse_args()
    common.set_offline()
    import torch

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    games = {game: run_game(args, game) for game in args.games.split(",")}
    print_tables(games)
    result_line: dict[str, float] = {}
    per_iter = []
    for game, result in games.items():
        for stage, row in result["stages"].items():
            label = "cold" if stage == "cold_start" else stage
            result_line[f"{game}_{label}"] = row["success"]
            if "s_per_iter" in row:
                per_iter.append(row["s_per_iter"])
    if per_iter:
        result_line["s_per_iter"] = statistics.mean(per_iter)
    payload = {
        "machine": common.machine_info("cpu"),
        "threads": args.threads,
        "args": {k: str(v) for k, v in vars(args).items()},
        "games": games,
        "wall_s": time.perf_counter() - t0,
    }
    common.finish(NAME, Path(args.out), payload, result_line)


if __name__ == "__main__":
    main()
