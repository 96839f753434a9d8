"""The model behind ``t2po serve model``: requests to sampler jobs, outputs to OpenAI replies.

No HTTP here (that is ``model_server``): :class:`ModelService` checks a validated request
against the model (its name, its context, the token budget), turns it into a
:class:`~t2po.serve.batcher.Job` for the dynamic batcher, and shapes the outputs as the
OpenAI API does (``choices``, ``usage``, ``logprobs``, ``finish_reason``).

Choices, and why:

- **Context.** A prompt whose tokens plus ``max_tokens`` exceed the model's context
  (``max_position_embeddings``) is refused with ``context_length_exceeded`` before any
  decoding; a body too long to possibly fit is refused before it is even tokenized (its
  UTF-8 size divided by the longest token's), so a 1 MB prompt costs milliseconds.
- **Seeds.** ``seed`` seeds the first choice's row exactly as a direct
  ``HFSampler.generate`` call with that seed would; choice ``i > 0`` uses a seed derived from
  it. Rows keep their own streams inside a batch, so the reply does not depend on what else
  was decoded with it.
- **Log-probs** are the sampler's: ``log π_T`` after temperature, before top-k/top-p (the
  distribution ``M_t`` describes). ``top_logprobs`` come from one teacher-forced forward
  pass over prompt and completion, run by the batcher's worker after the decode.
- **Pictures.** A vision-language model (a sampler with a processor: a Qwen2-VL /
  Qwen2.5-VL folder, ``tiny-vl``) reads ``image_url`` parts of user messages given as data
  URLs (:mod:`t2po.serve.image_parts`); each message becomes its text then its pictures, in
  order, the layout the rollout engine prompts with and the template writes, so a message
  whose parts put a picture before the text is read text first. The processor counts the
  pictures' tokens for the context check and ``usage``. A text model refuses pictures
  with a 400 rather than silently dropping what the client sent; so does ``top_logprobs``
  with pictures (its extra forward pass reads token ids only).
- **TTI** is off unless the request asks (``t2po: {"tti": true}``): a client asked for
  sampling, not for an intervention. With it, each choice reports where TTI fired.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from t2po.config import RolloutConfig
from t2po.exploration.tti import TTIParams
from t2po.inference.base import Sampler, SamplingParams
from t2po.inference.chat import encode_chat_with_images, render_chat
from t2po.rollout.engine import derive_seed
from t2po.serve.batcher import DynamicBatcher, Job
from t2po.serve.image_parts import decode_image_url
from t2po.serve.openai_api import ChatCompletionRequest, RequestError
from t2po.types import FinishReason, Message, SamplerOutput

DEFAULT_MAX_TOKENS = 256


@dataclass
class Prepared:
    """A validated request, ready to become a job."""

    request: ChatCompletionRequest
    messages: list[Message]
    params: SamplingParams  # seed None: seeds are per row
    seeds: list[int | None]
    prompt_tokens: int


@dataclass
class ModelService:
    """One model behind the API: its name, sampler, limits and batching settings."""

    name: str
    sampler: Sampler
    api_key: str | None = None  # None: no authentication
    max_new_tokens_cap: int = 4096
    rollout: RolloutConfig = field(default_factory=RolloutConfig)  # M_t's alpha and top_j
    tti: TTIParams | None = None  # TTI settings for requests that opt in (None: default)
    max_batch_rows: int = 32
    batch_wait_s: float = 0.005

    def __post_init__(self) -> None:
        self.created = int(time.time())
        tokenizer = getattr(self.sampler, "tokenizer", None)
        model = getattr(self.sampler, "model", None)
        # A private copy: a fast tokenizer must not be called from two threads at once, and
        # the batcher's worker uses the sampler's own.
        self._tokenizer = None if tokenizer is None else _copy(tokenizer)
        processor = getattr(self.sampler, "processor", None)
        # Likewise: the processor holds a tokenizer of its own, which the worker uses too.
        self._processor = None if processor is None else _copy(processor)
        self._tokenizer_lock = threading.Lock()
        config = getattr(model, "config", None)
        self.context = getattr(config, "max_position_embeddings", None)
        self._longest_token = _longest_token_bytes(self._tokenizer)
        self._batcher: DynamicBatcher | None = None
        self._batcher_lock = threading.Lock()

    # ------------------------------------------------------------------ batching

    @property
    def batcher(self) -> DynamicBatcher:
        """The running batcher (started on first use, again after :meth:`stop`)."""
        with self._batcher_lock:
            if self._batcher is None:
                self._batcher = DynamicBatcher(
                    self.sampler, max_rows=self.max_batch_rows, wait_s=self.batch_wait_s
                )
            return self._batcher

    def stop(self, grace_s: float = 10.0) -> None:
        """Finish queued requests (up to ``grace_s``), cancel the rest, stop the worker."""
        with self._batcher_lock:
            batcher, self._batcher = self._batcher, None
        if batcher is not None:
            batcher.close(grace_s)

    @property
    def reads_images(self) -> bool:
        """Whether the served model takes pictures (a vision-language model's processor)."""
        return self._processor is not None

    # ------------------------------------------------------------------ models

    def model_card(self) -> dict[str, Any]:
        card: dict[str, Any] = {
            "id": self.name,
            "object": "model",
            "created": self.created,
            "owned_by": "t2po",
        }
        if self.context is not None:
            card["context_length"] = self.context
        return card

    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [self.model_card()]}

    # ------------------------------------------------------------------ requests

    def prepare(self, request: ChatCompletionRequest) -> Prepared:
        """Check ``request`` against this model; raises :class:`RequestError` (4xx)."""
        if request.model not in (None, self.name):
            raise RequestError(
                f"model {request.model!r} is not served here; this server has {self.name!r}",
                status=404,
                code="model_not_found",
                param="model",
            )
        if request.has_images():
            self._check_pictures(request)
        messages, params = request_sampling(
            request, self.max_new_tokens_cap, self.rollout, self.tti
        )
        prompt_tokens = self._count_prompt_tokens(messages, params.max_new_tokens)
        seed = request.seed
        seeds: list[int | None] = [
            None if seed is None else seed if i == 0 else derive_seed(seed, "choice", i)
            for i in range(request.n)
        ]
        return Prepared(request, messages, params, seeds, prompt_tokens)

    def _check_pictures(self, request: ChatCompletionRequest) -> None:
        if not self.reads_images:
            raise RequestError(
                f"{self.name!r} reads text only (a text model, no image processor), got an "
                "image_url part: send text content, or serve a vision-language model "
                "(a Qwen2-VL / Qwen2.5-VL folder, tiny-vl)",
                param="messages",
            )
        if request.logprobs and request.top_logprobs:
            raise RequestError(
                "top_logprobs: not supported for prompts with pictures; logprobs=true alone is",
                param="top_logprobs",
            )

    def _count_prompt_tokens(self, messages: list[Message], max_new: int) -> int:
        """Prompt length in tokens; refuses prompts that cannot fit the context."""
        if self._tokenizer is None:
            return 0
        room = None if self.context is None else self.context - max_new
        if room is not None and self._longest_token:
            size = sum(len(str(m["content"]).encode()) for m in messages)
            if size // self._longest_token > room:  # more tokens than fit, whatever the text
                raise _too_long(f"at least {size // self._longest_token}", max_new, self.context)
        pictures = any(m.get("images") for m in messages)
        try:
            with self._tokenizer_lock:
                if pictures:  # the processor expands each picture into its patch tokens
                    ids, _ = encode_chat_with_images(self._tokenizer, self._processor, messages)
                    n = len(ids)
                else:
                    text = render_chat(self._tokenizer, messages)
                    n = len(self._tokenizer(text, add_special_tokens=False)["input_ids"])
        except Exception as exc:  # noqa: BLE001 - the template or processor refused them
            what = "processor cannot encode" if pictures else "chat template cannot render"
            raise RequestError(
                f"the model's {what} these messages: {exc}", param="messages"
            ) from None
        if room is not None and n > room:
            raise _too_long(str(n), max_new, self.context)
        return n

    def job(self, prepared: Prepared, on_token: Any = None) -> Job:
        request = prepared.request
        k = (request.top_logprobs or 0) if request.logprobs else 0
        after = None
        if k > 0:
            temperature = request.temperature or 1.0

            def after(outputs: list[SamplerOutput]) -> Any:
                return outputs, top_logprobs(self.sampler, outputs, k, temperature)

        return Job(
            prompts=[prepared.messages] * request.n,
            params=prepared.params,
            seeds=list(prepared.seeds),
            on_token=on_token,
            after=after,
        )

    def chat_completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """Answer one ``/v1/chat/completions`` body synchronously (through the batcher)."""
        from pydantic import ValidationError

        from t2po.serve.openai_api import validation_message

        try:
            request = ChatCompletionRequest.model_validate(body)
        except ValidationError as exc:
            raise RequestError(validation_message(exc.errors())[0]) from None
        if request.stream:
            raise RequestError("stream=true needs the HTTP server; use stream=false here")
        prepared = self.prepare(request)
        result = self.batcher.submit(self.job(prepared)).result()
        return self.reply(prepared, result)

    # ------------------------------------------------------------------ replies

    def reply(self, prepared: Prepared, result: Any) -> dict[str, Any]:
        """The chat-completion object for a finished job's result."""
        outputs, tops = result if isinstance(result, tuple) else (result, None)
        request = prepared.request
        choices = []
        for i, out in enumerate(outputs):
            text = cut_at_stop(out.text, prepared.params.stop)
            choice: dict[str, Any] = {
                "index": i,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason(out, text),
                "logprobs": None,
            }
            if request.logprobs:
                choice["logprobs"] = {
                    "content": self._logprob_items(out, text, None if tops is None else tops[i]),
                    "refusal": None,
                }
            if request.t2po is not None:
                choice["t2po"] = t2po_report(out, prepared.params.tti is not None)
            choices.append(choice)
        completion = sum(len(out.token_ids) for out in outputs)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.name,
            "choices": choices,
            "usage": usage(prepared.prompt_tokens or _prompt_len(outputs), completion),
        }

    def _logprob_items(
        self, out: SamplerOutput, text: str, tops: list[list[tuple[int, float]]] | None
    ) -> list[dict[str, Any]]:
        tokenizer = getattr(self.sampler, "tokenizer", None)
        if tokenizer is None:
            return []
        n = content_token_count(tokenizer, out.token_ids, text)
        items = []
        for t in range(n):
            item = _token_item(tokenizer, out.token_ids[t], out.logprobs[t])
            item["top_logprobs"] = (
                [] if tops is None else [_token_item(tokenizer, i, lp) for i, lp in tops[t]]
            )
            items.append(item)
        return items


