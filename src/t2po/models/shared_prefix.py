"""Run the prompt prefix that every row of a batch shares once, not once per row.

Every turn's prompt opens with the same tokens: the chat template, the family's
instructions, often the task line. On the quickstart (NumberLine) 70 of a prompt's 96 tokens
are shared by every turn, so a batch forward spends most of its work recomputing the same
keys and values row by row. Here the shared prefix goes through the model once, as a batch
of one; its key/value cache is repeated to the batch's rows and the rows' own tokens attend
to it. A causal model's prefix states do not depend on what follows, so this is the same
function of the weights: the rows see the same keys and values at the same positions.

Gradients flow through the repeated cache into the one prefix pass, so training may use it
too: the prefix's gradient is then the sum over rows taken before the prefix pass's backward
rather than after it. Only the order of float additions changes, so log-probs and gradients
agree with the per-row forward to float rounding (about 1e-6 relative in float32), not bit
for bit.

It needs a Hugging Face text decoder that takes a ``DynamicCache`` (``is_text_decoder``);
callers keep the per-row forward where a cache cannot be threaded through (DDP/FSDP wrappers,
gradient checkpointing, vision-language models, pictures in the prompt).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from t2po.models.lora import AdaptersOff, decoding_model

MIN_SHARED_PREFIX = 16
"""Shorter shared prefixes are not worth an extra forward call: run the rows whole."""


def shared_prefix_len(rows: Sequence[Sequence[int]], limit: int) -> int:
    """Length of the longest token prefix all ``rows`` share, at most ``limit`` (>= 0).

    The common prefix of a set of sequences is that of its lexicographically smallest and
    largest members, so two comparisons of whole rows (in C) find it.
    """
    if not rows or limit <= 0:
        return 0
    lists = [list(r) for r in rows]
    low, high = min(lists), max(lists)
    n = min(limit, len(low), len(high))
    for k in range(n):
        if low[k] != high[k]:
            return k
    return n


def _decoder(model: nn.Module) -> Any:
    """The Hugging Face model under the LoRA wrappers (its forward names the cache keyword)."""
    inner = model.policy if isinstance(model, AdaptersOff) else model
    return decoding_model(inner)


def cache_keyword(model: nn.Module) -> str:
    """``cache`` (transformers >= 5) or ``past_key_values``: how ``model`` takes a KV cache."""
    params = inspect.signature(_decoder(model).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _keep_last_logit(model: nn.Module) -> dict[str, int]:
    """The keyword that limits the logits to the last position, where the model has one."""
    params = inspect.signature(_decoder(model).forward).parameters
    keep = next((k for k in ("logits_to_keep", "num_logits_to_keep") if k in params), None)
    return {} if keep is None else {keep: 1}


def new_cache(model: nn.Module) -> Any:
    """An empty ``DynamicCache`` for ``model``."""
    from transformers import DynamicCache

    try:
        return DynamicCache(config=_decoder(model).config)
    except TypeError:  # older transformers
        return DynamicCache()


def is_text_decoder(model: nn.Module) -> bool:
    """False for a vision-language model: its M-RoPE positions are computed over the whole
    input (pictures or not), so its rows cannot run after a cache of their prefix."""
    config = getattr(_decoder(model), "config", None)
    return getattr(config, "vision_config", None) is None


def can_share_prefix(model: nn.Module) -> bool:
    """Whether a training forward of ``model`` may run its rows after a shared-prefix cache:
    a text decoder not under gradient checkpointing (transformers turns ``use_cache`` off
    while training with it)."""
    if not is_text_decoder(model):
        return False
    decoder = _decoder(model)
    for name in ("is_activation_checkpointing", "is_gradient_checkpointing"):  # new, old name
        if hasattr(type(decoder), name):
            return not bool(getattr(decoder, name))
    return True


def prefix_cache(model: nn.Module, prefix_ids_P: Tensor, batch: int) -> Any:
    """The KV cache of ``prefix_ids_P`` (shape ``P``, on the model's device) run once,
    repeated to ``batch`` rows; differentiable when grad is enabled."""
    cache = new_cache(model)
    model(
        input_ids=prefix_ids_P.unsqueeze(0),
        attention_mask=torch.ones_like(prefix_ids_P).unsqueeze(0),
        use_cache=True,
        **_keep_last_logit(model),  # the prefix's logits are never read
        **{cache_keyword(model): cache},
    )
    cache.batch_repeat_interleave(batch)
    return cache
