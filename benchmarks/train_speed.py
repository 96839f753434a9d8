"""train_speed: the quickstart's SFT, PPO update and rollout, fast vs straightforward path.

The quickstart (``configs/quickstart.yaml``: the ~1.3M-parameter ``tiny`` model, NumberLine)
spends its time in three places, each timed here at its sizes on the same data in two arms:

1. ``sft``: one epoch of the cold start's SFT (batches of 32 turns; the examples are the
   cold start's own: the slipping expert's episodes, encoded as ``sft_examples`` does).
   Baseline: every row run whole (``share_prefix=False``). Fast: the prompt prefix every
   turn shares (the template, the instructions, the task line: 70 of 96 prompt tokens) runs
   once per batch and the rows attend to its cache (``t2po.models.shared_prefix``).
2. ``update``: one ``ppo_update`` over ~700 turns (mini-batch 256, micro-batch 64, 1 epoch),
   the turns being those examples with seeded random advantages. Baseline: whole rows and a
   no-grad behaviour pass over every turn. Fast: the shared prefix, and no behaviour pass for
   the first mini-batch (no step has been taken yet, so its own forward gives the same
   log-probs: ``reuse_fresh_logprobs``).
3. ``rollout``: one training turn of ``HFSampler.generate`` for 8 tasks x 8 episodes (64
   first-turn prompts, 24 new tokens at most, TTI on), whole-row prefill vs shared prefix.

Both arms start from the same weights and see the same data; the repeats alternate the arms
and each speedup is the median of the per-repeat ratios (the machine's load drifts). The
arms' results are compared: SFT epoch loss and the update's weights and statistics agree to
float rounding (the prefix's gradient is summed over rows in another order), the rollouts'
tokens should be identical. Absolute rates (sequences/s, turns/s) are printed with the thread
count they ran at. Usage::

    python benchmarks/train_speed.py --threads 1          # quickstart sizes, 3 repeats
    python benchmarks/train_speed.py --quick --threads 1  # seconds, for tests

Last line: ``RESULT train_speed sft_speedup=<x> update_speedup=<x> rollout_speedup=<x>
sft_seqs_per_s=<fast arm> update_turns_per_s=<fast arm>``.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from typing import Any

import _common as common

common.set_offline()

import torch  # noqa: E402

from t2po.config import load_config  # noqa: E402
from t2po.envs.registry import get_family  # noqa: E402
from t2po.inference import HFSampler  # noqa: E402
from t2po.models import load_model_and_tokenizer  # noqa: E402
from t2po.rollout.engine import Task, derive_seed, episode_prompt, start_episode  # noqa: E402
from t2po.settings import RunSettings, rollout_settings  # noqa: E402
from t2po.train.coldstart import sft_examples, teacher_trajectories  # noqa: E402
from t2po.train.sft import SFTExample, sft  # noqa: E402
from t2po.train.update import Sample, ppo_update  # noqa: E402

NAME = "train_speed"
DEFAULT_REPEATS = 3
CONFIG = common.REPO / "configs" / "quickstart.yaml"
# The quickstart's sizes (its cold start fine-tunes 2,656 turns in batches of 32; an RL
# iteration updates on ~700 turns and rolls out 8 tasks x 8 episodes).
FULL = {"episodes": 80, "sft_turns": 512, "update_turns": 704, "rollout_rows": 64}
QUICK = {"episodes": 8, "sft_turns": 32, "update_turns": 48, "rollout_rows": 8}
QUICK_OPTIM = {"mini_batch_size": 16, "micro_batch_size": 8}
HEADERS = ["stage", "work", "baseline s", "fast s", "baseline /s", "fast /s", "speedup"]


def turn_examples(cfg: Any, episodes: int, tokenizer: Any) -> list[SFTExample]:
    """The cold start's SFT examples from ``episodes`` slipping-expert episodes."""
    family = get_family(cfg.env.family)
    tasks = [Task(f"{family.name}-{s}", s, family.train_split) for s in range(episodes)]
    trajectories = teacher_trajectories(
        family,
        tasks,
        rollout_settings(cfg, evaluation=True),
        seed=derive_seed(cfg.seed, "cold_start"),
        expert_slip=cfg.rft.expert_slip,
    )
    return sft_examples(trajectories, family, tokenizer)


