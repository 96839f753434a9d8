"""credit_alignment: does an RL update make the agent's decisions better on rooms it has not seen?

The learning studies measure the end (held-out success after training); this measures the
first step, where the reason lives. From one policy (by default the cold start the Sokoban
study trains from), it collects one training batch (G rollouts of each room, training
sampling, TTI and TDS as configured) and computes the advantages GiGPO gives it; this is
repeated on ``--repeats`` independent batches, since one batch's direction is mostly noise.
Each *credit* below is a way of weighting a batch's turns; its update direction is the
policy gradient ``d = sum_i A_i * grad log pi(tokens_i)`` (token-mean, as the trainer's loss
at ratio 1).

The target is the agent's **decision**: in the expert's thought grammar, the word after the
last ``move`` (``you (2,3): move right.``); the action copies it. On a second batch the same
policy played on *held-out* rooms, ``P_opt`` is the mean probability, at that word and given
the agent's own thought so far, of a move on a shortest plan (the optimal solver decides).
For each credit the table gives:

- ``cos held-out``: cosine between ``d`` and the gradient of ``P_opt`` on the held-out
  rooms. Positive: a small step along ``d`` makes decisions on unseen rooms better.
- ``cos seen``: the same for ``P_opt`` on the batch's own states (does it learn what it sees).
- ``dP held-out``: the change of held-out ``P_opt`` after one actual step of norm
  ``--step-norm`` along ``d`` (checks the first-order reading).

The solver-labelled credits (``oracle``) are not RL: they show what a correct label per
decision would do with the same states and tokens, and so calibrate the scale.

Usage::

    python studies/credit_alignment.py           # the study's cold start, 3 x 32 rooms x 8
    python studies/credit_alignment.py --tasks 64 --device cuda   # the table in the docs
    python studies/credit_alignment.py --quick   # a small cold start; for tests

Last line: ``RESULT credit_alignment gigpo=<cos> gigpo_decision=<cos> step=<cos>
oracle=<cos>`` (held-out cosines, mean over ``--repeats`` independent batches).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _common as common
import torch
from torch import Tensor, nn

from t2po.algo.advantages import AdvantageParams, gigpo, group_normalize
from t2po.config import Config, load_config
from t2po.envs import get_family
from t2po.envs.sokoban.moves import grade_move, optimal_moves
from t2po.envs.sokoban.render import parse_text
from t2po.envs.sokoban.room import Direction
from t2po.inference.hf import HFSampler
from t2po.models.loading import load_model_and_tokenizer
from t2po.rollout.engine import derive_seed, rollout
from t2po.settings import (
    eval_tasks,
    rollout_settings,
    sampling_params,
    seed_everything,
    train_tasks,
)
from t2po.train.batch import FlatTurns, collate, flatten
from t2po.train.coldstart import cold_start_from_config
from t2po.train.policy import forward_token_stats
from t2po.types import Turn

NAME = "credit_alignment"
REPO = Path(__file__).resolve().parents[1]
# the cold start that studies/learning_sokoban.py writes by default
DEFAULT_INIT = common.run_folder("learning_sokoban") / "runs" / "cold_start"


@dataclasses.dataclass(frozen=True)
class Decision:
    """Where a turn's decision sits: context ids up to and including ``move``, and the
    token ids of the shortest-plan moves there (empty: none, e.g. a lost room)."""

    context_ids: list[int]
    index: int  # position of the decision word inside the response
    optimal_ids: list[int]


def decision_of(turn: Turn, move_id: int, direction_ids: dict[str, int]) -> Decision | None:
    """The decision word after the response's last ``move`` (None if the thought has none)."""
    ids = turn.response_token_ids
    if move_id not in ids[:-1]:
        return None
    k = len(ids) - ids[::-1].index(move_id)
    good = [direction_ids[d] for d in optimal_moves(parse_text(turn.observation))]
    return Decision(turn.prompt_token_ids + ids[:k], k, good)


def _decision_probs(model: nn.Module, part: list[Decision], pad_id: int) -> Tensor:
    """Probability of a shortest-plan move at each decision of ``part``, shape ``(len(part),)``."""
    device = next(model.parameters()).device
    width = max(len(d.context_ids) for d in part)
    ids = torch.full((len(part), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(part), width), dtype=torch.long)
    for b, d in enumerate(part):  # left padding: every row's last position is its decision
        ids[b, width - len(d.context_ids) :] = torch.tensor(d.context_ids)
        mask[b, width - len(d.context_ids) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        position_ids=positions.to(device),
        logits_to_keep=1,
    ).logits[:, -1]
    probs = torch.softmax(logits.float(), dim=-1)
    return torch.stack([probs[b, d.optimal_ids].sum() for b, d in enumerate(part)])


