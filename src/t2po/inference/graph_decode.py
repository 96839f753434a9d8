"""The ``graph`` decode backend: a static KV cache, a sync-free step, one CUDA graph per step.

Why: on a GPU the eager loop of :mod:`t2po.inference.hf` is bound by kernel launches, not by
arithmetic. Each step launches the model's few hundred small kernels, then ~30 for sampling,
``H_t``/``C_t`` and ``M_t`` and ~50 for the TTI controller, and reads ``alive.any()`` back to
the host. On an H100 that made the T2PO controls cost 1.14x (tiny model) and 1.30x (151,936
vocabulary) of a decode without them, and our batched decode 0.88x of HF's ``generate()``.
Here the whole step (forward of the previous token, sampling, ``M_t``, TTI's plateau check
and forced-token insertion, stop checks, writing the outputs) is one graph replay.

What makes that possible:

- **Static KV cache** (``transformers.StaticCache``): fixed ``(B, heads, L, head_dim)``
  tensors written in place at a device-side position (its ``cumulative_length``), so every
  step reads and writes the same addresses. Prompts are left-padded to ``P``; the cache slot
  of step ``t`` is ``P + t`` for every row, while RoPE positions stay per row.
- **Our own attention mask**: a bool ``valid_B_L`` (key slots a row may attend), updated in
  place, passed to the model as a ready mapping ``{"full_attention": mask}`` so HF's mask
  builder (which reads shapes and values on the host) is not run inside the graph.
- **A sync-free step**: the same pure functions the eager loop calls
  (:func:`~t2po.inference.sampling.sample_step`, ``RunningMinMax.update``,
  ``TTIController.forced_tokens`` / ``observe``), with the state written back *in place*
  (a graph replays into fixed addresses) and the output column chosen by a device index.
  Nothing in it reads a tensor value on the host. The one data-dependent piece of sampling,
  top-p without top-k (which widens its candidate set until the nucleus fits), takes one
  full-vocabulary ``topk`` instead (``sync_free=True``), with the same result.
- **Fixed shapes**: the batch is padded to a power of two (a bucket; the extra rows are
  finished from the start) and the cache length to a multiple of ``CACHE_ROUND``, so one
  captured pair of graphs serves every call with the same sampling settings and bucket.

Same semantics as the eager loop (a CPU test checks it token for token): the uniforms are
drawn outside the graph, full width, from the same generator and in the same order as there.
Finished rows keep running in the batch (no compaction: shapes are fixed) but change no
state; the host looks at ``alive`` every ``SYNC_EVERY`` steps to stop early, and every step
only when it must (multi-token stop strings matched on decoded text, an ``on_step`` hook).

On CPU (or any device without CUDA graphs) the same step runs eagerly: that is what the CPU
tests exercise. Pictures (a vision-language prefill) always take the eager loop.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from t2po.algo.uncertainty import RunningMinMax
from t2po.exploration.tti import TTIController
from t2po.inference.base import SamplingParams
from t2po.inference.sampling import SamplingWorkspace, sample_step

if TYPE_CHECKING:
    from t2po.inference.hf import HFSampler
    from t2po.types import SamplerOutput

# The decoders an HFSampler can use (config.py checks rollout.decode_backend against its own
# copy: the inference layer knows no config).
DECODE_BACKENDS = ("eager", "graph")
CACHE_ROUND = 256  # cache lengths are rounded up to this, so close prompt lengths share graphs
SYNC_EVERY = 8  # steps between the host's looks at "is any row still running?"
MAX_SLOTS = 4  # captured (settings, bucket) pairs kept per sampler; the oldest is dropped

_FINISH_STOP, _FINISH_EOS = 1, 2  # as in t2po.inference.hf
_MASK_IMPLS = ("sdpa", "eager")  # attention implementations whose mask format we build


def check_backend(name: str) -> str:
    """``name`` if it is a decode backend, else a ``ValueError`` naming the valid ones."""
    if name not in DECODE_BACKENDS:
        raise ValueError(f"unknown decode backend {name!r}; choose one of {DECODE_BACKENDS}")
    return name


def batch_bucket(b: int) -> int:
    """The padded batch size for ``b`` rows: the next power of two."""
    return 1 << max(0, (b - 1).bit_length())


def _tensors(obj: Any) -> dict[str, torch.Tensor]:
    return {k: v for k, v in vars(obj).items() if isinstance(v, torch.Tensor)}


def _load_state(dst: Any, src: Any) -> None:
    """Copy ``src``'s tensor state into ``dst``'s tensors, keeping ``dst``'s addresses."""
    for name, value in _tensors(src).items():
        getattr(dst, name).copy_(value)


