"""TTI's token savings, measured on a model that overthinks (issue 16, part 5).

T2PO's first claim is fewer thinking tokens at equal or better success (method.md §3). A
scripted expert writes a dozen tokens and stops, which leaves Thinking Intervention nothing
to cut, so this study first makes a model that rambles *after* deciding: a NumberLine cold
start (0..10) from the expert whose every thought keeps the decision first and then runs on
with a redundant tail of 20..200 tokens (``rft.overthink_tokens``: restating the state,
re-checking the decision; ``t2po.rollout.overthink``). Then, on the same held-out tasks and
sampling streams (``run_suite``, the seed rule of ``t2po eval``):

- (a) TTI off;
- (b) TTI on, with ``tti.l_min`` / ``window`` / ``eps`` chosen once on a *tuning* split (tasks
  of the train split, their own seeds, never the held-out ones): the cold-start model plays
  it with TTI off, the TTI controller is replayed on the recorded ``M_t`` traces for every
  setting of a small grid (TTI changes nothing before it fires, so the replay gives the
  thinking length TTI would leave, and whether it would cut before the decision is written),
  the setting that leaves the fewest thinking tokens without cutting a decision on more than
  1% of turns is played for real on the tuning split, and kept if its success is within 0.03
  of TTI off there (else the next one);
- (c) the hard budget ``L_max`` alone (the paper's fallback as a baseline: ``eps`` 0, so the
  plateau rule never fires), with the budget set to (b)'s mean thinking length on the tuning
  split, rounded up: the same mean spend as TTI, put where a fixed budget puts it.

Thinking tokens are the sampled tokens strictly inside ``<think>…</think>``; the forced text
is counted apart. Each arm is paired against (a) task by task (``t2po compare``'s sign test),
per sampling stream and pooled. Then GiGPO (TTI and TDS off) and T2PO (TTI with the tuned
setting, and TDS) train from that cold start with the same seeds, and every final model plays
the held-out tasks with TTI off and with TTI on.

    python studies/tti_tokens.py --quick       # seconds: checks the script works
    OMP_NUM_THREADS=1 python studies/tti_tokens.py --threads 1 --out studies/results/tti_tokens.json

Last line: ``RESULT tti_tokens think_tokens_off=<n> think_tokens_on=<n> success_off=<s>
success_on=<s> budget_only_tokens=<n> budget_only_success=<s>`` (held-out, both streams).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import _common as common
import torch
from _family_study import train_one

from t2po.config import Config, load_config
from t2po.evaluation import paired_sign_test, run_suite, validation_config
from t2po.exploration.tti import TTIController, TTIParams
from t2po.inference.factory import load_hf_sampler
from t2po.response_format import THINK_CLOSE, THINK_OPEN
from t2po.telemetry.plots import markdown_table
from t2po.train.coldstart import cold_start_from_config
from t2po.types import Trajectory, Turn

NAME = "tti_tokens"
GAME = ["env.kwargs.game=numberline", "env.kwargs.max_pos=10"]
# The expert, never slipping, every episode kept (it wins them all): the overthinking tail is
# the only thing this cold start adds to the preset's.
TEACHER = ["rft.teacher=expert", "rft.expert_slip=0", "rft.min_score=-1"]
TTI_OFF = ["tti.enabled=false", "tti.enabled_in_eval=false"]
# RL from the overthinking cold start with _family_study's methods: GiGPO with TTI and TDS
# off, T2PO with both on (TTI with the tuned setting, passed to every run).
RL_METHODS = ("gigpo", "t2po")
# The tuning split: tasks of the train split with seeds of their own (RL draws its training
# tasks from 0 up, the cold start from rft.seed_offset = 1e6, evaluation from 1e7).
TUNE_SEED_OFFSET = 30_000_000
GRID = {"l_min": (16, 24, 32), "window": (4, 8, 16), "eps": (0.003, 0.01, 0.02, 0.05, 0.1)}
MAX_EARLY_CUTS = 0.01  # a setting may cut at most this share of turns before the decision
TUNE_SUCCESS_SLACK = 0.03  # and must keep success within this of TTI off on the tuning split
TUNE_TRIES = 3


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=f"studies/{NAME}.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(common.REPO / "configs" / "cards_numberline.yaml"))
    p.add_argument("--overthink", default="20,200", help="tail length range in tokens, low,high")
    p.add_argument("--max-new-tokens", type=int, default=260, help="fits the tail + the action")
    p.add_argument("--max-turns", type=int, default=20, help="NumberLine's own limit: 2 x 10")
    p.add_argument(
        "--forced-text",
        default="</think><action>",
        help="tti.forced_text: the cold start's own format (no newline between)",
    )
    p.add_argument("--rft-episodes", type=int, default=256)
    p.add_argument("--rft-epochs", type=int, default=5)
    p.add_argument("--tune-tasks", type=int, default=64, help="tasks of the tuning split")
    p.add_argument("--eval-tasks", type=int, default=128, help="held-out tasks per stream")
    p.add_argument("--streams", type=int, default=2, help="sampling streams per evaluation")
    p.add_argument("--seeds", type=int, default=1, help="RL seeds per method")
    p.add_argument("--iterations", type=int, default=20, help="RL iterations per run")
    p.add_argument("--tasks-per-iter", type=int, default=8)
    p.add_argument("--group-size", type=int, default=8)
    p.add_argument(
        "--val-tasks", type=int, default=16, help="in-run validation tasks (step 0, end)"
    )
    p.add_argument(
        "--set",
        dest="rl_overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override for every RL run (repeatable)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    p.add_argument("--reuse", action="store_true", help="keep finished stages found in --work")
    p.add_argument("--quick", action="store_true", help="tiny sizes (seconds; for tests)")
    p.add_argument("--work", type=Path, default=common.run_folder(NAME) / "runs")
    p.add_argument("--out", type=Path, default=common.run_folder(NAME) / f"{NAME}.json")
    args = p.parse_args()
    if args.quick:
        args.overthink, args.max_new_tokens, args.max_turns = "10,40", 60, 3
        args.rft_episodes, args.rft_epochs, args.tune_tasks, args.eval_tasks = 8, 1, 4, 4
        args.seeds, args.iterations, args.tasks_per_iter, args.group_size = 1, 1, 2, 2
        args.val_tasks = 2
    low, _, high = args.overthink.partition(",")
    args.tail = (int(low), int(high))
    return args


def game(args: argparse.Namespace) -> list[str]:
    """The game and the response budget every stage plays with."""
    return [
        *GAME,
        f"env.max_turns={args.max_turns}",
        f"rollout.max_new_tokens={args.max_new_tokens}",
    ]


# --- counting -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Markers:
    """The token ids the counts look for (single added tokens in the tiny model)."""

    think_open: int
    think_close: int
    stop_chars: frozenset[int]  # ids whose text holds a '.', the end of the decision sentence

    @classmethod
    def of(cls, tokenizer: Any) -> Markers:
        def one(text: str) -> int:
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            if len(ids) != 1:
                raise ValueError(f"{text!r} is {len(ids)} tokens; the counts need one")
            return int(ids[0])

        stops = {i for i in range(len(tokenizer)) if "." in tokenizer.decode([i])}
        return cls(one(THINK_OPEN), one(THINK_CLOSE), frozenset(stops))


def thinking_tokens(turn: Turn, markers: Markers) -> int:
    """Sampled tokens strictly inside the first thinking block (forced tokens end it)."""
    inside, count = False, 0
    for i, token in enumerate(turn.response_token_ids):
        if turn.forced_mask and turn.forced_mask[i]:
            break
        if not inside:
            inside = token == markers.think_open
        elif token == markers.think_close:
            break
        else:
            count += 1
    return count


def decision_end(turn: Turn, markers: Markers) -> int | None:
    """Index of the response token that ends the thought's first sentence (the decision:
    ``current 3, target 7: go up.``), or None when the thought never writes one."""
    inside = False
    for i, token in enumerate(turn.response_token_ids):
        if not inside:
            inside = token == markers.think_open
        elif token == markers.think_close or (turn.forced_mask and turn.forced_mask[i]):
            return None
        elif token in markers.stop_chars:
            return i
    return None


def play_stats(trajectories: list[Trajectory], markers: Markers, l_max: int) -> dict[str, Any]:
    """Token counts per turn and per sampling stream, for one evaluation."""
    by_stream: dict[int, list[Turn]] = defaultdict(list)
    for t in trajectories:
        by_stream[stream_of(t.task_id)].extend(t.turns)
    turns = [turn for ts in by_stream.values() for turn in ts]
    think = [thinking_tokens(t, markers) for t in turns]
    fired = [t.tti_fired_at is not None for t in turns]
    stats = {
        "turns": len(turns),
        "think_tokens": mean(think),
        "forced_tokens": mean(sum(t.forced_mask) for t in turns),
        "response_tokens": mean(len(t.response_token_ids) for t in turns),
        "fire_rate": mean(fired),
        "budget_fire_rate": mean(f and n >= l_max for f, n in zip(fired, think, strict=True)),
        "no_decision_rate": mean(decision_end(t, markers) is None for t in turns),
        "stream_think_tokens": [
            mean(thinking_tokens(t, markers) for t in by_stream[s]) for s in sorted(by_stream)
        ],
    }
    return stats


def stream_of(key: str) -> int:
    """The sampling stream of an episode key (``family/split/seed``, ``...@<stream>`` > 0)."""
    _, at, stream = key.rpartition("@")
    return int(stream) if at else 0


def mean(values: Any) -> float:
    values = [float(v) for v in values]
    return statistics.mean(values) if values else float("nan")


# --- playing ------------------------------------------------------------------------------


def play(
    args: argparse.Namespace,
    model: Path,
    folder: Path,
    overrides: list[str],
    tasks: int,
    streams: int,
    tune: bool = False,
) -> tuple[dict[str, Any], list[Trajectory]]:
    """One evaluation of ``model`` through ``run_suite`` (always played: the token counts
    need the episodes' token ids, which the results folder does not keep)."""
    shared = game(args)
    cfg: Config = load_config(
        args.config, [*shared, *overrides, f"model.path={model}", "log.progress=false"]
    )
    cfg = validation_config(cfg, tasks)
    evaluation = dataclasses.replace(cfg.eval, streams=streams)
    if tune:
        evaluation = dataclasses.replace(evaluation, split="train", seed_offset=TUNE_SEED_OFFSET)
    cfg = dataclasses.replace(cfg, eval=evaluation)
    sampler = load_hf_sampler(
        str(model), device=cfg.model.device, dtype=cfg.model.dtype, seed=cfg.seed
    )
    t0 = time.perf_counter()
    suite = run_suite(cfg, sampler, folder, restart=True, log=lambda _: None)
    markers = Markers.of(sampler.tokenizer)
    total = suite.summary["total"]
    summary = {
        "success": total["success"],
        "stream_success": suite.summary.get("stream_success", [total["success"]]),
        "turns_per_episode": total["turns"],
        "invalid_rate": total["invalid_rate"],
        "seconds": time.perf_counter() - t0,
        **play_stats(suite.trajectories, markers, cfg.tti.l_max),
        "won": {t.task_id: bool(t.won) for t in suite.trajectories},
    }
    (folder / "tokens.json").write_text(json.dumps(summary, indent=2))
    return summary, suite.trajectories


def played(folder: Path, reuse: bool) -> dict[str, Any] | None:
    path = folder / "tokens.json"
    return json.loads(path.read_text()) if reuse and path.is_file() else None


# --- tuning -------------------------------------------------------------------------------


def tti_overrides(setting: dict[str, Any], forced_text: str) -> list[str]:
    return [
        "tti.enabled=true",
        "tti.enabled_in_eval=true",
        f"tti.l_min={setting['l_min']}",
        f"tti.window={setting['window']}",
        f"tti.eps={setting['eps']}",
        f"tti.l_max={setting['l_max']}",
        f"tti.forced_text={json.dumps(forced_text)}",
    ]


def replay(turns: list[Turn], markers: Markers, params: TTIParams) -> dict[str, float]:
    """Where TTI with ``params`` would have fired on these TTI-off turns (method.md §3).

    The real controller is fed each turn's recorded tokens and ``M_t``: before it fires TTI
    changes nothing, so its first firing on the record is where it would fire live. Returns
    the mean thinking tokens it would leave, the share of turns it fires on and the share it
    would cut before the decision sentence ends.
    """
    b, t_max = len(turns), max(len(t.response_token_ids) for t in turns)
    ids_B_T = torch.zeros((b, t_max), dtype=torch.long)
    m_B_T = torch.zeros((b, t_max))
    alive_B_T = torch.zeros((b, t_max), dtype=torch.bool)
    for i, turn in enumerate(turns):
        n = len(turn.response_token_ids)
        ids_B_T[i, :n] = torch.tensor(turn.response_token_ids)
        m_B_T[i, :n] = torch.tensor(turn.uncertainty[:n])
        alive_B_T[i, :n] = True
    tti = TTIController(
        params, [markers.think_close], [markers.think_open], [markers.think_close], batch_size=b
    )
    think_at_fire_B = torch.full((b,), -1, dtype=torch.long)
    index_at_fire_B = torch.full((b,), -1, dtype=torch.long)
    for t in range(t_max):
        fire_B = tti.observe(ids_B_T[:, t], m_B_T[:, t], alive_B_T[:, t])
        think_at_fire_B = torch.where(fire_B, tti.think_len_B, think_at_fire_B)
        index_at_fire_B = torch.where(fire_B, t, index_at_fire_B)
    think, early = [], []
    for i, turn in enumerate(turns):
        natural = thinking_tokens(turn, markers)
        fired = int(think_at_fire_B[i]) >= 0
        think.append(int(think_at_fire_B[i]) if fired else natural)
        end = decision_end(turn, markers)
        early.append(fired and end is not None and int(index_at_fire_B[i]) < end)
    fires = (think_at_fire_B >= 0).float().mean().item()
    return {"think_tokens": mean(think), "fire_rate": fires, "early_cut_rate": mean(early)}


def grid_settings(quick: bool) -> list[dict[str, Any]]:
    grid = {"l_min": (4,), "window": (2,), "eps": (0.05, 0.2)} if quick else GRID
    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]