def first_turn_prompts(cfg: Any, n: int) -> list[Any]:
    """``n`` first-turn prompts as the rollout engine builds them (8 episodes per task)."""
    family = get_family(cfg.env.family)
    settings = rollout_settings(cfg, evaluation=False)
    prompts = []
    for i in range(n):
        task = Task(f"{family.name}-{i // 8}", i // 8, family.train_split)
        episode = start_episode(family, task, settings)
        prompts.append(episode_prompt(family, episode, cfg.env.memory_window))
        if episode.env is not None:
            episode.env.close()
    return prompts


def flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def run_sft(base: Any, examples: list[SFTExample], pad_id: int, fast: bool) -> dict[str, Any]:
    model = copy.deepcopy(base)
    seconds, result = common.timed(
        lambda: sft(
            model,
            examples,
            pad_id=pad_id,
            epochs=1,
            lr=1e-3,
            batch_size=32,
            generator=torch.Generator().manual_seed(0),
            share_prefix=fast,
        )
    )
    return {"seconds": seconds, "loss": result.epoch_losses[0]}


def run_update(
    base: Any, samples: list[Sample], params: Any, pad_id: int, fast: bool
) -> dict[str, Any]:
    model = copy.deepcopy(base)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, eps=1e-6)
    seconds, stats = common.timed(
        lambda: ppo_update(
            model,
            optimizer,
            samples,
            params,
            pad_id=pad_id,
            generator=torch.Generator().manual_seed(1),
            share_prefix=fast,
            reuse_fresh_logprobs=fast,
        )
    )
    return {"seconds": seconds, "stats": stats, "weights": flat(model)}


def run_rollout(base: Any, tokenizer: Any, prompts: list[Any], params: Any, fast: bool) -> Any:
    sampler = HFSampler(base, tokenizer, seed=0, share_prefix=fast)
    seconds, outputs = common.timed(lambda: sampler.generate(prompts, params))
    return {"seconds": seconds, "outputs": outputs}