@torch.no_grad()
def p_optimal(model: nn.Module, decisions: list[Decision], pad_id: int, chunk: int) -> float:
    """``P_opt``: the mean probability of a shortest-plan move at the decisions."""
    total = sum(
        float(_decision_probs(model, decisions[i : i + chunk], pad_id).sum())
        for i in range(0, len(decisions), chunk)
    )
    return total / len(decisions)


def _accumulated_grad(model: nn.Module, chunk_losses: Iterator[Tensor]) -> Tensor:
    """The gradient of the sum of ``chunk_losses``, one backward pass per chunk (so memory
    holds one chunk's activations), flattened over all parameters."""
    model.zero_grad(set_to_none=True)
    for loss in chunk_losses:
        loss.backward()
    return torch.cat(
        [
            (p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
            for p in model.parameters()
        ]
    )


def p_optimal_gradient(
    model: nn.Module, decisions: list[Decision], pad_id: int, chunk: int
) -> Tensor:
    """The gradient of ``P_opt`` with respect to every parameter, flattened."""
    return _accumulated_grad(
        model,
        (
            _decision_probs(model, decisions[i : i + chunk], pad_id).sum() / len(decisions)
            for i in range(0, len(decisions), chunk)
        ),
    )


def policy_gradient_direction(
    model: nn.Module,
    turns: list[Turn],
    advantages: Tensor,
    token_masks: list[list[bool]],
    pad_id: int,
    chunk: int,
) -> Tensor:
    """``sum_i A_i grad log pi`` over the masked response tokens, token-mean (the ascent
    direction of the trainer's policy loss at ratio 1)."""
    total = max(1, sum(sum(m) for m in token_masks))

    def chunk_losses() -> Iterator[Tensor]:
        for i in range(0, len(turns), chunk):
            part = range(i, min(i + chunk, len(turns)))
            tb = collate(
                [turns[j].prompt_token_ids for j in part],
                [turns[j].response_token_ids for j in part],
                [token_masks[j] for j in part],
                pad_id,
            )
            ts = forward_token_stats(model, tb)
            adv = advantages[list(part)].to(ts.logprobs_B_W.device)[:, None]
            yield (adv * ts.logprobs_B_W * ts.loss_mask_B_W).sum() / total

    return _accumulated_grad(model, chunk_losses())


def state_centred(values: Tensor, step_group: Tensor) -> Tensor:
    """Subtract each anchor state's mean (states visited once get 0, as GiGPO's ``A^S``)."""
    n = int(step_group.max()) + 1
    centred = group_normalize(values, step_group, n, norm="mean_norm")
    return torch.where(torch.bincount(step_group, minlength=n)[step_group] > 1, centred, 0.0)


def episode_and_step_parts(flat: FlatTurns, **params: Any) -> tuple[Tensor, Tensor]:
    """GiGPO's two parts, ``A^E`` and ``A^S`` (``A = A^E + omega * A^S``), per turn."""
    episode = gigpo(flat.batch, AdvantageParams(omega=0.0, **params)).advantages_N
    return episode, gigpo(flat.batch, AdvantageParams(omega=1.0, **params)).advantages_N - episode


def credits(
    flat: FlatTurns, keep: Tensor, is_optimal: Tensor, cfg: Config, seed: int
) -> dict[str, tuple[Tensor, str]]:
    """Name -> (advantage per kept turn, which tokens: ``all`` or ``decision``)."""
    a = cfg.algo
    base = {"gamma": a.gamma, "norm": a.norm, "episode_stats": a.episode_stats, "lam": a.gae_lambda}
    full = gigpo(flat.batch, AdvantageParams(omega=a.omega, **base)).advantages_N[keep]
    episode, step = (part[keep] for part in episode_and_step_parts(flat, **base))
    step_short = episode_and_step_parts(flat, **{**base, "gamma": 0.5})[1][keep]
    oracle = torch.where(is_optimal, 1.0, -1.0)
    flip = torch.rand(len(oracle), generator=torch.Generator().manual_seed(seed)) < 0.3
    step_group = flat.batch.step_group_N[keep]
    return {
        "gigpo": (full, "all"),
        "gigpo_decision": (full, "decision"),
        "gigpo_centred_per_state": (state_centred(full, step_group), "decision"),
        "episode_part": (episode, "decision"),
        "step": (step, "decision"),
        "step_gamma_0.5": (step_short, "decision"),
        "gigpo_on_optimal_moves": (torch.where(is_optimal, full, 0.0), "decision"),
        "gigpo_on_other_moves": (torch.where(is_optimal, 0.0, full), "decision"),
        "oracle": (oracle, "decision"),
        "oracle_30pct_flipped": (torch.where(flip, -oracle, oracle), "decision"),
    }


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=f"studies/{NAME}.py", description=__doc__.split("\n")[0])
    p.add_argument("--config", default=str(REPO / "configs" / "sokoban_quickstart.yaml"))
    p.add_argument("--init", type=Path, default=DEFAULT_INIT, help="policy folder")
    p.add_argument("--tasks", type=int, default=32, help="rooms in the training batch")
    p.add_argument("--probe-tasks", type=int, default=32, help="held-out rooms to probe")
    p.add_argument("--step-norm", type=float, default=0.05, help="norm of the actual step")
    p.add_argument("--repeats", type=int, default=3, help="independent batches (and probes)")
    p.add_argument("--chunk", type=int, default=64, help="sequences per forward pass")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument(
        "--work",
        type=Path,
        default=common.run_folder(NAME) / "runs",
        help=f"where --quick trains its small cold start (default runs/studies/{NAME}/runs)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=common.run_folder(NAME) / f"{NAME}.json",
        help=f"default runs/studies/{NAME}/{NAME}.json, untracked; "
        f"--out studies/results/{NAME}.json updates the committed result",
    )
    p.add_argument(
        "--quick", action="store_true", help="a small cold start; 2 + 2 rooms x 4, 2 repeats"
    )
    p.add_argument("overrides", nargs="*", help="config overrides, key.sub=value")
    args = p.parse_args()
    if args.quick:
        args.tasks, args.probe_tasks, args.repeats = 2, 2, 2
        args.overrides = [*args.overrides, "rollout.group_size=4"]
        args.init = args.work / "cold_start"
    return args


