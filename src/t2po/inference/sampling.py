"""Choosing the next token from logits, and the uncertainty inputs of that same step.

One decode step does one ``log_softmax`` of the temperature-scaled logits and reuses it for
everything: the entropy ``H_t``, the top-j confidence ``C_t`` (method.md §2), the chosen
token's log-prob, and the sampling itself (architecture.md, Decision 3).

Choices, and why:

- **No full sort, no ``torch.multinomial`` over the vocabulary.** On this project's 2-core
  CPU at batch 32 x vocabulary 151,936, ``multinomial`` costs ~100 ms and a sort 200-400 ms.
  Gumbel-max over the whole vocabulary is no cheaper there (drawing 4.9M exponentials costs
  ~90 ms), so untruncated sampling uses the **inverse CDF**: one uniform per row and a
  binary search in the cumulative sum of the probabilities the entropy already needed
  (~5 ms; float32 ``cumsum`` is accurate to ~1e-7 here). Truncated sampling works on the
  ``K`` candidates of one ``torch.topk`` (sorted), never the vocabulary. A whole step
  (log-softmax, ``H``, top-j ``C``, choice) costs ~20 ms there.
- **top-k before top-p**, as Hugging Face and vLLM do: top-p keeps the smallest prefix of
  the top-k candidates, *renormalised over those k*, whose mass reaches ``p``. With top-p
  alone, ``topk`` widens (256, 1024, ... up to ``V``) until the candidates hold mass ``>= p``
  in every row, so the nucleus is exact and a full sort happens only for near-flat rows.
- **No fresh vocabulary-sized tensors per step** when a :class:`SamplingWorkspace` is
  given: once a model is loaded, new 20 MB buffers every step fault in fresh pages and made
  a step ~3x slower on CPU (62 ms instead of 22 ms at B = 32, V = 151,936).
- **Greedy** when ``temperature == 0``: the argmax (exact ties broken by ``topk``). ``H``,
  ``C`` and the log-prob then use the untempered distribution (temperature 1).
- **The returned log-prob** is ``log π_T(token)`` after temperature and *before* top-k/top-p
  truncation: the same distribution ``M_t`` describes. The trainer recomputes log-probs
  with its own forward anyway; forced tokens get 0.0 from the decode loop, not from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from t2po.algo.uncertainty import confidence_from_top_logprobs, entropy_from_logprobs

TOP_P_FIRST_CAP = 256  # first topk width tried for top-p without top-k
TOP_P_GROWTH = 4  # widen by this factor until the nucleus fits


class SamplingWorkspace:
    """Reusable float32 ``(B, V)`` buffers for :func:`sample_step`, one set per decode loop.

    Buffers grow to the largest shape seen and are then viewed, so a batch that shrinks
    (finished rows dropped) reuses them too. Not thread-safe: one per sampler.
    """

    def __init__(self) -> None:
        self._flat: dict[str, torch.Tensor] = {}

    def buffer(self, name: str, shape: torch.Size, device: torch.device) -> torch.Tensor:
        """A float32 tensor of ``shape`` whose contents are garbage; reused across calls."""
        numel = shape.numel()
        flat = self._flat.get(name)
        if flat is None or flat.numel() < numel or flat.device != device:
            flat = torch.empty(numel, dtype=torch.float32, device=device)
            self._flat[name] = flat
        return flat[:numel].view(shape)


@dataclass(frozen=True)
class StepChoice:
    """The outcome of one decode step for a batch of rows."""

    token_ids_B: torch.Tensor  # long (B,)
    logprobs_B: torch.Tensor  # log π_T of the chosen token, before truncation (B,)
    entropy_B: torch.Tensor  # H_t of π_T (B,)
    confidence_B: torch.Tensor  # top-j C_t of π_T (B,)


def validate_sampling(temperature: float, top_k: int, top_p: float, top_j: int) -> None:
    """Raise ``ValueError`` with a readable message for settings that make no sense."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0 (0 = off), got {top_k}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1] (1 = off), got {top_p}")
    if top_j < 2:
        raise ValueError(f"top_j must be >= 2 (got {top_j}); with j = 1 confidence inverts")


def temperature_log_softmax(
    logits_B_V: torch.Tensor,
    temperature: float,
    workspace: SamplingWorkspace | None = None,
) -> torch.Tensor:
    """``log softmax(logits / T)`` in float32; ``T = 0`` (greedy) uses ``T = 1``.

    Args:
        logits_B_V: raw next-token logits, shape ``(B, V)``.
        temperature: ``T >= 0``.
        workspace: where to write (buffers ``"scaled"``, ``"logprobs"``); None = allocate.

    Returns:
        log-probabilities, shape ``(B, V)``, float32 (a workspace view when one is given).
    """
    if workspace is None:
        logits_B_V = logits_B_V.float()
        if temperature > 0 and temperature != 1.0:
            logits_B_V = logits_B_V / temperature
        return torch.log_softmax(logits_B_V, dim=-1)
    shape, dev = logits_B_V.shape, logits_B_V.device
    scaled = logits_B_V
    if temperature > 0 and temperature != 1.0:
        scaled = torch.div(logits_B_V, temperature, out=workspace.buffer("scaled", shape, dev))
    elif logits_B_V.dtype != torch.float32:
        scaled = workspace.buffer("scaled", shape, dev).copy_(logits_B_V)
    return torch.log_softmax(scaled, dim=-1, out=workspace.buffer("logprobs", shape, dev))


