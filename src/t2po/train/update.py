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
from collections.abc import Sequence
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
) -> list[Tensor]:
    """Per sample, the log-probs of its response tokens under ``model`` (no gradients).

    Ranks split the micro-batches and gather the results, so every rank gets every sample's.
    """
    order = list(range(len(samples)))
    micro = _micro_batches(samples, order, params.micro_batch_size, pad_id)
    share = _my_share(len(micro), ranks)
    # A padding pass (-1) re-runs micro-batch 0 only to keep FSDP's gathers in step.
    lps = batched_logprobs(
        model, [micro[max(i, 0)][0] for i in share], temperature=params.temperature
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


def _scatter(per_sample: list[Tensor], rows: list[int], response_mask_B_W: Tensor) -> Tensor:
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
) -> dict[str, float]:
    """Run ``ppo_epochs`` passes of clipped policy-gradient steps; returns mean statistics.

    With ``ranks.active``, ``model`` is the DDP or FSDP module, every rank passes the same
    ``samples`` and ``generator`` state, and the statistics are over all ranks' micro-batches.
    """
    step_stats: dict[str, list[float]] = defaultdict(list)  # one per optimizer step
    # (epoch, mini-batch, micro-batch) tags put every rank's statistics in one-process order.
    micro_stats: list[tuple[tuple[int, ...], str, float]] = []
    trainable = [s for s in samples if any(s.trainable)]
    if not trainable:
        return {}
    device = next(model.parameters()).device
    # Behaviour ("old") and reference log-probs are computed once, before any step, with the
    # weights that sampled the data (as in verl); per sample, over its response tokens.
    # With one epoch and one mini-batch the weights cannot move before the only gradient pass,
    # so the behaviour log-probs equal the current ones: skip the extra forward pass.
    single_pass = params.ppo_epochs == 1 and params.mini_batch_size >= len(trainable)
    old_R = [] if single_pass else _response_logprobs(model, trainable, params, pad_id, ranks)
    ref_R = (
        _response_logprobs(ref_model, trainable, params, pad_id, ranks)
        if ref_model is not None and params.kl_coef > 0
        else None
    )
    # DDP and FSDP average gradients over ranks; the one-process gradient is their sum.
    scale = float(ranks.world_size)
    for epoch in range(params.ppo_epochs):
        order = torch.randperm(len(trainable), generator=generator).tolist()
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
                            ts = forward_token_stats(model, tb, temperature=params.temperature)
                            (ts.logprobs_B_W.sum() * 0.0).backward()
                        continue
                    loss, stats = _micro_loss(
                        model, tb, adv_B.to(device), chunk, old_R, ref_R, params, single_pass
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
    old_R: list[Tensor],
    ref_R: list[Tensor] | None,
    params: UpdateParams,
    single_pass: bool,
) -> tuple[Tensor, dict[str, float]]:
    """One micro-batch's loss (its own aggregation over its tokens) and its statistics."""
    ts = forward_token_stats(model, tb, temperature=params.temperature, with_entropy=True)
    mask = ts.loss_mask_B_W
    adv_B_W = adv_B[:, None].expand_as(ts.logprobs_B_W)
    old_B_W = (
        ts.logprobs_B_W.detach() if single_pass else _scatter(old_R, rows, ts.response_mask_B_W)
    )
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
    loss = pg_loss - params.entropy_coef * entropy
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