def _commit(obj: Any, before: dict[str, torch.Tensor]) -> None:
    """The controllers rebind their state to new tensors each step; write those back into
    the tensors they had before, so the next graph replay reads what this one wrote."""
    for name, fixed in before.items():
        new = getattr(obj, name)
        if new is not fixed:
            fixed.copy_(new)
            setattr(obj, name, fixed)


def _is_in(ids_B: torch.Tensor, set_S: torch.Tensor) -> torch.Tensor:
    """``torch.isin`` as one broadcast compare (no data-dependent kernel choice): bool (B,)."""
    return (ids_B.unsqueeze(-1) == set_S).any(dim=-1)


def _distinct(gens: Sequence[torch.Generator | None]) -> list[torch.Generator]:
    """Each generator once (rows may share one), in first-seen order."""
    out: list[torch.Generator] = []
    for g in gens:
        if g is not None and all(g is not o for o in out):
            out.append(g)
    return out


def _settings_key(params: SamplingParams) -> tuple[Any, ...]:
    """Everything a captured step bakes in (the seed and ``max_new_tokens`` are not)."""
    return (
        params.temperature,
        params.top_k,
        params.top_p,
        params.top_j,
        params.alpha,
        params.stop,
        params.tti,
    )


@dataclass
class _Slot:
    """Fixed buffers, state and captured graphs for one (settings, ``B``, ``L``) triple.

    Shapes: ``B`` the bucketed batch, ``L`` the cache length, ``T`` its ``max_new_tokens``
    capacity (``L - P`` for the shortest usable prompt; outputs are ``(B, L)`` wide).
    """

    batch: int
    cache_len: int
    cache: Any
    running: RunningMinMax
    tti: TTIController | None
    end_ids: torch.Tensor
    eos_ids: torch.Tensor
    logits_B_V: torch.Tensor | None = None  # this step's next-token logits (model dtype)
    workspace: SamplingWorkspace = field(default_factory=SamplingWorkspace)
    graphs: dict[str, Any] = field(default_factory=dict)  # "ctrl", "step" once captured

    def __post_init__(self) -> None:
        b, n, dev = self.batch, self.cache_len, self.end_ids.device
        self.uniforms_B = torch.zeros(b, dtype=torch.float32, device=dev)
        self.tokens_B_T = torch.zeros((b, n), dtype=torch.long, device=dev)
        self.logprobs_B_T = torch.zeros((b, n), dtype=torch.float32, device=dev)
        self.m_B_T = torch.zeros((b, n), dtype=torch.float32, device=dev)
        self.forced_B_T = torch.zeros((b, n), dtype=torch.bool, device=dev)
        self.finish_B = torch.zeros(b, dtype=torch.long, device=dev)
        self.alive_B = torch.zeros(b, dtype=torch.bool, device=dev)
        self.length_B = torch.zeros(b, dtype=torch.long, device=dev)
        self.ids_B = torch.zeros(b, dtype=torch.long, device=dev)  # this step's tokens
        self.input_B_1 = torch.zeros((b, 1), dtype=torch.long, device=dev)  # next forward's
        self.pos_B_1 = torch.zeros((b, 1), dtype=torch.long, device=dev)  # its RoPE position
        self.valid_B_L = torch.zeros((b, n), dtype=torch.bool, device=dev)  # attendable slots
        self.t_1 = torch.zeros(1, dtype=torch.long, device=dev)  # output column of this step
        self.slot_1 = torch.zeros(1, dtype=torch.long, device=dev)  # cache slot being written