def inverse_cdf_sample(
    weights_B_K: torch.Tensor,
    generator: torch.Generator | None,
    uniforms_B: torch.Tensor | None = None,
    cdf_out_B_K: torch.Tensor | None = None,
) -> torch.Tensor:
    """Draw one index per row with probability proportional to ``weights_B_K``.

    Args:
        weights_B_K: non-negative, not necessarily normalised, at least one positive per row.
        generator: the randomness source (one uniform per row is drawn from it).
        uniforms_B: ``U[0, 1)`` draws to use instead of the generator, shape ``(B,)``.
        cdf_out_B_K: where to write the cumulative sum; may be ``weights_B_K`` itself,
            which is then overwritten. None = allocate.

    Returns:
        long indices into the last dimension, shape ``(B,)``. A zero-weight index is never
        returned.
    """
    cdf_B_K = torch.cumsum(weights_B_K, dim=-1, out=cdf_out_B_K)
    total_B_1 = cdf_B_K[:, -1:]
    if uniforms_B is None:
        u_B_1 = torch.rand(
            total_B_1.shape, generator=generator, device=total_B_1.device, dtype=total_B_1.dtype
        )
    else:
        u_B_1 = uniforms_B.to(total_B_1.dtype).unsqueeze(-1)
    # u < total strictly, so the first index whose cdf exceeds u has positive weight.
    u_B_1 = torch.minimum(
        u_B_1 * total_B_1, torch.nextafter(total_B_1, torch.zeros_like(total_B_1))
    )
    return torch.searchsorted(cdf_B_K, u_B_1, right=True).squeeze(-1)


def _top_p_keep(probs_B_K: torch.Tensor, top_p: float) -> torch.Tensor:
    """Bool ``(B, K)``: the smallest prefix of sorted ``probs_B_K`` whose mass reaches ``top_p``."""
    mass_before_B_K = probs_B_K.cumsum(dim=-1) - probs_B_K
    keep_B_K = mass_before_B_K < top_p
    keep_B_K[:, 0] = True  # the most likely token always survives
    return keep_B_K