# ---------------------------------------------------------------------- helpers


def request_sampling(
    request: ChatCompletionRequest,
    max_new_tokens_cap: int,
    rollout: RolloutConfig,
    tti: TTIParams | None = None,
) -> tuple[list[Message], SamplingParams]:
    """The messages and sampling settings of a validated request (``seed`` left None: it is
    per row). ``alpha``/``top_j`` come from ``rollout``; ``tti`` is used when the request
    opts in (None: the ``tti`` section's defaults)."""
    max_new = request.token_limit(min(DEFAULT_MAX_TOKENS, max_new_tokens_cap))
    if max_new > max_new_tokens_cap:
        raise RequestError(
            f"max_tokens must be in [1, {max_new_tokens_cap}], got {max_new}",
            param="max_tokens",
        )
    tti_on = request.t2po is not None and request.t2po.tti
    if tti_on and tti is None:
        from t2po.config import TTIConfig
        from t2po.settings import tti_params

        tti = tti_params(TTIConfig())
    messages: list[Message] = []
    for m in request.messages:
        message: Message = {"role": m.role, "content": m.text()}
        if urls := m.image_urls():
            message["images"] = [decode_image_url(url) for url in urls]
        messages.append(message)
    params = SamplingParams(
        temperature=request.temperature,
        top_p=request.top_p,
        top_k=request.top_k,
        max_new_tokens=max_new,
        alpha=rollout.alpha,
        top_j=rollout.top_j,
        stop=request.stops(),
        tti=tti if tti_on else None,
        seed=None,
    )
    return messages, params