def m_trace_diagnosis(turns: list[Turn], markers: Markers, window: int) -> dict[str, Any]:
    """How ``M_t`` moves in the decision and in the rambling tail of TTI-off turns: the mean
    ``|ΔM|`` of each part, the smallest window mean of the tail (TTI fires on it only below
    ``eps``), and a few traces to read."""
    decision, tail, tail_min_window = [], [], []
    for turn in turns:
        end = decision_end(turn, markers)
        think = thinking_tokens(turn, markers)
        if end is None or think < 2:
            continue
        m = turn.uncertainty[1 : 1 + think]  # M_t of the thinking tokens (after <think>)
        deltas = [abs(a - b) for a, b in zip(m[1:], m[:-1], strict=False)]
        cut = max(0, end - 1)
        decision.extend(deltas[:cut])
        tail_deltas = deltas[cut:]
        tail.extend(tail_deltas)
        w = window + 1
        if len(tail_deltas) >= w:
            tail_min_window.append(
                min(mean(tail_deltas[i : i + w]) for i in range(len(tail_deltas) - w + 1))
            )
    traces = [
        {
            "response": turn.response_text,
            "decision_end": decision_end(turn, markers),
            "m": [round(x, 4) for x in turn.uncertainty],
        }
        for turn in turns[:3]
    ]
    return {
        "mean_abs_delta_decision": mean(decision),
        "mean_abs_delta_tail": mean(tail),
        "tail_min_window_mean_median": statistics.median(tail_min_window)
        if tail_min_window
        else None,
        "traces": traces,
    }


