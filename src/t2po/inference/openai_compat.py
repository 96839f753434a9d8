"""``OpenAICompatSampler``: any OpenAI-compatible chat-completions endpoint as a sampler.

Used to evaluate commercial models, vLLM / llama.cpp servers and our own ``t2po serve
model`` as agents on the same tasks. It speaks through the official ``openai`` SDK (extra
``api``) with the SDK's own retries switched off (``max_retries=0``), because the policy
here is ours and visible: up to ``retries`` retries after 408, 409, 429, 5xx, timeouts and
connection errors, waiting ``Retry-After`` (or ``retry-after-ms``) when the server sends
it and otherwise an exponential delay with full jitter, as in openai-python's client and
the AWS "exponential backoff and jitter" note. Other HTTP errors (400, 401, 404, ...) are
the user's to fix and fail at once. A request that still fails raises :class:`ApiError`;
the caller (``t2po eval``) keeps what was finished and can resume.

What remote models do not give (method.md §2–4): per-token distributions. So a response's
``token_ids``, ``logprobs``, ``uncertainty`` and ``forced_mask`` are empty lists (the
per-token length ``T`` is 0, meaning "not available", not "no tokens"), Φ is 0, TTI cannot
run (a ``SamplingParams.tti`` is an error) and TDS has nothing to act on. Token counts come
from the endpoint's ``usage`` instead, summed with their cost in :meth:`usage`.

The API key is read from the environment variable named in the settings, handed to the SDK
client and kept nowhere else: not in the settings, not in errors, not in any output.

Stop strings: servers drop the stop string from the returned text. ``</action>`` closes
the answer the rollout parser needs, so a stop string that closes an opened tag (``</x>``
after an unclosed ``<x>``) is appended again when the server reports ``finish_reason
== "stop"``. Text past a stop string (a server that ignored ``stop``) is cut.
"""

from __future__ import annotations

import base64
import io
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import Any

from t2po.inference.base import SamplingParams
from t2po.types import FinishReason, Message, SamplerOutput

_RETRY_STATUSES = frozenset({408, 409, 429})  # plus every 5xx
_MAX_STOPS = 4  # the OpenAI API accepts at most four stop strings


class ApiError(RuntimeError):
    """A request to the endpoint failed for good (after retries, or a non-retryable error)."""


@dataclass(frozen=True)
class Price:
    """USD per one million tokens."""

    input: float
    output: float