def policy_folder(args: argparse.Namespace, cfg: Config) -> Path:
    """``--init``, or (``--quick``) a small cold start built there once."""
    if (args.init / "config.json").is_file():
        return Path(args.init)
    if not args.quick:
        raise SystemExit(
            f"no policy at {args.init}: run studies/learning_sokoban.py (it writes its "
            "cold start there) or pass --init FOLDER"
        )
    small = load_config(
        args.config,
        [*args.overrides, "rft.episodes=48", "rft.epochs=3", f"model.device={args.device}"],
    )
    cold_start_from_config(small, args.init)
    return Path(args.init)


@dataclasses.dataclass
class Probe:
    """What one repeat needs: the policy, its sampler and the decision token ids."""

    model: nn.Module
    sampler: HFSampler
    pad_id: int
    move_id: int
    direction_ids: dict[str, int]


def measure_once(args: argparse.Namespace, cfg: Config, probe: Probe, r: int) -> dict[str, Any]:
    """Repeat ``r``: a fresh training batch and a fresh set of held-out rooms."""
    family = get_family("sokoban")
    params, settings = (
        sampling_params(cfg, evaluation=False),
        rollout_settings(cfg, evaluation=False),
    )
    g, n, chunk, model = cfg.rollout.group_size, args.probe_tasks, args.chunk, probe.model
    seed = derive_seed(args.seed, "credit_alignment", r)
    batch = rollout(probe.sampler, family, train_tasks(cfg, r), g, params, settings, seed=seed)
    held_out_rooms = eval_tasks(cfg, (r + 1) * n)[r * n :]
    played = rollout(probe.sampler, family, held_out_rooms, g, params, settings, seed=seed + 1)
    flat = flatten(batch, cfg.algo.step_grouping, cfg.algo.similarity_threshold)
    keep = torch.tensor([bool(t.response_token_ids) for t in flat.turns], dtype=torch.bool)
    turns = [t for t in flat.turns if t.response_token_ids]
    decisions = [decision_of(t, probe.move_id, probe.direction_ids) for t in turns]
    held_out = [
        d
        for gr in played
        for tr in gr.trajectories
        for t in tr.turns
        if (d := decision_of(t, probe.move_id, probe.direction_ids)) and d.optimal_ids
    ]
    seen = [d for d in decisions if d is not None and d.optimal_ids]
    if not held_out or not seen:
        raise SystemExit("the policy names no move in its thoughts: is it a Sokoban cold start?")
    grades = [grade_move(parse_text(t.observation), t.action).value for t in turns]
    is_optimal = torch.tensor([gr == "optimal" for gr in grades])
    pad = probe.pad_id
    p_held_out = p_optimal(model, held_out, pad, chunk)
    up_held_out = p_optimal_gradient(model, held_out, pad, chunk)
    up_seen = p_optimal_gradient(model, seen, pad, chunk)

    def masks(which: str) -> list[list[bool]]:
        if which == "all":
            return [[True] * len(t.response_token_ids) for t in turns]
        return [
            [d is not None and i == d.index for i in range(len(t.response_token_ids))]
            for t, d in zip(turns, decisions, strict=True)
        ]

    def cos(x: Tensor, y: Tensor) -> float:
        return float(torch.nn.functional.cosine_similarity(x, y, dim=0))

    weights = list(model.parameters())
    sizes = [w.numel() for w in weights]
    rows: dict[str, dict[str, float]] = {}
    for name, (adv, which) in credits(flat, keep, is_optimal, cfg, seed).items():
        d = policy_gradient_direction(model, turns, adv, masks(which), pad, chunk)
        flat_step = args.step_norm * d / d.norm().clamp(min=1e-30)
        step = [c.view_as(w) for c, w in zip(flat_step.split(sizes), weights, strict=True)]
        with torch.no_grad():
            torch._foreach_add_(weights, step)
            p_after = p_optimal(model, held_out, pad, chunk)
            torch._foreach_sub_(weights, step)
        rows[name] = {
            "cos_held_out": cos(d, up_held_out),
            "cos_seen": cos(d, up_seen),
            "dp_held_out": p_after - p_held_out,
        }
    return {
        "turns": len(turns),
        "success": sum(tr.won for tr in flat.trajectories) / len(flat.trajectories),
        "grades": {gr: grades.count(gr) / len(grades) for gr in sorted(set(grades))},
        "held_out_decisions": len(held_out),
        "seen_decisions": len(seen),
        "p_opt_held_out": p_held_out,
        "p_opt_seen": p_optimal(model, seen, pad, chunk),
        "credits": rows,
    }


