"""One policy update: PPO dual-clip over turn samples, in mini-batches of micro-batches.

The math lives in ``t2po.algo.losses``; this module only feeds it tensors and steps the
optimizer. Losses of micro-batches are weighted by their share of the mini-batch's tokens, so
gradient accumulation gives the same gradient as one big token-mean batch.

Under ``torchrun`` (``ranks.active``) every rank holds the whole batch and runs its share of
each mini-batch's micro-batches; ``t2po.train.distributed`` says how that gives the
one-process gradient.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from t2po.algo.losses import (
    aggregate,
    high_entropy_mask,
    kl_penalty,
    masked_mean,
    ppo_dual_clip_loss,
)
from t2po.inference.vision import VisionInputs
from t2po.settings import UpdateParams
from t2po.train.batch import TokenBatch, collate
from t2po.train.distributed import SINGLE, Ranks, gather, gradient_sync, local_value, merge_stats
from t2po.train.distributed import my_share as _my_share
from t2po.train.policy import batched_logprobs, forward_token_stats


@dataclass(frozen=True)
class Sample:
    """One training turn."""

    prompt_ids: list[int]
    response_ids: list[int]
    trainable: list[bool]
    advantage: float
    vision: VisionInputs | None = None  # the prompt's pictures, as the sampler fed them


def _micro_batches(
    samples: Sequence[Sample], order: list[int], size: int, pad_id: int
) -> list[tuple[TokenBatch, Tensor]]:
    out = []
    for i in range(0, len(order), size):
        chunk = [samples[j] for j in order[i : i + size]]
        tb = collate(
            [s.prompt_ids for s in chunk],
            [s.response_ids for s in chunk],
            [s.trainable for s in chunk],
            pad_id,
            [s.vision for s in chunk],
        )
        out.append((tb, torch.tensor([s.advantage for s in chunk], dtype=torch.float32)))
    return out


def _response_logprobs(
    model: nn.Module,
    samples: Sequence[Sample],
    params: UpdateParams,
    pad_id: int,
    ranks: Ranks = SINGLE,
    order: Sequence[int] | None = None,
    share_prefix: bool = True,
) -> list[Tensor]:
    """Per sample of ``order`` (default: all, in turn), the log-probs of its response tokens
    under ``model`` (no gradients), in that order.

    Ranks split the micro-batches and gather the results, so every rank gets every sample's.
    """
    order = list(range(len(samples))) if order is None else list(order)
    micro = _micro_batches(samples, order, params.micro_batch_size, pad_id)
    share = _my_share(len(micro), ranks)
    # A padding pass (-1) re-runs micro-batch 0 only to keep FSDP's gathers in step.
    lps = batched_logprobs(
        model,
        [micro[max(i, 0)][0] for i in share],
        temperature=params.temperature,
        share_prefix=share_prefix and not ranks.active,  # DDP/FSDP: one forward per pass
    )
    mine: list[tuple[int, list[Tensor]]] = []
    for i, lp_B_W in zip(share, lps, strict=True):
        if i < 0:
            continue
        tb = micro[i][0]
        window = tb.response_mask_B_L1[:, tb.response_mask_B_L1.shape[1] - lp_B_W.shape[1] :]
        rows = [lp_B_W[b][window[b].to(lp_B_W.device)] for b in range(lp_B_W.shape[0])]
        if ranks.active:  # gathered through pickles: CPU tensors
            rows = [r.cpu() for r in rows]
        mine.append((i, rows))
    out: list[Tensor] = []
    for _, rows in sorted(gather(mine, ranks), key=lambda item: item[0]):
        out.extend(rows)
    return out


def stale_samples(orders: Sequence[Sequence[int]], mini_batch_size: int, reuse: bool) -> list[int]:
    """The samples (ascending) whose behaviour log-probs need a pass of their own.

    ``orders``: each epoch's sample order. The first mini-batch of the first epoch is
    forwarded before any optimizer step, with the weights that sampled it, so with ``reuse``
    and one epoch its samples need none; with more epochs every sample is seen again after a
    step, and without ``reuse`` every sample gets the pass.
    """
    every = sorted(orders[0]) if orders else []
    if not reuse or len(orders) != 1:
        return every
    return sorted(orders[0][mini_batch_size:])


def _scatter(
    per_sample: Mapping[int, Tensor] | list[Tensor], rows: list[int], response_mask_B_W: Tensor
) -> Tensor:
    """Place each row's per-response-token values where its response tokens sit."""
    out = torch.zeros(response_mask_B_W.shape, device=response_mask_B_W.device)
    # Boolean assignment fills True positions in row-major order: row by row, left to right.
    out[response_mask_B_W] = torch.cat([per_sample[r].to(out.device) for r in rows])
    return out