def alternate(
    repeats: int, arm: Callable[[bool], dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``repeats`` runs of each arm, baseline then fast, back to back."""
    base_runs, fast_runs = [], []
    for _ in range(repeats):
        base_runs.append(arm(False))
        fast_runs.append(arm(True))
    return base_runs, fast_runs


def summary(
    stage: str, work: int, unit: str, runs: tuple[list[dict[str, Any]], list[dict[str, Any]]]
) -> dict[str, Any]:
    base_runs, fast_runs = runs
    base_s = common.median([r["seconds"] for r in base_runs])
    fast_s = common.median([r["seconds"] for r in fast_runs])
    ratios = [b["seconds"] / f["seconds"] for b, f in zip(base_runs, fast_runs, strict=True)]
    return {
        "stage": stage,
        "work": f"{work} {unit}",
        "baseline_s": base_s,
        "fast_s": fast_s,
        "baseline_per_s": work / base_s,
        "fast_per_s": work / fast_s,
        "speedup": common.median(ratios),
        "speedup_per_repeat": ratios,
    }


def main() -> None:
    parser = common.base_parser(NAME, __doc__.splitlines()[0], DEFAULT_REPEATS)
    args = parser.parse_args()
    repeats, machine = common.start(args, NAME, DEFAULT_REPEATS)
    sizes = QUICK if args.quick else FULL

    cfg = load_config(CONFIG, [f"seed={args.seed}"])
    settings = RunSettings.from_config(cfg)
    update_params = settings.update
    if args.quick:
        update_params = dataclasses.replace(update_params, **QUICK_OPTIM)
    model, tokenizer = load_model_and_tokenizer(cfg.model.path)
    pad_id = tokenizer.pad_token_id
    t0 = time.perf_counter()
    examples = turn_examples(cfg, sizes["episodes"], tokenizer)
    encode_s = time.perf_counter() - t0
    need = max(sizes["sft_turns"], sizes["update_turns"])
    if len(examples) < need:
        raise SystemExit(f"{len(examples)} teacher turns, {need} needed: raise 'episodes'")
    sft_set = examples[: sizes["sft_turns"]]
    gen = torch.Generator().manual_seed(args.seed)
    advantages = torch.randn(sizes["update_turns"], generator=gen).tolist()
    samples = [
        Sample(e.prompt_ids, e.target_ids, [True] * len(e.target_ids), a)
        for e, a in zip(examples, advantages, strict=False)
    ]
    prompts = first_turn_prompts(cfg, sizes["rollout_rows"])
    sampling = dataclasses.replace(settings.train_sampling, seed=args.seed)

    sft_runs = alternate(repeats, lambda fast: run_sft(model, sft_set, pad_id, fast))
    update_runs = alternate(
        repeats, lambda fast: run_update(model, samples, update_params, pad_id, fast)
    )
    run_rollout(model, tokenizer, prompts[:2], sampling, True)  # warm-up
    rollout_runs = alternate(
        repeats, lambda fast: run_rollout(model, tokenizer, prompts, sampling, fast)
    )

    rows = [
        summary("sft", len(sft_set), "seqs", sft_runs),
        summary("update", len(samples), "turns", update_runs),
        summary("rollout", len(prompts), "turns", rollout_runs),
    ]
    threads = machine["torch_threads"]
    common.print_table(
        f"quickstart stages, {threads} torch thread(s), median of {repeats} (s); rates per s",
        HEADERS,
        [
            [
                r["stage"],
                r["work"],
                r["baseline_s"],
                r["fast_s"],
                r["baseline_per_s"],
                r["fast_per_s"],
                r["speedup"],
            ]
            for r in rows
        ],
    )
    base_update, fast_update = update_runs[0][0], update_runs[1][0]
    base_out, fast_out = rollout_runs[0][0]["outputs"], rollout_runs[1][0]["outputs"]
    agreement = {
        "sft_loss_abs_diff": abs(sft_runs[0][0]["loss"] - sft_runs[1][0]["loss"]),
        "update_weights_max_abs_diff": float(
            (base_update["weights"] - fast_update["weights"]).abs().max()
        ),
        "update_stats_max_abs_diff": max(
            abs(base_update["stats"][k] - fast_update["stats"][k]) for k in base_update["stats"]
        ),
        "rollout_same_tokens": all(
            a.token_ids == b.token_ids for a, b in zip(base_out, fast_out, strict=True)
        ),
        "rollout_logprob_max_abs_diff": max(
            (
                abs(x - y)
                for a, b in zip(base_out, fast_out, strict=True)
                for x, y in zip(a.logprobs, b.logprobs, strict=False)
            ),
            default=0.0,
        ),
    }
    print(
        "\nbaseline vs fast: " + ", ".join(f"{k} {common.fmt(v, 8)}" for k, v in agreement.items())
    )
    print(f"encoding {len(examples)} teacher turns (sft_examples): {encode_s:.2f} s")
    result = {
        "sft_speedup": rows[0]["speedup"],
        "update_speedup": rows[1]["speedup"],
        "rollout_speedup": rows[2]["speedup"],
        "sft_seqs_per_s": rows[0]["fast_per_s"],
        "update_turns_per_s": rows[1]["fast_per_s"],
    }
    payload = {
        "machine": machine,
        "quick": bool(args.quick),
        "settings": {
            **sizes,
            "repeats": repeats,
            "seed": args.seed,
            "threads": threads,
            "sft_batch_size": 32,
            "mini_batch_size": update_params.mini_batch_size,
            "micro_batch_size": update_params.micro_batch_size,
            "max_new_tokens": sampling.max_new_tokens,
        },
        "stages": rows,
        "agreement": agreement,
        "sft_examples_s": encode_s,
        "teacher_turns": len(examples),
    }
    common.finish(NAME, args.out, payload, result)


if __name__ == "__main__":
    main()
