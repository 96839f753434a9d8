"""Model I/O for training: per-token log-probs (and entropy) of response tokens."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from t2po.algo.losses import entropy_from_logits, token_logprobs
from t2po.models.shared_prefix import (
    MIN_SHARED_PREFIX,
    cache_keyword,
    can_share_prefix,
    prefix_cache,
)
from t2po.train.batch import TokenBatch


@dataclass(frozen=True)
class TokenStats:
    """Per-target tensors over the window ``[start, L-1)`` that holds every response token."""

    logprobs_B_W: Tensor
    entropy_B_W: Tensor | None
    loss_mask_B_W: Tensor
    response_mask_B_W: Tensor


def response_window_start(tb: TokenBatch) -> int:
    """First target index any response token can sit at (skips logits of shared prompt)."""
    return int(tb.prompt_lens_B.min().item()) - 1


def shares_prefix(model: nn.Module, tb: TokenBatch) -> bool:
    """Whether ``forward_token_stats(..., share_prefix=True)`` runs ``tb``'s shared prefix
    once: a text batch of several rows sharing at least ``MIN_SHARED_PREFIX`` tokens."""
    return (
        tb.vision is None
        and tb.input_ids_B_L.shape[0] > 1
        and tb.shared_prefix_len >= MIN_SHARED_PREFIX
        and can_share_prefix(model)
    )


def forward_token_stats(
    model: nn.Module,
    tb: TokenBatch,
    *,
    temperature: float = 1.0,
    with_entropy: bool = False,
    share_prefix: bool = True,
    entropy_grad: bool = True,
) -> TokenStats:
    """Log-probs of each target token under ``model`` (logits divided by ``temperature``).

    Only logits from the first response position on are materialised (``logits_to_keep``),
    which matters for large vocabularies. A batch with pictures also passes their pixels and
    where their placeholders sit; the model then takes its M-RoPE positions from them, as the
    sampler's prefill did (``t2po.inference.vision``).

    ``share_prefix``: the tokens every row shares (``tb.shared_prefix_len``) go through the
    model once and the rows attend to their cache (``t2po.models.shared_prefix``; equal to
    the per-row forward up to float rounding). Give False for a module whose forward must
    run once per backward (DDP, FSDP). ``entropy_grad=False`` computes the entropy outside
    the autograd graph (a metric only: no backward through a full-vocabulary softmax).
    """
    device = next(model.parameters()).device
    L = tb.input_ids_B_L.shape[1]
    start = response_window_start(tb)
    input_ids = tb.input_ids_B_L.to(device)
    pictures: dict[str, Tensor] = {}
    if tb.vision is not None and tb.mm_token_type_ids_B_L is not None:
        pictures = {
            "pixel_values": tb.vision.pixel_values.to(device),
            "image_grid_thw": tb.vision.image_grid_thw.to(device),
            "mm_token_type_ids": tb.mm_token_type_ids_B_L.to(device),
        }
    if share_prefix and shares_prefix(model, tb):
        P = tb.shared_prefix_len  # <= start, so every kept logit comes from the rows' pass
        cache = prefix_cache(model, input_ids[0, :P], input_ids.shape[0])
        out = model(
            input_ids=input_ids[:, P:],
            attention_mask=tb.attention_mask_B_L.to(device),  # prefix columns included
            logits_to_keep=L - start,
            use_cache=True,
            **{cache_keyword(model): cache},
        )
    else:
        out = model(
            input_ids=input_ids,
            attention_mask=tb.attention_mask_B_L.to(device),
            logits_to_keep=L - start,
            use_cache=False,
            **pictures,
        )
    # logits_to_keep keeps positions [start, L); position j predicts target j (= input j+1).
    logits = out.logits[:, :-1].float()
    if temperature != 1.0:
        logits = logits / temperature
    targets = input_ids[:, start + 1 :]
    logprobs = token_logprobs(logits, targets)
    entropy = None
    if with_entropy:
        with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
            entropy = entropy_from_logits(logits)
    return TokenStats(
        logprobs_B_W=logprobs,
        entropy_B_W=entropy,
        loss_mask_B_W=tb.loss_mask_B_L1[:, start:].to(device),
        response_mask_B_W=tb.response_mask_B_L1[:, start:].to(device),
    )


@torch.no_grad()
def batched_logprobs(
    model: nn.Module,
    batches: list[TokenBatch],
    *,
    temperature: float = 1.0,
    share_prefix: bool = True,
) -> list[Tensor]:
    """``forward_token_stats(...).logprobs_B_W`` for each micro-batch, without gradients."""
    was_training = model.training
    model.eval()
    try:
        return [
            forward_token_stats(
                model, tb, temperature=temperature, share_prefix=share_prefix
            ).logprobs_B_W.detach()
            for tb in batches
        ]
    finally:
        model.train(was_training)