def ppo_update(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    samples: Sequence[Sample],
    params: UpdateParams,
    *,
    pad_id: int,
    generator: torch.Generator,
    ref_model: nn.Module | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    ranks: Ranks = SINGLE,
    share_prefix: bool = True,
    reuse_fresh_logprobs: bool = True,
) -> dict[str, float]:
    """Run ``ppo_epochs`` passes of clipped policy-gradient steps; returns mean statistics.

    With ``ranks.active``, ``model`` is the DDP or FSDP module, every rank passes the same
    ``samples`` and ``generator`` state, and the statistics are over all ranks' micro-batches.

    Two savings, each equal to the straightforward path up to float rounding (False gives
    that path, for tests and benchmarks): ``share_prefix`` runs the prompt prefix a
    micro-batch's turns share once (``forward_token_stats``; always off with
    ``ranks.active``); ``reuse_fresh_logprobs`` takes the first mini-batch's behaviour
    log-probs from its own forward (no step has been taken yet) instead of a separate pass.
    """
    step_stats: dict[str, list[float]] = defaultdict(list)  # one per optimizer step
    # (epoch, mini-batch, micro-batch) tags put every rank's statistics in one-process order.
    micro_stats: list[tuple[tuple[int, ...], str, float]] = []
    trainable = [s for s in samples if any(s.trainable)]
    if not trainable:
        return {}
    device = next(model.parameters()).device
    # Every epoch's sample order, drawn up front: the same draws the loop would make.
    orders = [
        torch.randperm(len(trainable), generator=generator).tolist()
        for _ in range(params.ppo_epochs)
    ]
    # Behaviour ("old") and reference log-probs are computed once, before any step, with the
    # weights that sampled the data (as in verl); per sample, over its response tokens. The
    # first mini-batch's behaviour log-probs come from its own forward (stale_samples).
    stale = stale_samples(orders, params.mini_batch_size, reuse_fresh_logprobs)
    old_lps = _response_logprobs(model, trainable, params, pad_id, ranks, stale, share_prefix)
    old_R = dict(zip(stale, old_lps, strict=True))
    ref_R = (
        _response_logprobs(ref_model, trainable, params, pad_id, ranks, None, share_prefix)
        if ref_model is not None and params.kl_coef > 0
        else None
    )
    # DDP and FSDP average gradients over ranks; the one-process gradient is their sum.
    scale = float(ranks.world_size)
    prefix_once = share_prefix and not ranks.active  # DDP/FSDP: one forward per backward
    for epoch, order in enumerate(orders):
        for m in range(0, len(order), params.mini_batch_size):
            mini_order = order[m : m + params.mini_batch_size]
            chunks = [
                mini_order[i : i + params.micro_batch_size]
                for i in range(0, len(mini_order), params.micro_batch_size)
            ]
            # The denominator of the token-mean over the whole mini-batch (every rank holds
            # every sample, so no all-reduce is needed for it).
            total_tokens = sum(sum(trainable[j].trainable) for j in mini_order)
            if total_tokens == 0:
                continue
            optimizer.zero_grad(set_to_none=True)
            share = _my_share(len(chunks), ranks)
            for n, i in enumerate(share):
                # Only the last pass of a rank all-reduces (DDP) or reduce-scatters (FSDP).
                with gradient_sync(model, n == len(share) - 1):
                    chunk = chunks[max(i, 0)]
                    tb, adv_B = _micro_batches(trainable, chunk, params.micro_batch_size, pad_id)[0]
                    weight = float(tb.loss_mask_B_L1.sum()) / total_tokens
                    if i < 0 or weight == 0.0:
                        if ranks.active:  # a pass that only keeps this rank in step
                            ts = forward_token_stats(
                                model, tb, temperature=params.temperature, share_prefix=False
                            )
                            (ts.logprobs_B_W.sum() * 0.0).backward()
                        continue
                    fresh = chunk[0] not in old_R  # first mini-batch, no step yet: old = current
                    loss, stats = _micro_loss(
                        model, tb, adv_B.to(device), chunk, old_R, ref_R, params, fresh, prefix_once
                    )
                    (loss * (weight * scale)).backward()
                    micro_stats.extend(((epoch, m, i), k, v) for k, v in stats.items())
            grad_norm = local_value(nn.utils.clip_grad_norm_(model.parameters(), params.grad_clip))
            if torch.isfinite(grad_norm):
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
            else:
                step_stats["actor/skipped_steps"].append(1.0)
            step_stats["actor/grad_norm"].append(float(grad_norm))
    merged = {**merge_stats(micro_stats, ranks), **step_stats}
    return {k: sum(v) / len(v) for k, v in merged.items()}