def tune(args: argparse.Namespace, cold: Path, work: Path) -> dict[str, Any]:
    """Choose the TTI setting and the budget on the tuning split (module docstring)."""
    path = work / "tuning.json"
    if args.reuse and path.is_file():
        return json.loads(path.read_text())
    off, trajectories = play(args, cold, work / "tune_off", TTI_OFF, args.tune_tasks, 1, tune=True)
    sampler_tok = load_hf_sampler(str(cold), device="cpu", dtype="float32", seed=0).tokenizer
    markers = Markers.of(sampler_tok)
    turns = [t for traj in trajectories for t in traj.turns if t.response_token_ids]
    grid = []
    for setting in grid_settings(args.quick):
        params = TTIParams(l_max=10**6, forced_text=args.forced_text, **setting)
        grid.append({**setting, **replay(turns, markers, params)})
    safe = [g for g in grid if g["fire_rate"] > 0 and g["early_cut_rate"] <= MAX_EARLY_CUTS]
    safe.sort(key=lambda g: g["think_tokens"])
    tried: list[dict[str, Any]] = []
    chosen = None
    paper = {"l_min": 32, "window": 20, "eps": 1e-4}  # method.md §3's defaults
    for candidate in [*safe[:TUNE_TRIES], None]:
        # None: no grid setting passed; TTI is then measured with the paper's defaults.
        setting = {k: (candidate or paper)[k] for k in ("l_min", "window", "eps")}
        setting["l_max"] = args.max_new_tokens  # the plateau rule alone decides here
        on, _ = play(
            args,
            cold,
            work / f"tune_on_{len(tried)}",
            tti_overrides(setting, args.forced_text),
            args.tune_tasks,
            1,
            tune=True,
        )
        tried.append({**setting, **{k: v for k, v in on.items() if k != "won"}})
        passed = on["success"] >= off["success"] - TUNE_SUCCESS_SLACK
        if candidate is None or passed:
            chosen = {**setting, "tune_think_tokens": on["think_tokens"], "passed": passed}
            chosen["from_grid"] = candidate is not None
            break
    result = {
        "tune_tasks": args.tune_tasks,
        "split": "train",
        "seed_offset": TUNE_SEED_OFFSET,
        "off": {k: v for k, v in off.items() if k != "won"},
        "grid": grid,
        "tried": tried,
        "chosen": chosen,
        "diagnosis": m_trace_diagnosis(turns, markers, window=8),
    }
    # (c): the same mean spend as TTI on the tuning split, as a hard budget.
    assert chosen is not None
    result["budget"] = max(1, math.ceil(chosen["tune_think_tokens"]))
    path.write_text(json.dumps(result, indent=2))
    return result