def mean_std(values: list[float]) -> tuple[float, float]:
    t = torch.tensor(values, dtype=torch.float64)
    return float(t.mean()), float(t.std()) if len(values) > 1 else 0.0


def main() -> None:
    common.set_offline()
    args = parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    overrides = [
        *args.overrides,
        f"rollout.tasks_per_iter={args.tasks}",
        f"model.device={args.device}",
        f"seed={args.seed}",
    ]
    cfg = load_config(args.config, overrides)
    if cfg.env.family != "sokoban":
        raise SystemExit("credit_alignment grades moves with the Sokoban solver (env.family)")
    folder = policy_folder(args, cfg)
    seed_everything(args.seed)
    model, tokenizer = load_model_and_tokenizer(str(folder), device=args.device)
    model.eval()
    move_id = tokenizer(" move", add_special_tokens=False)["input_ids"]
    direction_ids = {
        d.value: tokenizer(" " + d.value, add_special_tokens=False)["input_ids"] for d in Direction
    }
    if len(move_id) != 1 or any(len(v) != 1 for v in direction_ids.values()):
        raise SystemExit("the tokenizer must spell ' move' and each ' <direction>' as one token")
    probe = Probe(
        model=model,
        sampler=HFSampler(model, tokenizer, device=args.device),
        pad_id=tokenizer.pad_token_id,
        move_id=move_id[0],
        direction_ids={k: v[0] for k, v in direction_ids.items()},
    )
    repeats = []
    for r in range(args.repeats):
        repeats.append(measure_once(args, cfg, probe, r))
        print(f"repeat {r + 1}/{args.repeats} done ({time.perf_counter() - t0:.0f}s)", flush=True)
    names = list(repeats[0]["credits"])
    columns = ("cos_held_out", "cos_seen", "dp_held_out")
    summary = {
        n: {c: mean_std([rep["credits"][n][c] for rep in repeats]) for c in columns} for n in names
    }
    p_held = mean_std([rep["p_opt_held_out"] for rep in repeats])[0]
    common.print_table(
        f"update directions, mean +- std over {args.repeats} batches of {args.tasks} rooms x "
        f"{cfg.rollout.group_size} (P_opt on held-out rooms {p_held:.3f}; dP after a step of "
        f"norm {args.step_norm})",
        ["credit", "tokens", "cos held-out", "cos seen", "dP held-out"],
        [
            [n, "all" if n == "gigpo" else "decision"]
            + [f"{summary[n][c][0]:+.3f} +- {summary[n][c][1]:.3f}" for c in columns]
            for n in names
        ],
    )
    payload: dict[str, Any] = {
        "machine": common.machine_info(args.device),
        "args": {k: str(v) for k, v in vars(args).items()},
        "policy": str(folder),
        "group_size": cfg.rollout.group_size,
        "summary": {n: {c: list(v) for c, v in cols.items()} for n, cols in summary.items()},
        "repeats": repeats,
        "seconds": time.perf_counter() - t0,
        "quick": args.quick,
    }
    result = {
        k: summary[k]["cos_held_out"][0] for k in ("gigpo", "gigpo_decision", "step", "oracle")
    }
    common.finish(NAME, args.out, payload, result)


if __name__ == "__main__":
    main()