def _micro_loss(
    model: nn.Module,
    tb: TokenBatch,
    adv_B: Tensor,
    rows: list[int],
    old_R: Mapping[int, Tensor],
    ref_R: list[Tensor] | None,
    params: UpdateParams,
    fresh: bool,
    share_prefix: bool,
) -> tuple[Tensor, dict[str, float]]:
    """One micro-batch's loss (its own aggregation over its tokens) and its statistics.

    ``fresh``: no optimizer step has been taken yet, so the behaviour log-probs are the
    current ones (detached) and ``old_R`` need not hold these rows."""
    ts = forward_token_stats(
        model,
        tb,
        temperature=params.temperature,
        with_entropy=True,
        share_prefix=share_prefix,
        entropy_grad=params.entropy_coef != 0,  # else a metric and the top-entropy mask only
    )
    mask = ts.loss_mask_B_W
    adv_B_W = adv_B[:, None].expand_as(ts.logprobs_B_W)
    old_B_W = ts.logprobs_B_W.detach() if fresh else _scatter(old_R, rows, ts.response_mask_B_W)
    assert ts.entropy_B_W is not None
    pg_mask = high_entropy_mask(ts.entropy_B_W, mask, params.top_entropy_frac)
    pg_loss, pg_stats = ppo_dual_clip_loss(
        ts.logprobs_B_W,
        old_B_W,
        adv_B_W,
        pg_mask,
        clip_low=params.clip_low,
        clip_high=params.clip_high,
        dual_clip_c=params.dual_clip_c,
        agg=params.loss_agg,
    )
    entropy = aggregate(ts.entropy_B_W, mask, params.loss_agg)
    loss = pg_loss - params.entropy_coef * entropy if params.entropy_coef != 0 else pg_loss
    stats: dict[str, float] = {}
    if ref_R is not None:
        ref_B_W = _scatter(ref_R, rows, ts.response_mask_B_W)
        kl_B_W = kl_penalty(ts.logprobs_B_W, ref_B_W, params.kl_estimator)
        kl = aggregate(kl_B_W, mask, params.loss_agg)
        loss = loss + params.kl_coef * kl
        stats["actor/kl"] = float(kl.detach())
    stats.update(
        {
            "actor/pg_loss": float(pg_loss.detach()),
            "actor/entropy": float(entropy.detach()),
            "actor/clipfrac": float(pg_stats["clipfrac"]),
            "actor/approx_kl": float(pg_stats["approx_kl"]),
            "actor/logprob": float(masked_mean(ts.logprobs_B_W.detach(), mask)),
        }
    )
    return loss, stats