@dataclass(frozen=True, kw_only=True)
class ApiSettings:
    """How to reach the endpoint and how hard to try, built by ``t2po.settings.api_settings``
    from the ``api`` section (see ``ApiConfig`` for each field and its default: none here)."""

    base_url: str
    model: str
    api_key_env: str
    max_concurrency: int
    timeout: float
    retries: int
    backoff_base: float
    backoff_max: float
    max_retry_after: float
    token_limit_param: str
    send_top_k: bool
    send_seed: bool
    extra_body: Mapping[str, Any]
    prices: Mapping[str, Mapping[str, float]]

    def price(self) -> Price | None:
        """This model's price from the table, or None when it is not listed."""
        entry = self.prices.get(self.model)
        if entry is None:
            return None
        try:
            return Price(input=float(entry["input"]), output=float(entry["output"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"api.prices[{self.model!r}] must look like {{input: USD/1M, output: USD/1M}}, "
                f"got {entry!r}"
            ) from exc


@dataclass(frozen=True)
class ApiUsage:
    """What a sampler has spent so far (monotone counters; subtract two to get a delta)."""

    requests: int = 0  # successful requests
    retries: int = 0  # failed attempts that were retried
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0  # None: the model has no entry in the price table

    def __sub__(self, other: ApiUsage) -> ApiUsage:
        cost = (
            None
            if self.cost_usd is None or other.cost_usd is None
            else self.cost_usd - other.cost_usd
        )
        return ApiUsage(
            requests=self.requests - other.requests,
            retries=self.retries - other.retries,
            prompt_tokens=self.prompt_tokens - other.prompt_tokens,
            completion_tokens=self.completion_tokens - other.completion_tokens,
            cost_usd=cost,
        )


def read_api_key(env_name: str) -> str:
    """The key from ``env_name``; '' (no variable named) gives a placeholder for local servers."""
    if not env_name:
        return "not-needed"  # the SDK refuses an empty key; servers without auth ignore it
    key = os.environ.get(env_name, "")
    if not key:
        raise ValueError(
            f"environment variable {env_name} is not set: export {env_name}=<your key> "
            "(api.api_key_env names the variable; api.api_key_env='' sends no key)"
        )
    return key


def _import_openai() -> Any:
    try:
        import openai
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError('the API sampler needs the openai SDK: pip install -e ".[api]"') from exc
    return openai


def retry_after_seconds(
    headers: Mapping[str, str] | None, now: float | None = None
) -> float | None:
    """Seconds the server asked to wait (``retry-after-ms``, ``retry-after`` seconds or date)."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)] (``attempt`` 0 = first retry)."""
    return rng.uniform(0.0, min(cap, base * (2.0**attempt)))


def image_data_url(image: Any) -> str:
    """An RGB uint8 array (H, W, 3), PNG/JPEG bytes, or a data URL as a ``data:`` URL."""
    if isinstance(image, str):
        if not image.startswith("data:"):
            raise ValueError("an image given as text must already be a data: URL")
        return image
    if isinstance(image, bytes | bytearray):
        mime = "image/jpeg" if bytes(image[:3]) == b"\xff\xd8\xff" else "image/png"
        return f"data:{mime};base64,{base64.b64encode(bytes(image)).decode('ascii')}"
    from PIL import Image  # pillow comes with matplotlib, a core dependency

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def to_openai_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Chat messages in the API's shape; a message with pictures (``"images"``, oldest first,
    as the rollout engine attaches them; or one ``"image"``) becomes text + one ``image_url``
    content part per picture."""
    out: list[dict[str, Any]] = []
    for message in messages:
        entries: dict[str, Any] = dict(message)
        images = list(entries.get("images") or [])
        if entries.get("image") is not None:
            images.append(entries["image"])
        if not images:
            out.append({"role": message["role"], "content": message["content"]})
            continue
        parts: list[dict[str, Any]] = [{"type": "text", "text": message["content"]}]
        parts += [
            {"type": "image_url", "image_url": {"url": image_data_url(image)}} for image in images
        ]
        out.append({"role": message["role"], "content": parts})
    return out


def restore_stop(text: str, stops: Sequence[str], server_stopped: bool) -> tuple[str, bool]:
    """Cut text after the first stop string; re-append a closing stop the server dropped.

    Returns ``(text, ended_on_stop)``.
    """
    cut = min(
        ((text.find(s), s) for s in stops if s and s in text), default=None, key=lambda x: x[0]
    )
    if cut is not None:
        return text[: cut[0] + len(cut[1])], True
    if server_stopped:
        for stop in stops:
            if stop.startswith("</") and stop.endswith(">"):
                opener = "<" + stop[2:]
                if text.rfind(opener) > text.rfind(stop):
                    return text + stop, True
    return text, False


class OpenAICompatSampler:
    """Implements :class:`t2po.inference.base.Sampler` over an OpenAI-compatible endpoint."""

    provides_token_signals = False  # no logprobs, M_t, TTI or TDS for remote models

    def __init__(
        self,
        settings: ApiSettings,
        *,
        sleep: Callable[[float], None] | None = None,
        jitter_seed: int | None = None,
    ) -> None:
        """
        Args:
            settings: endpoint, model, limits and price table.
            sleep: waits between retries (tests pass a recorder); default: interruptible wait.
            jitter_seed: seeds the backoff jitter (tests); default: the OS.
        """
        openai = _import_openai()
        self.settings = settings
        self._price = settings.price()
        self._errors = openai
        self._client = openai.OpenAI(
            base_url=settings.base_url,
            api_key=read_api_key(settings.api_key_env),
            timeout=settings.timeout,
            max_retries=0,  # retries are ours (module docstring)
        )
        self._sleep = sleep
        self._rng = random.Random(jitter_seed)
        self._lock = threading.Lock()
        self._usage = ApiUsage(cost_usd=None if self._price is None else 0.0)

    # ------------------------------------------------------------------ public API

    def generate(
        self, prompts: Sequence[Sequence[Message]], params: SamplingParams
    ) -> list[SamplerOutput]:
        """One request per prompt, at most ``max_concurrency`` at once; results in order."""
        if params.tti is not None:
            raise ValueError(
                "TTI needs the model's per-token distributions, which remote APIs do not give; "
                "set tti.enabled_in_eval=false (t2po eval does this for model.sampler=api)"
            )
        if not prompts:
            return []
        cancel = threading.Event()
        workers = min(self.settings.max_concurrency, len(prompts))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="t2po-api") as pool:
            futures = [
                pool.submit(self._complete, messages, params, i, cancel)
                for i, messages in enumerate(prompts)
            ]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in done if f.exception() is not None), None)
            if failed is not None:
                cancel.set()  # stop the others' retry loops; in-flight requests finish
                for future in futures:
                    future.cancel()
                raise failed.exception()  # type: ignore[misc]
        return [f.result() for f in futures]

    def usage(self) -> ApiUsage:
        """Requests, retries, tokens and cost so far (a snapshot)."""
        with self._lock:
            return self._usage

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------ one request

    def _request_body(self, params: SamplingParams, index: int) -> dict[str, Any]:
        s = self.settings
        body: dict[str, Any] = {
            "temperature": params.temperature,
            "top_p": params.top_p,
            s.token_limit_param: params.max_new_tokens,
        }
        stops = [x for x in params.stop if x][:_MAX_STOPS]
        if stops:
            body["stop"] = stops
        if s.send_seed and params.seed is not None:
            body["seed"] = (params.seed * 1_000_003 + index) % 2**31
        extra = dict(s.extra_body)
        if s.send_top_k and params.top_k > 0:
            extra["top_k"] = params.top_k
        if extra:
            body["extra_body"] = extra
        return body

    def _complete(
        self,
        messages: Sequence[Message],
        params: SamplingParams,
        index: int,
        cancel: threading.Event,
    ) -> SamplerOutput:
        body = self._request_body(params, index)
        api_messages = to_openai_messages(messages)
        attempt = 0
        while True:
            if cancel.is_set():
                raise ApiError("cancelled: another request of the same batch failed")
            try:
                response = self._client.chat.completions.create(
                    model=self.settings.model, messages=api_messages, **body
                )
                break
            except self._errors.APIError as exc:
                delay = self._retry_delay(exc, attempt)
                if delay is None:
                    raise ApiError(self._describe(exc, attempt)) from None
            self._count(retries=1)
            attempt += 1
            if self._sleep is not None:
                self._sleep(delay)
            elif cancel.wait(delay):
                raise ApiError("cancelled: another request of the same batch failed")
        return self._output(response, params)

    def _retry_delay(self, exc: Exception, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None to give up."""
        errors = self._errors
        if isinstance(exc, errors.APIStatusError):
            status = exc.status_code
            if status not in _RETRY_STATUSES and status < 500:
                return None
            asked = retry_after_seconds(exc.response.headers)
        elif isinstance(exc, errors.APIConnectionError):  # includes APITimeoutError
            asked = None
        else:
            return None
        if attempt >= self.settings.retries:
            return None
        if asked is not None:
            return asked if asked <= self.settings.max_retry_after else None
        s = self.settings
        with self._lock:
            return backoff_delay(attempt, s.backoff_base, s.backoff_max, self._rng)

    def _describe(self, exc: Exception, attempt: int) -> str:
        where = f"{self.settings.base_url} (model {self.settings.model!r})"
        tries = f" after {attempt + 1} attempt(s)" if attempt else ""
        errors = self._errors
        if isinstance(exc, errors.APIStatusError):
            body = exc.body.get("error", exc.body) if isinstance(exc.body, dict) else None
            detail = body.get("message") if isinstance(body, dict) else None
            detail = str(detail or exc.message)
            hint = {
                401: "check the key in the variable named by api.api_key_env",
                403: "the key may lack access to this model",
                404: "check api.base_url (usually ends in /v1) and api.model",
            }.get(exc.status_code, "")
            asked = retry_after_seconds(exc.response.headers)
            if asked is not None and asked > self.settings.max_retry_after:
                hint = f"the server asked to wait {asked:.0f}s (> api.max_retry_after)"
            return f"{where} answered HTTP {exc.status_code}{tries}: {detail}" + (
                f" ({hint})" if hint else ""
            )
        if isinstance(exc, errors.APITimeoutError):
            return f"{where} did not answer within {self.settings.timeout}s{tries} (api.timeout)"
        if isinstance(exc, errors.APIConnectionError):
            return f"{where} is unreachable{tries}: {exc}"
        return f"{where} sent a response the SDK could not read{tries}: {exc}"

    def _count(self, **deltas: Any) -> None:
        with self._lock:
            u = self._usage
            cost = deltas.get("cost_usd", 0.0)
            self._usage = replace(
                u,
                requests=u.requests + deltas.get("requests", 0),
                retries=u.retries + deltas.get("retries", 0),
                prompt_tokens=u.prompt_tokens + deltas.get("prompt_tokens", 0),
                completion_tokens=u.completion_tokens + deltas.get("completion_tokens", 0),
                cost_usd=None if u.cost_usd is None or cost is None else u.cost_usd + cost,
            )

    def _output(self, response: Any, params: SamplingParams) -> SamplerOutput:
        if not response.choices:
            raise ApiError(f"{self.settings.base_url} returned no choices")
        choice = response.choices[0]
        usage = response.usage
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        cost = (
            None
            if self._price is None
            else (prompt_tokens * self._price.input + completion_tokens * self._price.output) / 1e6
        )
        self._count(
            requests=1,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost,
        )
        text, on_stop = restore_stop(
            choice.message.content or "", params.stop, choice.finish_reason == "stop"
        )
        if on_stop:
            finish = FinishReason.stop
        elif choice.finish_reason == "length":
            finish = FinishReason.length
        else:
            finish = FinishReason.eos
        # Per-token fields are empty: not available from a remote model (module docstring).
        return SamplerOutput(
            text=text,
            prompt_token_ids=[],
            token_ids=[],
            logprobs=[],
            uncertainty=[],
            forced_mask=[],
            tti_fired_at=None,
            finish_reason=finish,
        )
