"""The per-token uncertainty signal ``M_t`` and the turn signal ``Φ`` (method.md §2, §4).

Pure tensor math, no I/O. Every function takes log-probabilities of the next-token
distribution *after temperature, before top-k/top-p* (method.md §2), so the sampler can
reuse the one ``log_softmax`` it computes anyway (architecture.md, Decision 3).

- entropy ``H_t = -Σ_i p_t(i) log p_t(i)``
- top-j confidence (DeepConf) ``C_t = -(1/j) Σ_{i in top-j} log p_t(i)``; large when peaked
- causal min–max normalisation over the response so far; a zero range gives 0 (a range
  within float noise, ``<= ZERO_RANGE`` nats, counts as zero)
- fusion ``M_t = α·H̃_t + (1-α)·(1 - C̃_t)``; high ``M_t`` = uncertain
- turn signal ``Φ = exp(mean_t log(M_t + 1e-6))`` over sampled (not forced) tokens

:func:`uncertainty_sequence` is the offline reference; :class:`RunningMinMax` is the
streaming form used inside the decode loop and equals it row by row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

PHI_EPS = 1e-6  # the +1e-6 inside the log of Φ (method.md §4)
# A min-max range at most this wide (in nats) counts as zero. The same distribution summed
# in another order differs by up to ~3e-4 nats in float32 over a 150k vocabulary, and
# min-max would blow that noise up to the whole [0, 1] scale; real signal is far larger.
ZERO_RANGE = 1e-3


def entropy_from_logprobs(
    logprobs_B_V: torch.Tensor,
    probs_B_V: torch.Tensor | None = None,
    scratch_B_V: torch.Tensor | None = None,
) -> torch.Tensor:
    """Entropy of each row's distribution.

    Args:
        logprobs_B_V: normalised log-probabilities, shape ``(..., V)``; ``-inf`` allowed.
        probs_B_V: ``logprobs_B_V.exp()`` when the caller has it already (saves a pass).
        scratch_B_V: a buffer of the same shape to overwrite instead of allocating one.

    Returns:
        ``H``, shape ``(...)``, in nats.
    """
    probs = logprobs_B_V.exp() if probs_B_V is None else probs_B_V
    # 0 · log 0 = 0: a -inf log-prob (a banned token) must not turn the sum into NaN.
    lowest = torch.finfo(logprobs_B_V.dtype).min
    if scratch_B_V is None:
        plogp = probs * logprobs_B_V.clamp_min(lowest)
    else:
        plogp = torch.clamp(logprobs_B_V, min=lowest, out=scratch_B_V)
        plogp = torch.mul(plogp, probs, out=scratch_B_V)
    return -plogp.sum(dim=-1)


def confidence_from_top_logprobs(top_logprobs_B_J: torch.Tensor) -> torch.Tensor:
    """``C = -(1/j) Σ`` of the ``j`` largest log-probs, given them already (any order).

    Args:
        top_logprobs_B_J: the ``j`` largest log-probs of each row, shape ``(..., j)``.

    Returns:
        ``C``, shape ``(...)``.
    """
    return -top_logprobs_B_J.mean(dim=-1)


def topj_confidence(logprobs_B_V: torch.Tensor, j: int) -> torch.Tensor:
    """DeepConf top-j confidence ``C = -(1/j) Σ_{top-j} log p`` (method.md §2).

    Args:
        logprobs_B_V: normalised log-probabilities, shape ``(..., V)``.
        j: how many of the most likely tokens to average; must be ``>= 2`` (with ``j = 1``
            the signal points the other way). Clamped to ``V`` for tiny vocabularies.

    Returns:
        ``C``, shape ``(...)``.
    """
    if j < 2:
        raise ValueError(f"top_j must be >= 2 (got {j}); with j = 1 confidence inverts")
    k = min(j, logprobs_B_V.shape[-1])
    top = torch.topk(logprobs_B_V, k, dim=-1, sorted=False).values
    return confidence_from_top_logprobs(top)


def _normalise(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """``(x - lo) / (hi - lo)``, and 0 where the range is zero (method.md §2).

    "Zero" means at most :data:`ZERO_RANGE`, i.e. float noise (see there).
    """
    span = hi - lo
    wide = span > ZERO_RANGE
    safe = torch.where(wide, span, torch.ones_like(span))
    return torch.where(wide, (x - lo) / safe, torch.zeros_like(x))


def minmax_normalize_causal(x_T: torch.Tensor) -> torch.Tensor:
    """Normalise ``x_t`` by the min and max of ``x_1..x_t`` (causal, along the last dim).

    Args:
        x_T: values, shape ``(..., T)``.

    Returns:
        ``x̃``, shape ``(..., T)``, in ``[0, 1]``; 0 where the running range is zero
        (always at ``t = 1``), which includes ranges within float noise (``ZERO_RANGE``).
    """
    lo = torch.cummin(x_T, dim=-1).values
    hi = torch.cummax(x_T, dim=-1).values
    return _normalise(x_T, lo, hi)


def fuse_uncertainty(h_norm: torch.Tensor, c_norm: torch.Tensor, alpha: float) -> torch.Tensor:
    """``M = α·H̃ + (1-α)·(1 - C̃)`` elementwise (method.md §2); any matching shapes."""
    return alpha * h_norm + (1.0 - alpha) * (1.0 - c_norm)


def uncertainty_sequence(logprobs_T_V: torch.Tensor, alpha: float, j: int) -> torch.Tensor:
    """Offline reference: ``M_t`` for every token of one response (or a batch of them).

    Args:
        logprobs_T_V: the next-token log-probabilities at each response position,
            shape ``(..., T, V)``.
        alpha: weight of the normalised entropy.
        j: top-j of the confidence; ``>= 2``.

    Returns:
        ``M``, shape ``(..., T)``.
    """
    h_T = entropy_from_logprobs(logprobs_T_V)
    c_T = topj_confidence(logprobs_T_V, j)
    return fuse_uncertainty(minmax_normalize_causal(h_T), minmax_normalize_causal(c_T), alpha)


class RunningMinMax:
    """Streaming ``M_t`` for a batch of responses decoded together, one token per call.

    Keeps the running min and max of ``H`` and ``C`` per row as ``(B,)`` tensors. A fresh
    instance per ``generate`` call (every response starts with an empty history).
    Row by row it equals :func:`uncertainty_sequence` over that row's active steps.
    """

    def __init__(
        self,
        batch_size: int,
        alpha: float,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.alpha = alpha
        inf_B = torch.full((batch_size,), math.inf, device=device, dtype=dtype)
        self.h_min_B, self.h_max_B = inf_B.clone(), -inf_B
        self.c_min_B, self.c_max_B = inf_B.clone(), -inf_B

    def update(
        self, h_B: torch.Tensor, c_B: torch.Tensor, active_B: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Fold in this step's ``H`` and ``C`` and return ``M`` for the step.

        Args:
            h_B: entropy of each row's next-token distribution, shape ``(B,)``.
            c_B: top-j confidence, shape ``(B,)``.
            active_B: bool ``(B,)``; rows that are False (finished) keep their state and
                get ``M = 0``. None = all active.

        Returns:
            ``M``, shape ``(B,)``.
        """
        h_B = h_B.to(self.h_min_B.dtype)
        c_B = c_B.to(self.c_min_B.dtype)
        if active_B is None:
            active_B = torch.ones_like(h_B, dtype=torch.bool)
        self.h_min_B = torch.where(active_B, torch.minimum(self.h_min_B, h_B), self.h_min_B)
        self.h_max_B = torch.where(active_B, torch.maximum(self.h_max_B, h_B), self.h_max_B)
        self.c_min_B = torch.where(active_B, torch.minimum(self.c_min_B, c_B), self.c_min_B)
        self.c_max_B = torch.where(active_B, torch.maximum(self.c_max_B, c_B), self.c_max_B)
        h_norm = _normalise(h_B, self.h_min_B, self.h_max_B)
        c_norm = _normalise(c_B, self.c_min_B, self.c_max_B)
        m_B = fuse_uncertainty(h_norm, c_norm, self.alpha)
        return torch.where(active_B, m_B, torch.zeros_like(m_B))


def turn_signal(
    uncertainty_T: Sequence[float] | torch.Tensor,
    sampled_mask_T: Sequence[bool] | torch.Tensor | None = None,
) -> float:
    """Turn signal ``Φ = exp(mean_t log(M_t + 1e-6))`` over sampled tokens (method.md §4).

    Args:
        uncertainty_T: ``M_t`` of each response token, length ``T``.
        sampled_mask_T: True where the token was sampled (not forced by TTI), length ``T``;
            None = all sampled. Pass ``~forced_mask``.

    Returns:
        ``Φ`` as a float; 0.0 when no token was sampled.
    """
    m_T = torch.as_tensor(uncertainty_T, dtype=torch.float64).reshape(-1)
    if sampled_mask_T is None:
        mask_T = torch.ones_like(m_T, dtype=torch.bool)
    else:
        mask_T = torch.as_tensor(sampled_mask_T, dtype=torch.bool).reshape(-1)
    if mask_T.shape != m_T.shape:
        raise ValueError(f"uncertainty has {m_T.numel()} tokens but the mask {mask_T.numel()}")
    if not bool(mask_T.any()):
        return 0.0
    return float(torch.log(m_T[mask_T] + PHI_EPS).mean().exp())