def _copy(tokenizer: Any) -> Any:
    import copy

    return copy.deepcopy(tokenizer)


def _longest_token_bytes(tokenizer: Any) -> int:
    """Bytes of the longest token string: a text of S bytes has at least S/this tokens."""
    if tokenizer is None:
        return 0
    try:
        tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    except Exception:  # noqa: BLE001 - an unusual tokenizer: no quick bound, tokenize instead
        return 0
    # Byte-level BPE shows a byte as one character; 4 bytes per character is the safe bound.
    return max((4 * len(t) for t in tokens if t), default=0)


def _too_long(tokens: str, max_new: int, context: int | None) -> RequestError:
    return RequestError(
        f"this model's context is {context} tokens; the prompt has {tokens} tokens and "
        f"max_tokens asks for {max_new} more. Shorten the messages or lower max_tokens.",
        code="context_length_exceeded",
        param="messages",
    )


def _prompt_len(outputs: Sequence[SamplerOutput]) -> int:
    return len(outputs[0].prompt_token_ids) if outputs else 0


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """OpenAI leaves the stop string (and what follows) out of the returned text."""
    cut = [text.find(s) for s in stops if s and s in text]
    return text[: min(cut)] if cut else text


def finish_reason(out: SamplerOutput, text: str) -> str:
    """``stop`` when the text ended at a stop string or EOS, ``length`` at ``max_tokens``.

    ``text`` is the returned (cut) text: the sampler matches a one-token stop string by id,
    so it can run past one spelled inside a longer token, which the cut still finds.
    """
    cut = len(text) < len(out.text)
    return "length" if out.finish_reason == FinishReason.length and not cut else "stop"


