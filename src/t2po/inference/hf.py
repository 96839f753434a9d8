"""``HFSampler``: our own batched decode loop over a Hugging Face causal LM.

Why not ``model.generate``: TTI needs every step's full next-token distribution and
per-sequence state, and ``M_t`` must come from the same log-softmax the sampler uses
(architecture.md, Decision 3). The loop is the textbook one:

1. render each prompt with the tokenizer's chat template (``add_generation_prompt=True``)
   and encode it without adding special tokens a second time;
2. left-pad, ``position_ids = cumsum(mask) - 1``, one prefill forward that keeps only the
   last position's logits; the prompt prefix every row of the chunk shares (the template and
   instructions) runs once first, and the rows' own tokens attend to its repeated cache
   (:mod:`t2po.models.shared_prefix`; equal to the whole-row prefill up to float rounding);
3. one token per step with a ``DynamicCache``: choose tokens (:mod:`t2po.inference.sampling`),
   fold ``H_t``/``C_t`` into the per-row running min–max (``M_t``), let the TTI controller
   overwrite rows that are emitting forced text (log-prob 0.0, ``forced_mask`` True);
4. a row stops at a stop string, an EOS id, or ``max_new_tokens``. Finished rows drop out
   of the forward and the sampling once they are at most half of the running batch (the
   cache is re-indexed); the per-row bookkeeping stays full width.

Stop strings that are one token id (the tiny model's ``</action>`` is an added token) are
matched by id. Longer ones are matched on decoded text, since a BPE can spell the same
text with different ids; only rows whose newest token could end the stop string are decoded.

The EOS id stays in ``token_ids`` (the trainer must learn to stop) but not in ``text``.

Pictures (a vision-language model with its ``processor``): a prompt whose messages carry
``images`` is encoded by the processor (``t2po.inference.vision``); the prefill forward gets
the chunk's ``pixel_values`` and ``image_grid_thw`` and M-RoPE positions, and decoding after
it is text only (each new token's position continues from its row's last). Text prompts take
the path above unchanged, with or without a processor.

Randomness: each step draws one uniform per row. By default all rows draw from one stream
(``params.seed``, else the sampler's own). ``generate(..., seeds=[...])`` gives rows their
own streams instead, so a seeded prompt samples the same tokens alone or decoded beside
others (what a server batching independent requests needs). ``on_step`` sees each step's
tokens as they are chosen (for streaming) and may raise to abandon the call.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from t2po.algo.uncertainty import RunningMinMax
from t2po.exploration.tti import TTIController
from t2po.inference.base import SamplingParams
from t2po.inference.chat import encode_chat_with_images, render_chat
from t2po.inference.graph_decode import GraphDecoder, check_backend
from t2po.inference.sampling import SamplingWorkspace, sample_step, validate_sampling
from t2po.inference.vision import VisionInputs, cat_vision, message_images, mrope_position_ids
from t2po.models.shared_prefix import (
    MIN_SHARED_PREFIX,
    is_text_decoder,
    prefix_cache,
    shared_prefix_len,
)
from t2po.types import FinishReason, Message, SamplerOutput

_FINISH_NONE, _FINISH_STOP, _FINISH_EOS = 0, 1, 2

StepHook = Callable[[int, list[int | None]], None]
"""``on_step(first_row, tokens)``: the token each row of a chunk chose at this step (None for
rows already finished); ``first_row`` is the chunk's offset in the call's prompts."""


@dataclass(frozen=True)
class _TextStop:
    """A stop string matched on decoded text."""

    text: str
    window: int  # decode this many trailing tokens to look for it
    last_char: str


class HFSampler:
    """Implements :class:`t2po.inference.base.Sampler` for any HF causal LM (Qwen3, Llama)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        device: str | torch.device = "cpu",
        max_batch_size: int = 64,
        seed: int = 0,
        eos_token_ids: Iterable[int] | None = None,
        compact: bool = True,
        processor: Any | None = None,
        decode_backend: str = "eager",
        share_prefix: bool = True,
    ) -> None:
        """
        Args:
            model: a ``transformers`` causal LM, already on ``device``.
            tokenizer: its tokenizer, with a chat template.
            device: where inputs are put.
            max_batch_size: prompts are decoded in chunks of at most this many.
            seed: seeds the sampler's own stream, used when ``params.seed`` is None.
            eos_token_ids: ids that end a response; default: the tokenizer's EOS plus the
                model's ``generation_config.eos_token_id``.
            compact: drop finished rows from the forward once they are half the batch.
            processor: a vision-language model's processor (``AutoProcessor``); needed for
                prompts with pictures, unused by text prompts.
            decode_backend: ``"eager"`` (this module's loop) or ``"graph"`` (a static KV
                cache and a sync-free step, captured as CUDA graphs on CUDA:
                :mod:`t2po.inference.graph_decode`); pictures always decode eagerly.
            share_prefix: the eager prefill runs the prompt prefix all rows of a chunk share
                once (:mod:`t2po.models.shared_prefix`); False runs every row whole.
        """
        if getattr(tokenizer, "chat_template", None) is None:
            raise ValueError(
                "the tokenizer has no chat_template; set tokenizer.chat_template (e.g. ChatML) "
                "before building an HFSampler"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.device = torch.device(device)
        self.max_batch_size = max_batch_size
        self.compact = compact
        self.share_prefix = share_prefix
        self._can_share = is_text_decoder(model)  # no M-RoPE: positions of the rows alone
        self.processor = processor
        self._generator = torch.Generator(device=self.device).manual_seed(seed)
        self.eos_ids = sorted(set(eos_token_ids or self._default_eos_ids()))
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = self.eos_ids[0] if self.eos_ids else 0
        self.pad_id = int(pad)
        params = inspect.signature(model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self._keep_kw = next(
            (k for k in ("logits_to_keep", "num_logits_to_keep") if k in params), None
        )
        self._workspace = SamplingWorkspace()  # (B, V) buffers reused across steps and calls
        # per set of stop-string last characters: which ids can end a stop string
        self._stop_candidates_cache: dict[frozenset[str], torch.Tensor] = {}
        self.decode_backend = check_backend(decode_backend)
        self._graph = GraphDecoder(self) if decode_backend == "graph" else None

    # ------------------------------------------------------------------ public API

    @torch.inference_mode()
    def generate(
        self,
        prompts: Sequence[Sequence[Message]],
        params: SamplingParams,
        *,
        seeds: Sequence[int | None] | None = None,
        on_step: StepHook | None = None,
    ) -> list[SamplerOutput]:
        """Generate one response per chat prompt, in order (see the module docstring).

        ``seeds`` (one per prompt): a row with an int draws from its own stream seeded with
        it; None rows share the call's stream. ``on_step``: called after every decode step.
        """
        validate_sampling(params.temperature, params.top_k, params.top_p, params.top_j)
        if not prompts:
            return []
        if seeds is not None and len(seeds) != len(prompts):
            raise ValueError(f"{len(seeds)} seeds for {len(prompts)} prompts")
        generator = self._generator
        if params.seed is not None:
            generator = torch.Generator(device=self.device).manual_seed(params.seed)
        row_generators = (
            None
            if seeds is None
            else [None if s is None else torch.Generator(self.device).manual_seed(s) for s in seeds]
        )
        # One rendering path for sampling and for SFT, so both see the same prompt tokens.
        texts = [render_chat(self.tokenizer, messages) for messages in prompts]
        vision: list[VisionInputs | None] = [None] * len(prompts)
        if any(message_images(messages) for messages in prompts):
            prompt_ids, vision = self._encode_with_images(prompts)
        else:
            prompt_ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        in_think = [self._prompt_opens_think(t, params) for t in texts]

        was_training = bool(getattr(self.model, "training", False))
        self.model.eval()
        try:
            outputs: list[SamplerOutput] = []
            for start in range(0, len(prompts), self.max_batch_size):
                end = start + self.max_batch_size
                outputs += self._generate_chunk(
                    prompt_ids[start:end],
                    in_think[start:end],
                    params,
                    generator,
                    None if row_generators is None else row_generators[start:end],
                    None if on_step is None else _offset_hook(on_step, start),
                    vision[start:end],
                )
        finally:
            if was_training:
                self.model.train()
        return outputs

    # ------------------------------------------------------------------ setup helpers

    def _default_eos_ids(self) -> list[int]:
        ids: list[int] = []
        if self.tokenizer.eos_token_id is not None:
            ids.append(int(self.tokenizer.eos_token_id))
        gen_cfg = getattr(self.model, "generation_config", None)
        gen_eos = getattr(gen_cfg, "eos_token_id", None)
        if isinstance(gen_eos, int):
            ids.append(gen_eos)
        elif isinstance(gen_eos, list | tuple):
            ids += [int(i) for i in gen_eos]
        return ids

    def _encode_with_images(
        self, prompts: Sequence[Sequence[Message]]
    ) -> tuple[list[list[int]], list[VisionInputs | None]]:
        """Per prompt: its ids (placeholders expanded) and its pictures (None for text)."""
        encoded = [
            encode_chat_with_images(self.tokenizer, self.processor, messages)
            for messages in prompts
        ]
        return [ids for ids, _ in encoded], [v for _, v in encoded]

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    @staticmethod
    def _prompt_opens_think(prompt_text: str, params: SamplingParams) -> bool:
        """Templates like DeepSeek-R1's end the generation prompt inside ``<think>``."""
        return params.tti is not None and prompt_text.rstrip().endswith(params.tti.think_open)

    def _split_stops(self, stops: Sequence[str]) -> tuple[list[int], list[_TextStop]]:
        """Single-id stop strings are matched by id, the others on decoded text."""
        id_stops: list[int] = []
        text_stops: list[_TextStop] = []
        for s in stops:
            if not s:
                continue
            ids = self._encode(s)
            if len(ids) == 1:
                id_stops.append(ids[0])
            else:
                text_stops.append(_TextStop(s, window=len(s) + 1, last_char=s[-1]))
        return id_stops, text_stops

    def _stop_candidates(self, text_stops: Sequence[_TextStop]) -> torch.Tensor | None:
        """Bool ``(V,)``: ids whose token string holds a stop string's last character.

        Byte-level BPE and SentencePiece keep printable ASCII as is in token strings, so a
        token that does not contain ``>`` cannot end ``</action>``. None = check every id.
        """
        chars = frozenset(s.last_char for s in text_stops)
        if not all(c.isascii() and c.isprintable() and not c.isspace() for c in chars):
            return None
        if chars not in self._stop_candidates_cache:
            vocab_size = len(self.tokenizer)
            tokens = self.tokenizer.convert_ids_to_tokens(list(range(vocab_size)))
            mask = [any(c in (t or "") for c in chars) for t in tokens]
            self._stop_candidates_cache[chars] = torch.tensor(
                mask, dtype=torch.bool, device=self.device
            )
        return self._stop_candidates_cache[chars]

    def _new_cache(self) -> Any:
        from transformers import DynamicCache

        try:
            return DynamicCache(config=self.model.config)
        except TypeError:  # older transformers
            return DynamicCache()

    def _forward(
        self,
        ids: torch.Tensor,
        mask: torch.Tensor,
        pos: torch.Tensor,
        cache: Any,
        vision: VisionInputs | None = None,
    ) -> Any:
        kwargs: dict[str, Any] = {self._cache_kw: cache}
        if self._keep_kw is not None:
            kwargs[self._keep_kw] = 1
        if vision is not None:
            kwargs["pixel_values"] = vision.pixel_values.to(self.device)
            kwargs["image_grid_thw"] = vision.image_grid_thw.to(self.device)
        out = self.model(
            input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, **kwargs
        )
        return out.logits[:, -1, :]

    # ------------------------------------------------------------------ the decode loop

    def _generate_chunk(
        self,
        prompt_ids: list[list[int]],
        in_think: list[bool],
        params: SamplingParams,
        generator: torch.Generator,
        row_generators: list[torch.Generator | None] | None = None,
        on_step: Callable[[list[int | None]], None] | None = None,
        vision_rows: Sequence[VisionInputs | None] = (),
    ) -> list[SamplerOutput]:
        if self._graph is not None and not any(v is not None for v in vision_rows):
            return self._graph.generate_chunk(
                prompt_ids, in_think, params, generator, row_generators, on_step
            )
        dev, pad = self.device, self.pad_id
        b, t_max = len(prompt_ids), params.max_new_tokens
        vision = cat_vision(vision_rows)
        # The prompt prefix every row shares is run once (t2po.models.shared_prefix); the
        # rows' own tokens follow it, left-padded: [shared | pads | own tokens].
        shared = 0
        if self.share_prefix and vision is None and b > 1 and t_max > 0 and self._can_share:
            shared = shared_prefix_len(prompt_ids, min(len(ids) for ids in prompt_ids) - 1)
            shared = shared if shared >= MIN_SHARED_PREFIX else 0
        p_len = max(len(ids) for ids in prompt_ids) - shared
        input_B_P = torch.full((b, p_len), pad, dtype=torch.long)
        mask_B_P = torch.zeros((b, shared + p_len), dtype=torch.long)
        mask_B_P[:, :shared] = 1
        for i, ids in enumerate(prompt_ids):
            own = ids[shared:]
            input_B_P[i, p_len - len(own) :] = torch.tensor(own, dtype=torch.long)
            mask_B_P[i, shared + p_len - len(own) :] = 1
        input_B_P, mask_B_P = input_B_P.to(dev), mask_B_P.to(dev)
        if vision is None:
            # Each token's position counts the real tokens before it, pads skipped.
            pos_B_P = (mask_B_P.cumsum(-1) - 1).clamp_min(0)[:, shared:]
            last_pos_B = pos_B_P[:, -1]
        else:  # (3, B, P) M-RoPE positions; the prompt ends in text, equal in all three
            pos_B_P = mrope_position_ids(self.model, input_B_P, mask_B_P, vision)
            last_pos_B = pos_B_P[0, :, -1]

        tokens_B_T = torch.full((b, t_max), pad, dtype=torch.long, device=dev)
        logprobs_B_T = torch.zeros((b, t_max), dtype=torch.float32, device=dev)
        m_B_T = torch.zeros((b, t_max), dtype=torch.float32, device=dev)
        forced_B_T = torch.zeros((b, t_max), dtype=torch.bool, device=dev)
        finish_B = torch.full((b,), _FINISH_NONE, dtype=torch.long, device=dev)
        alive_B = torch.ones(b, dtype=torch.bool, device=dev)
        length_B = torch.zeros(b, dtype=torch.long, device=dev)
        n_out = 0

        running = RunningMinMax(b, params.alpha, device=dev)
        tti: TTIController | None = None
        if params.tti is not None and t_max > 0:
            tti = TTIController(
                params.tti,
                forced_ids=self._encode(params.tti.forced_text),
                think_open_ids=self._encode(params.tti.think_open),
                think_close_ids=self._encode(params.tti.think_close),
                batch_size=b,
                device=dev,
                in_think_B=torch.tensor(in_think, dtype=torch.bool),
            )
        id_stops, text_stops = self._split_stops(params.stop)
        end_ids = torch.tensor(self.eos_ids + id_stops, dtype=torch.long, device=dev)
        eos_ids = torch.tensor(self.eos_ids, dtype=torch.long, device=dev)
        candidates_V = self._stop_candidates(text_stops) if text_stops else None

        if shared:
            cache = prefix_cache(self.model, torch.tensor(prompt_ids[0][:shared], device=dev), b)
        else:
            cache = self._new_cache()
        rows = torch.arange(b, device=dev)  # original row of each row in the running batch
        mask_R_S = mask_B_P
        next_pos_R = last_pos_B + 1
        logits_R_V = (
            self._forward(input_B_P, mask_B_P, pos_B_P, cache, vision) if t_max > 0 else None
        )

        for t in range(t_max):
            assert logits_R_V is not None
            if row_generators is None:
                uniforms_B = torch.rand(b, generator=generator, device=dev)
            else:  # one draw per row from its own stream, as a call of that row alone would
                uniforms_B = torch.cat(
                    [torch.rand(1, generator=g or generator, device=dev) for g in row_generators]
                )
            choice = sample_step(
                logits_R_V,
                temperature=params.temperature,
                top_k=params.top_k,
                top_p=params.top_p,
                top_j=params.top_j,
                generator=generator,
                uniforms_B=uniforms_B[rows],
                workspace=self._workspace,
            )
            # Back to full width: finished rows carry pad and are ignored by the state.
            ids_B = _full_width(choice.token_ids_B, rows, b, pad)
            lp_B = _full_width(choice.logprobs_B, rows, b, 0.0)
            h_B = _full_width(choice.entropy_B, rows, b, 0.0)
            c_B = _full_width(choice.confidence_B, rows, b, 0.0)
            m_B = running.update(h_B, c_B, alive_B)
            if tti is not None:
                force_B, forced_id_B = tti.forced_tokens()
                force_B = force_B & alive_B
                ids_B = torch.where(force_B, forced_id_B, ids_B)
                lp_B = torch.where(force_B, 0.0, lp_B)  # probability 1 (method.md §3.2)
                forced_B_T[:, t] = force_B
                tti.observe(ids_B, m_B, alive_B)
            ids_B = torch.where(alive_B, ids_B, pad)
            tokens_B_T[:, t] = ids_B
            logprobs_B_T[:, t] = torch.where(alive_B, lp_B, 0.0)
            m_B_T[:, t] = m_B
            length_B = length_B + alive_B.long()
            n_out = t + 1
            if on_step is not None:
                alive = alive_B.tolist()
                on_step([i if a else None for i, a in zip(ids_B.tolist(), alive, strict=True)])

            ended_B = alive_B & torch.isin(ids_B, end_ids)
            eos_B = ended_B & torch.isin(ids_B, eos_ids)
            if text_stops:
                ended_B = ended_B | self._text_stop_hits(
                    tokens_B_T[:, : t + 1], ids_B, alive_B & ~ended_B, text_stops, candidates_V
                )
            finish_B = torch.where(ended_B, _FINISH_STOP, finish_B)
            finish_B = torch.where(eos_B, _FINISH_EOS, finish_B)
            alive_B = alive_B & ~ended_B
            if t == t_max - 1 or not bool(alive_B.any()):
                break

            alive_R = alive_B[rows]
            n_alive = int(alive_R.sum())
            if self.compact and n_alive <= len(rows) // 2:
                keep_R = alive_R.nonzero().squeeze(-1)
                cache.batch_select_indices(keep_R)
                rows, mask_R_S, next_pos_R = rows[keep_R], mask_R_S[keep_R], next_pos_R[keep_R]
            step_ids_R = ids_B[rows].unsqueeze(-1)
            mask_R_S = torch.cat([mask_R_S, torch.ones_like(mask_R_S[:, :1])], dim=-1)
            logits_R_V = self._forward(step_ids_R, mask_R_S, next_pos_R.unsqueeze(-1), cache)
            next_pos_R = next_pos_R + 1

        fired_at: list[int | None] = tti.fired_at() if tti is not None else [None] * b
        return self._collect(
            prompt_ids,
            tokens_B_T[:, :n_out].tolist(),
            logprobs_B_T[:, :n_out].tolist(),
            m_B_T[:, :n_out].tolist(),
            forced_B_T[:, :n_out].tolist(),
            length_B.tolist(),
            finish_B.tolist(),
            fired_at,
        )

    def _text_stop_hits(
        self,
        tokens_B_t: torch.Tensor,
        ids_B: torch.Tensor,
        check_B: torch.Tensor,
        text_stops: Sequence[_TextStop],
        candidates_V: torch.Tensor | None,
    ) -> torch.Tensor:
        """Bool ``(B,)``: rows whose decoded tail now contains a text stop string."""
        if candidates_V is not None:
            check_B = check_B & candidates_V[ids_B.clamp(0, len(candidates_V) - 1)]
        hits_B = torch.zeros_like(check_B)
        rows = check_B.nonzero().squeeze(-1).tolist()
        if not rows:
            return hits_B
        window = max(s.window for s in text_stops)
        tails = tokens_B_t[rows, -window:].tolist()
        for row, text in zip(rows, self.tokenizer.batch_decode(tails), strict=True):
            if any(s.text in text for s in text_stops):
                hits_B[row] = True
        return hits_B

    def _collect(
        self,
        prompt_ids: list[list[int]],
        tokens: list[list[int]],
        logprobs: list[list[float]],
        uncertainty: list[list[float]],
        forced: list[list[bool]],
        lengths: list[int],
        finish: list[int],
        fired_at: list[int | None],
    ) -> list[SamplerOutput]:
        outputs = []
        for i, prompt in enumerate(prompt_ids):
            n = lengths[i]
            ids = tokens[i][:n]
            text_ids = ids[:-1] if finish[i] == _FINISH_EOS else ids
            fired = fired_at[i]
            outputs.append(
                SamplerOutput(
                    text=self.tokenizer.decode(text_ids, skip_special_tokens=False),
                    prompt_token_ids=list(prompt),
                    token_ids=ids,
                    logprobs=logprobs[i][:n],
                    uncertainty=uncertainty[i][:n],
                    forced_mask=forced[i][:n],
                    tti_fired_at=fired if fired is not None and fired < n else None,
                    finish_reason=_FINISH_REASONS[finish[i]],
                )
            )
        return outputs


def _offset_hook(on_step: StepHook, first_row: int) -> Callable[[list[int | None]], None]:
    return lambda tokens: on_step(first_row, tokens)


def _full_width(
    values_R: torch.Tensor, rows_R: torch.Tensor, width: int, fill: float | int
) -> torch.Tensor:
    """Scatter the running batch's values back to all ``width`` rows (``fill`` elsewhere)."""
    if len(rows_R) == width:  # nothing dropped yet: rows_R is arange(width)
        return values_R
    out_B = torch.full((width,), fill, dtype=values_R.dtype, device=values_R.device)
    out_B[rows_R] = values_R
    return out_B


_FINISH_REASONS = {
    _FINISH_NONE: FinishReason.length,
    _FINISH_STOP: FinishReason.stop,
    _FINISH_EOS: FinishReason.eos,
}