class GraphDecoder:
    """Decodes one chunk of text prompts for an :class:`~t2po.inference.hf.HFSampler`."""

    def __init__(self, sampler: HFSampler, *, capture: bool | None = None) -> None:
        """
        Args:
            sampler: the owner (model, tokenizer, EOS ids, stop-string helpers, collection).
            capture: record the step as CUDA graphs; default: when the device is CUDA.
        """
        self.sampler = sampler
        self.device = sampler.device
        self.capture = self.device.type == "cuda" if capture is None else capture
        if self.capture and self.device.type != "cuda":
            raise ValueError(f"CUDA graphs need a CUDA device, the sampler is on {self.device}")
        config = sampler.model.config.get_text_config(decoder=True)
        impl = getattr(config, "_attn_implementation", None) or "eager"
        if impl not in _MASK_IMPLS:
            raise ValueError(
                f"decode_backend=graph builds masks for attention {_MASK_IMPLS}, the model "
                f"uses {impl!r}; load it with attn_implementation='sdpa' or use 'eager'"
            )
        kinds = set(getattr(config, "layer_types", None) or ["full_attention"])
        if kinds != {"full_attention"}:
            raise ValueError(
                f"decode_backend=graph supports full-attention layers only, the model has "
                f"{sorted(kinds)}; use decode_backend=eager"
            )
        if sampler._keep_kw is None or sampler._cache_kw != "cache":
            raise ValueError(
                "decode_backend=graph needs a model whose forward takes `cache` and "
                "`logits_to_keep` (transformers >= 5); use decode_backend=eager"
            )
        self._float_mask = impl == "eager"  # eager attention adds a float mask
        self._config = config
        self._slots: OrderedDict[tuple[Any, ...], _Slot] = OrderedDict()

    # ------------------------------------------------------------------ slots

    def _slot(self, params: SamplingParams, batch: int, cache_len: int) -> _Slot:
        key = (_settings_key(params), batch, cache_len)
        if key in self._slots:
            self._slots.move_to_end(key)
            return self._slots[key]
        while len(self._slots) >= MAX_SLOTS:
            self._slots.popitem(last=False)
        from transformers import StaticCache

        s = self.sampler
        id_stops, _ = s._split_stops(params.stop)
        slot = _Slot(
            batch=batch,
            cache_len=cache_len,
            cache=StaticCache(config=self._config, max_cache_len=cache_len),
            running=RunningMinMax(batch, params.alpha, device=self.device),
            tti=self._new_tti(params, [False] * batch),
            end_ids=torch.tensor(s.eos_ids + id_stops, dtype=torch.long, device=self.device),
            eos_ids=torch.tensor(s.eos_ids, dtype=torch.long, device=self.device),
        )
        self._slots[key] = slot
        return slot

    def _new_tti(self, params: SamplingParams, in_think: Sequence[bool]) -> TTIController | None:
        if params.tti is None:
            return None
        s = self.sampler
        return TTIController(
            params.tti,
            forced_ids=s._encode(params.tti.forced_text),
            think_open_ids=s._encode(params.tti.think_open),
            think_close_ids=s._encode(params.tti.think_close),
            batch_size=len(in_think),
            device=self.device,
            in_think_B=torch.tensor(list(in_think), dtype=torch.bool),
        )

    # ------------------------------------------------------------------ one call

    def generate_chunk(
        self,
        prompt_ids: list[list[int]],
        in_think: list[bool],
        params: SamplingParams,
        generator: torch.Generator,
        row_generators: list[torch.Generator | None] | None = None,
        on_step: Callable[[list[int | None]], None] | None = None,
    ) -> list[SamplerOutput]:
        """Decode ``prompt_ids`` (text only) as ``HFSampler._generate_chunk`` would."""
        s = self.sampler
        b, t_max = len(prompt_ids), params.max_new_tokens
        p_len = max(len(ids) for ids in prompt_ids)
        if t_max == 0:
            none: list[int | None] = [None] * b
            return s._collect(
                prompt_ids, [[]] * b, [[]] * b, [[]] * b, [[]] * b, [0] * b, [0] * b, none
            )
        big = batch_bucket(b)
        # +2: capture's warm-up forwards two tokens past the prompt even when t_max is 1
        cache_len = -(-(p_len + t_max + 2) // CACHE_ROUND) * CACHE_ROUND
        slot = self._slot(params, big, cache_len)
        in_think_big = list(in_think) + [False] * (big - b)

        self._start(slot, prompt_ids, in_think_big, params)
        if self.capture and not slot.graphs:
            self._capture(slot, params)
            self._start(slot, prompt_ids, in_think_big, params)  # warm-up moved the state

        _, text_stops = s._split_stops(params.stop)
        candidates_V = s._stop_candidates(text_stops) if text_stops else None
        watch = bool(text_stops) or on_step is not None
        gens = _distinct([generator, *(row_generators or [])])
        states: dict[int, list[torch.Tensor]] = {}  # generator states before each step's draw
        for t in range(t_max):
            if not watch:
                states[t] = [g.get_state() for g in gens]
            if row_generators is None:  # the eager loop's draws: b per step, same order
                torch.rand(b, generator=generator, device=self.device, out=slot.uniforms_B[:b])
            else:
                for i, g in enumerate(row_generators):
                    slot.uniforms_B[i : i + 1] = torch.rand(
                        1, generator=g or generator, device=self.device
                    )
            self._run(slot, params, "ctrl" if t == 0 else "step")
            if watch:
                self._host_checks(slot, b, t, text_stops, candidates_V, on_step)
            if t == t_max - 1:
                break
            if watch or (t + 1) % SYNC_EVERY == 0:
                if not bool(slot.alive_B[:b].any()):
                    break
                states.clear()  # some row runs past these steps: their draws were due
        # The eager loop stops drawing after the step its last row ended at; rewind the
        # streams to there (we may have run a few steps past it), so later calls draw alike.
        last = int(slot.length_B[:b].max()) - 1
        if last + 1 in states:
            for g, state in zip(gens, states[last + 1], strict=True):
                g.set_state(state)

        fired_at: list[int | None] = [None] * b
        if slot.tti is not None:
            fired_at = slot.tti.fired_at()[:b]
        n_out = t_max
        return s._collect(
            prompt_ids,
            slot.tokens_B_T[:b, :n_out].tolist(),
            slot.logprobs_B_T[:b, :n_out].tolist(),
            slot.m_B_T[:b, :n_out].tolist(),
            slot.forced_B_T[:b, :n_out].tolist(),
            slot.length_B[:b].tolist(),
            slot.finish_B[:b].tolist(),
            fired_at,
        )

    def _host_checks(
        self,
        slot: _Slot,
        b: int,
        t: int,
        text_stops: Sequence[Any],
        candidates_V: torch.Tensor | None,
        on_step: Callable[[list[int | None]], None] | None,
    ) -> None:
        """What the host must see every step: the hook, and stop strings on decoded text."""
        s = self.sampler
        ids_B = slot.ids_B[:b]
        # alive before this step = alive now or ended at this step (length grew to t + 1)
        was_alive_B = slot.length_B[:b] == t + 1
        if on_step is not None:
            alive = was_alive_B.tolist()
            on_step([i if a else None for i, a in zip(ids_B.tolist(), alive, strict=True)])
        if text_stops:
            check_B = slot.alive_B[:b].clone()
            hits_B = s._text_stop_hits(
                slot.tokens_B_T[:b, : t + 1], ids_B, check_B, text_stops, candidates_V
            )
            slot.finish_B[:b] = torch.where(hits_B, _FINISH_STOP, slot.finish_B[:b])
            slot.alive_B[:b] &= ~hits_B

    # ------------------------------------------------------------------ prefill

    def _start(
        self, slot: _Slot, prompt_ids: list[list[int]], in_think: list[bool], params: SamplingParams
    ) -> None:
        """Reset the slot in place for a new call and prefill the prompts into the cache."""
        s, dev, big, n = self.sampler, self.device, slot.batch, slot.cache_len
        b, p_len = len(prompt_ids), max(len(ids) for ids in prompt_ids)
        input_B_P = torch.full((big, p_len), s.pad_id, dtype=torch.long)
        mask_B_P = torch.zeros((big, p_len), dtype=torch.bool)
        for i, ids in enumerate(prompt_ids):
            input_B_P[i, p_len - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            mask_B_P[i, p_len - len(ids) :] = True
        input_B_P, mask_B_P = input_B_P.to(dev), mask_B_P.to(dev)
        pos_B_P = (mask_B_P.long().cumsum(-1) - 1).clamp_min(0)

        # Fresh controller state, copied into the slot's tensors (their addresses are captured).
        _load_state(slot.running, RunningMinMax(big, params.alpha, device=dev))
        if slot.tti is not None:
            fresh = self._new_tti(params, in_think)
            _load_state(slot.tti, fresh)
        for buf in (slot.tokens_B_T, slot.logprobs_B_T, slot.m_B_T, slot.forced_B_T):
            buf.zero_()
        for buf in (slot.finish_B, slot.length_B, slot.t_1, slot.uniforms_B):
            buf.zero_()
        slot.alive_B.copy_(torch.arange(big, device=dev) < b)  # bucket padding rows: finished
        slot.valid_B_L.zero_()
        slot.valid_B_L[:, :p_len] = mask_B_P
        slot.pos_B_1.copy_(pos_B_P[:, -1:] + 1)
        slot.slot_1.fill_(p_len)
        for layer in slot.cache.layers:  # write from slot 0 again; stale slots are masked
            if getattr(layer, "is_initialized", False):
                layer.cumulative_length.zero_()

        # Query i attends valid key slots j <= i, and always itself: a left-pad query with
        # nothing to attend would give NaN, which its K/V would carry into later layers.
        j_L = torch.arange(n, device=dev)
        i_P = torch.arange(p_len, device=dev)
        keys_B_P_L = slot.valid_B_L[:, None, :] & (j_L <= i_P[:, None])
        keys_B_P_L = keys_B_P_L | (j_L == i_P[:, None])
        logits = self._model(input_B_P, keys_B_P_L.unsqueeze(1), pos_B_P, slot.cache)
        if slot.logits_B_V is None:
            slot.logits_B_V = torch.empty_like(logits)
        slot.logits_B_V.copy_(logits)

    def _model(
        self, ids_B_Q: torch.Tensor, keys_B_1_Q_L: torch.Tensor, pos_B_Q: torch.Tensor, cache: Any
    ) -> torch.Tensor:
        """The model's last-position logits ``(B, V)`` given our own bool mask."""
        mask = keys_B_1_Q_L
        if self._float_mask:  # eager attention adds the mask to the scores
            dtype = self.sampler.model.dtype
            mask = torch.where(keys_B_1_Q_L, 0.0, torch.finfo(dtype).min).to(dtype)
        out = self.sampler.model(
            input_ids=ids_B_Q,
            attention_mask={"full_attention": mask},
            position_ids=pos_B_Q,
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        return out.logits[:, -1, :]

    # ------------------------------------------------------------------ the step

    def _forward_body(self, slot: _Slot) -> None:
        """Forward the previous step's tokens into the next logits (in place)."""
        slot.valid_B_L.index_fill_(1, slot.slot_1, True)  # the slot this token is written to
        keys_B_1_1_L = slot.valid_B_L[:, None, None, :]
        logits = self._model(slot.input_B_1, keys_B_1_1_L, slot.pos_B_1, slot.cache)
        assert slot.logits_B_V is not None
        slot.logits_B_V.copy_(logits)
        slot.pos_B_1.add_(1)
        slot.slot_1.add_(1)

    def _control_body(self, slot: _Slot, params: SamplingParams) -> None:
        """Choose this step's tokens and fold them into the controllers; no host sync.

        The same calls, in the same order, as one iteration of the eager loop at full width.
        """
        assert slot.logits_B_V is not None
        running_before = _tensors(slot.running)
        tti_before = _tensors(slot.tti) if slot.tti is not None else {}
        alive_B = slot.alive_B
        choice = sample_step(
            slot.logits_B_V,
            temperature=params.temperature,
            top_k=params.top_k,
            top_p=params.top_p,
            top_j=params.top_j,
            generator=None,
            uniforms_B=slot.uniforms_B,
            workspace=slot.workspace,
            sync_free=True,
        )
        ids_B, lp_B = choice.token_ids_B, choice.logprobs_B
        m_B = slot.running.update(choice.entropy_B, choice.confidence_B, alive_B)
        force_B = torch.zeros_like(alive_B)
        if slot.tti is not None:
            force_B, forced_id_B = slot.tti.forced_tokens()
            force_B = force_B & alive_B
            ids_B = torch.where(force_B, forced_id_B, ids_B)
            lp_B = torch.where(force_B, 0.0, lp_B)  # probability 1 (method.md §3.2)
            slot.tti.observe(ids_B, m_B, alive_B)
        ids_B = torch.where(alive_B, ids_B, self.sampler.pad_id)
        t_1 = slot.t_1
        slot.tokens_B_T.index_copy_(1, t_1, ids_B.unsqueeze(-1))
        slot.logprobs_B_T.index_copy_(1, t_1, torch.where(alive_B, lp_B, 0.0).unsqueeze(-1))
        slot.m_B_T.index_copy_(1, t_1, m_B.unsqueeze(-1))
        slot.forced_B_T.index_copy_(1, t_1, force_B.unsqueeze(-1))
        slot.length_B.add_(alive_B.long())
        ended_B = alive_B & _is_in(ids_B, slot.end_ids)
        eos_B = ended_B & _is_in(ids_B, slot.eos_ids)
        finish_B = torch.where(ended_B, _FINISH_STOP, slot.finish_B)
        slot.finish_B.copy_(torch.where(eos_B, _FINISH_EOS, finish_B))
        slot.alive_B.copy_(alive_B & ~ended_B)
        slot.ids_B.copy_(ids_B)
        slot.input_B_1.copy_(ids_B.unsqueeze(-1))
        t_1.add_(1)
        _commit(slot.running, running_before)
        if slot.tti is not None:
            _commit(slot.tti, tti_before)

    def _body(self, slot: _Slot, params: SamplingParams, which: str) -> None:
        if which == "step":
            self._forward_body(slot)
        self._control_body(slot, params)

    def _run(self, slot: _Slot, params: SamplingParams, which: str) -> None:
        graph = slot.graphs.get(which)
        if graph is None:
            self._body(slot, params, which)
        else:
            graph.replay()

    def _capture(self, slot: _Slot, params: SamplingParams) -> None:
        """Record the two step kinds (after warm-up runs on a side stream, as CUDA asks)."""
        stream = torch.cuda.Stream(device=self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for which in ("ctrl", "step", "step"):
                self._body(slot, params, which)
        torch.cuda.current_stream(self.device).wait_stream(stream)
        pool = None  # the slot's two graphs share one pool: they never run at the same time
        for which in ("ctrl", "step"):
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=pool):
                self._body(slot, params, which)
            pool = graph.pool()
            slot.graphs[which] = graph