def _nucleus_candidates(
    logprobs_B_V: torch.Tensor, top_p: float, sync_free: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted top-K log-probs and ids whose mass reaches ``top_p`` in every row.

    ``sync_free``: take ``K = V`` at once instead of widening, which reads the mass on the
    host. The kept nucleus and its cumulative sum are the same (extra candidates lie past
    the nucleus and get weight 0), so the draw is too, up to the order of exact ties.
    """
    vocab = logprobs_B_V.shape[-1]
    k = vocab if sync_free else min(vocab, TOP_P_FIRST_CAP)
    while True:
        top = torch.topk(logprobs_B_V, k, dim=-1, sorted=True)
        if k == vocab or bool((top.values.exp().sum(dim=-1) >= top_p).all()):
            return top.values, top.indices
        k = min(vocab, k * TOP_P_GROWTH)


def select_tokens(
    logprobs_B_V: torch.Tensor,
    *,
    greedy: bool,
    top_k: int,
    top_p: float,
    generator: torch.Generator | None,
    probs_B_V: torch.Tensor | None = None,
    top_logprobs_B_K: torch.Tensor | None = None,
    top_ids_B_K: torch.Tensor | None = None,
    uniforms_B: torch.Tensor | None = None,
    overwrite_probs: bool = False,
    sync_free: bool = False,
) -> torch.Tensor:
    """Pick one token per row.

    Args:
        logprobs_B_V: temperature-scaled log-probabilities, shape ``(B, V)``.
        greedy: take the argmax and ignore the rest.
        top_k: keep the ``k`` most likely tokens (0 = off).
        top_p: then keep the smallest prefix with mass ``>= top_p`` (1.0 = off).
        generator: randomness source.
        probs_B_V: ``logprobs_B_V.exp()`` if already computed.
        top_logprobs_B_K, top_ids_B_K: a *sorted* ``topk`` of ``logprobs_B_V`` with
            ``K >= top_k``, if already computed (saves a second ``topk``).
        uniforms_B: the one ``U[0, 1)`` draw per row to use instead of ``generator``.
        overwrite_probs: let untruncated sampling overwrite ``probs_B_V`` with its
            cumulative sum (saves a vocabulary-sized buffer; the caller must own it).
        sync_free: never read a tensor value on the host (top-p without top-k then sorts
            the whole vocabulary once); for CUDA-graph capture.

    Returns:
        long token ids, shape ``(B,)``.
    """
    if greedy:
        if top_ids_B_K is not None:
            return top_ids_B_K[:, 0]  # a sorted topk already holds the argmax (saves a pass)
        return logprobs_B_V.argmax(dim=-1)
    vocab = logprobs_B_V.shape[-1]
    if top_k <= 0 and top_p >= 1.0:
        if probs_B_V is None:
            return inverse_cdf_sample(logprobs_B_V.exp(), generator, uniforms_B)
        cdf_out = probs_B_V if overwrite_probs else None
        return inverse_cdf_sample(probs_B_V, generator, uniforms_B, cdf_out)

    if top_k > 0:
        k = min(top_k, vocab)
        if top_logprobs_B_K is None or top_ids_B_K is None or top_logprobs_B_K.shape[-1] < k:
            top = torch.topk(logprobs_B_V, k, dim=-1, sorted=True)
            top_logprobs_B_K, top_ids_B_K = top.values, top.indices
        cand_logprobs = top_logprobs_B_K[:, :k]
        cand_ids = top_ids_B_K[:, :k]
        # top-p acts on the distribution renormalised over the top-k (HF / vLLM order).
        cand_probs = torch.softmax(cand_logprobs, dim=-1)
    else:
        cand_logprobs, cand_ids = _nucleus_candidates(logprobs_B_V, top_p, sync_free)
        cand_probs = cand_logprobs.exp()  # the full distribution's own probabilities

    if top_p < 1.0:
        cand_probs = torch.where(_top_p_keep(cand_probs, top_p), cand_probs, 0.0)
    pick_B = inverse_cdf_sample(cand_probs, generator, uniforms_B)
    return cand_ids.gather(-1, pick_B.unsqueeze(-1)).squeeze(-1)


def sample_step(
    logits_B_V: torch.Tensor,
    *,
    temperature: float,
    top_k: int,
    top_p: float,
    top_j: int,
    generator: torch.Generator | None,
    uniforms_B: torch.Tensor | None = None,
    workspace: SamplingWorkspace | None = None,
    sync_free: bool = False,
) -> StepChoice:
    """Choose this step's tokens and compute ``H_t`` and ``C_t`` from the same log-softmax.

    Args:
        logits_B_V: raw next-token logits, shape ``(B, V)``.
        temperature: ``0`` = greedy.
        top_k: 0 = off.
        top_p: 1.0 = off.
        top_j: ``j`` of the top-j confidence, ``>= 2`` (clamped to ``V``).
        generator: randomness source.
        uniforms_B: the one ``U[0, 1)`` draw per row to use instead of ``generator``
            (the decode loop draws them full width, so a row's tokens do not depend on
            which other rows are still running).
        workspace: reusable buffers (see :class:`SamplingWorkspace`); None = allocate.
        sync_free: no host reads of tensor values (see :func:`select_tokens`); with
            ``uniforms_B`` given, the step can then be captured in a CUDA graph.

    Returns:
        a :class:`StepChoice` with ``(B,)`` tensors (never views of the workspace).
    """
    logprobs_B_V = temperature_log_softmax(logits_B_V, temperature, workspace)
    if workspace is None:
        probs_B_V = logprobs_B_V.exp()
        entropy_B = entropy_from_logprobs(logprobs_B_V, probs_B_V)
    else:
        shape, dev = logprobs_B_V.shape, logprobs_B_V.device
        probs_B_V = torch.exp(logprobs_B_V, out=workspace.buffer("probs", shape, dev))
        # "scaled" is free again once the log-softmax is written
        scratch = workspace.buffer("scaled", shape, dev)
        entropy_B = entropy_from_logprobs(logprobs_B_V, probs_B_V, scratch)

    vocab = logprobs_B_V.shape[-1]
    j = min(top_j, vocab)
    k = min(max(j, top_k), vocab)
    top = torch.topk(logprobs_B_V, k, dim=-1, sorted=True)
    confidence_B = confidence_from_top_logprobs(top.values[:, :j])

    token_ids_B = select_tokens(
        logprobs_B_V,
        greedy=temperature == 0,
        top_k=top_k,
        top_p=top_p,
        generator=generator,
        probs_B_V=probs_B_V,
        top_logprobs_B_K=top.values,
        top_ids_B_K=top.indices,
        uniforms_B=uniforms_B,
        overwrite_probs=True,  # probs_B_V is ours and not needed after this
        sync_free=sync_free,
    )
    logprobs_B = logprobs_B_V.gather(-1, token_ids_B.unsqueeze(-1)).squeeze(-1)
    return StepChoice(token_ids_B, logprobs_B, entropy_B, confidence_B)