def t2po_report(out: SamplerOutput, tti_on: bool) -> dict[str, Any]:
    """Where TTI fired (token index in the completion) and how many tokens it forced."""
    return {
        "tti": tti_on,
        "tti_fired_at": out.tti_fired_at,
        "forced_tokens": sum(out.forced_mask),
    }


def content_token_count(tokenizer: Any, token_ids: Sequence[int], text: str) -> int:
    """How many leading tokens spell ``text`` (the returned content, stop string cut off)."""
    lo, hi = 0, len(token_ids)
    while lo < hi:  # the shortest prefix whose decoded length reaches len(text)
        mid = (lo + hi) // 2
        if len(tokenizer.decode(list(token_ids[:mid]), skip_special_tokens=False)) >= len(text):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _token_item(tokenizer: Any, token_id: int, logprob: float) -> dict[str, Any]:
    token = tokenizer.decode([token_id], skip_special_tokens=False)
    return {"token": token, "logprob": float(logprob), "bytes": list(token.encode("utf-8"))}


def top_logprobs(
    sampler: Sampler, outputs: Sequence[SamplerOutput], k: int, temperature: float
) -> list[list[list[tuple[int, float]]]]:
    """Per output, per completion token: the ``k`` most likely ``(id, log π_T)`` there.

    One teacher-forced forward pass over prompt + completion per output, in the worker
    thread that owns the model.
    """
    import torch

    model = getattr(sampler, "model", None)
    if model is None:
        return [[[] for _ in out.token_ids] for out in outputs]
    device = next(model.parameters()).device
    result: list[list[list[tuple[int, float]]]] = []
    with torch.inference_mode():
        for out in outputs:
            if not out.token_ids:
                result.append([])
                continue
            ids = torch.tensor([out.prompt_token_ids + out.token_ids], device=device)
            logits = model(input_ids=ids).logits[0, len(out.prompt_token_ids) - 1 : -1]
            logprobs = torch.log_softmax(logits.float() / temperature, dim=-1)
            top = torch.topk(logprobs, min(k, logprobs.shape[-1]), dim=-1)
            result.append(
                [
                    list(zip(i, v, strict=True))
                    for i, v in zip(top.indices.tolist(), top.values.tolist(), strict=True)
                ]
            )
    return result