# --- the study ----------------------------------------------------------------------------


def paired(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Sign test of ``b`` against ``a`` (task by task), pooled and per stream."""
    per_stream = []
    for s in range(len(a["stream_success"])):
        keep = {k for k in a["won"] if stream_of(k) == s}
        per_stream.append(
            paired_sign_test({k: a["won"][k] for k in keep}, {k: b["won"][k] for k in keep})
        )
    return {**paired_sign_test(a["won"], b["won"]), "per_stream": per_stream}


def evaluate_arms(
    args: argparse.Namespace, cold: Path, work: Path, tuning: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """(a) TTI off, (b) TTI on (tuned), (c) the budget alone, on the held-out tasks."""
    chosen = tuning["chosen"]
    budget = {"l_min": 0, "window": chosen["window"], "eps": 0.0, "l_max": tuning["budget"]}
    arms = {
        "off": TTI_OFF,
        "on": tti_overrides(chosen, args.forced_text),
        "budget_only": tti_overrides(budget, args.forced_text),
    }
    results = {}
    for name, overrides in arms.items():
        folder = work / "heldout" / name
        summary = played(folder, args.reuse)
        if summary is None:
            summary, _ = play(args, cold, folder, overrides, args.eval_tasks, args.streams)
        results[name] = summary
        print(
            f"held-out {name}: success {summary['success']:.3f}, "
            f"thinking tokens/turn {summary['think_tokens']:.1f}",
            flush=True,
        )
    for name in results:
        results[name]["paired_vs_off"] = paired(results["off"], results[name])
    return results


def run_rl(
    args: argparse.Namespace, work: Path, tuning: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, list[list[dict]]]]:
    """GiGPO and T2PO from the overthinking cold start; each final model played with TTI
    off and with TTI on (the tuned setting)."""
    tti_on = tti_overrides(tuning["chosen"], args.forced_text)
    rl_args = argparse.Namespace(
        config=args.config,
        memory_window=0,
        iterations=args.iterations,
        eval_every=args.iterations,
        eval_tasks=args.val_tasks,
        quick=False,
        reuse=args.reuse,
        rl_overrides=[
            *game(args),
            f"rollout.tasks_per_iter={args.tasks_per_iter}",
            f"rollout.group_size={args.group_size}",
            *[o for o in tti_on if not o.startswith("tti.enabled")],
            *args.rl_overrides,
        ],
    )
    methods: dict[str, list[dict[str, Any]]] = {m: [] for m in RL_METHODS}
    curves: dict[str, list[list[dict]]] = {m: [] for m in RL_METHODS}
    for seed in range(args.seeds):
        for method in RL_METHODS:
            t0 = time.perf_counter()
            rows = train_one(rl_args, work, method, seed)  # _family_study's GiGPO / T2PO
            curves[method].append(rows)
            model = work / f"{method}_seed{seed}" / "checkpoints" / f"iter_{args.iterations:06d}"
            final: dict[str, Any] = {"seed": seed, "train_seconds": time.perf_counter() - t0}
            modes = {"tti_off": TTI_OFF, "tti_on": tti_on}
            for mode, mode_overrides in modes.items():
                folder = work / f"{method}_seed{seed}" / f"heldout_{mode}"
                summary = played(folder, args.reuse)
                if summary is None:
                    summary, _ = play(
                        args,
                        model / "model",
                        folder,
                        mode_overrides,
                        args.eval_tasks,
                        args.streams,
                    )
                final[mode] = summary
            methods[method].append(final)
            print(
                f"{method} seed {seed}: "
                + ", ".join(
                    f"{mode} success {final[mode]['success']:.3f} "
                    f"thinking {final[mode]['think_tokens']:.1f}"
                    for mode in modes
                ),
                flush=True,
            )
    return methods, curves


def plot(path: Path, arms: dict[str, Any], rl: dict[str, Any], curves: dict[str, Any]) -> Path:
    """Left: thinking tokens per turn against success, per arm and RL model (held-out).
    Right: thinking tokens per turn in the RL runs' training rollouts."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4))
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    labels = {"off": "(a) TTI off", "on": "(b) TTI on", "budget_only": "(c) budget alone"}
    for name, arm in arms.items():
        left.scatter(arm["think_tokens"], arm["success"], s=60, label=labels[name])
    for method, finals in rl.items():
        for mode, marker in (("tti_off", "x"), ("tti_on", "+")):
            points = [(f[mode]["think_tokens"], f[mode]["success"]) for f in finals if mode in f]
            if points:
                xs, ys = zip(*points, strict=True)
                left.scatter(xs, ys, marker=marker, s=70, label=f"{method} after RL, {mode}")
    left.set_xlabel("thinking tokens per turn (held-out)")
    left.set_ylabel("held-out success")
    left.set_title("cold start and after RL")
    left.legend(fontsize=7)
    for method, runs in curves.items():
        for seed, rows in enumerate(runs):
            points = [
                (r["step"], r["rollout/tokens_per_turn"])
                for r in rows
                if "rollout/tokens_per_turn" in r
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                right.plot(xs, ys, label=f"{method} seed {seed}")
    right.set_xlabel("RL iteration")
    right.set_ylabel("response tokens per turn (training rollouts)")
    right.set_title("RL from the overthinking cold start")
    if right.get_lines():
        right.legend(fontsize=7)
    else:  # --seeds 0: the held-out arms only
        right.text(0.5, 0.5, "RL not run", ha="center", va="center", transform=right.transAxes)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def main() -> None:
    args = parse_args()
    common.set_offline()
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cold = work / "cold_start"
    if not (args.reuse and (cold / "cold_start.json").is_file()):
        rft = [
            *TEACHER,
            f"rft.overthink_tokens=[{args.tail[0]},{args.tail[1]}]",
            f"rft.episodes={args.rft_episodes}",
            f"rft.epochs={args.rft_epochs}",
        ]
        shared = [*game(args), "log.progress=false"]
        cold_start_from_config(load_config(args.config, [*shared, *rft]), cold)
    cold_record = json.loads((cold / "cold_start.json").read_text())
    print(f"cold start: {cold_record['seconds']:.0f}s, {cold_record['turns']} turns", flush=True)

    tuning = tune(args, cold, work)
    print(f"tuning: chosen {tuning['chosen']}, budget {tuning.get('budget')}", flush=True)
    arms = evaluate_arms(args, cold, work, tuning)
    rl, curves = run_rl(args, work, tuning)

    rows = [
        {
            "arm": name,
            "success": a["success"],
            "streams": " / ".join(f"{s:.3f}" for s in a["stream_success"]),
            "think": a["think_tokens"],
            "think_streams": " / ".join(f"{t:.1f}" for t in a["stream_think_tokens"]),
            "forced": a["forced_tokens"],
            "fire": a["fire_rate"],
            "vs_off": f"+{a['paired_vs_off']['only_b']}/-{a['paired_vs_off']['only_a']} "
            f"p={a['paired_vs_off']['p']:.3f}",
        }
        for name, a in arms.items()
    ]
    print()
    print(
        markdown_table(
            rows,
            [
                ("arm", "arm", "s"),
                ("success", "held-out success", ".3f"),
                ("streams", "per stream", "s"),
                ("think", "thinking tokens/turn", ".1f"),
                ("think_streams", "per stream", "s"),
                ("forced", "forced tokens/turn", ".1f"),
                ("fire", "TTI fired (turns)", ".3f"),
                ("vs_off", "vs (a): won only here/only off, p", "s"),
            ],
        )
    )
    rl_rows = [
        {
            "method": method,
            "seed": f["seed"],
            "mode": mode,
            "success": f[mode]["success"],
            "think": f[mode]["think_tokens"],
            "turns": f[mode]["turns_per_episode"],
        }
        for method, finals in rl.items()
        for f in finals
        for mode in ("tti_off", "tti_on")
        if mode in f
    ]
    print()
    print(
        markdown_table(
            rl_rows,
            [
                ("method", "after RL", "s"),
                ("seed", "seed", "d"),
                ("mode", "played with", "s"),
                ("success", "held-out success", ".3f"),
                ("think", "thinking tokens/turn", ".1f"),
                ("turns", "turns/episode", ".2f"),
            ],
        )
    )

    out = Path(args.out)
    png = plot(out.with_suffix(".png"), arms, rl, curves)
    strip = lambda d: {k: v for k, v in d.items() if k != "won"}  # noqa: E731
    payload = {
        "machine": common.machine_info("cpu"),
        "args": {k: str(v) for k, v in vars(args).items()},
        "cold_start": cold_record,
        "tuning": tuning,
        "arms": {name: strip(a) for name, a in arms.items()},
        "rl": {
            m: [{k: (strip(v) if isinstance(v, dict) else v) for k, v in f.items()} for f in finals]
            for m, finals in rl.items()
        },
        "curves": curves,
        "plot": str(png),
        "wall_s": time.perf_counter() - t0,
    }
    off, on, budget = arms["off"], arms["on"], arms["budget_only"]
    common.finish(
        NAME,
        out,
        payload,
        {
            "think_tokens_off": off["think_tokens"],
            "think_tokens_on": on["think_tokens"],
            "success_off": off["success"],
            "success_on": on["success"],
            "budget_only_tokens": budget["think_tokens"],
            "budget_only_success": budget["success"],
        },
    )


if __name__ == "__main__":
    main()
