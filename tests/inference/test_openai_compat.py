"""The API sampler against a scripted OpenAI-compatible server (real SDK, real HTTP)."""

from __future__ import annotations

import base64
import io
import random
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import numpy as np
import pytest
from conftest import Fault, ScriptedOpenAI, default_api, default_sampling, default_tti
from PIL import Image

from t2po.inference.openai_compat import (
    ApiError,
    OpenAICompatSampler,
    backoff_delay,
    restore_stop,
    retry_after_seconds,
    to_openai_messages,
)
from t2po.types import FinishReason

PROMPT = [{"role": "system", "content": "play"}, {"role": "user", "content": "grid"}]
KEY_ENV = "T2PO_TEST_API_KEY"


def _sampler(
    server: ScriptedOpenAI, sleeps: list[float] | None = None, **kw
) -> OpenAICompatSampler:
    settings = default_api(
        base_url=server.url,
        model="scripted",
        api_key_env=kw.pop("api_key_env", ""),
        timeout=kw.pop("timeout", 5.0),
        backoff_base=kw.pop("backoff_base", 0.01),
        **kw,
    )
    record = None if sleeps is None else sleeps.append
    return OpenAICompatSampler(settings, sleep=record, jitter_seed=0)


def test_retry_after_forms() -> None:
    assert retry_after_seconds({"Retry-After": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    now = datetime(2026, 1, 1, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds({"Retry-After": date}, now=now.timestamp()) == pytest.approx(30)
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_backoff_is_capped_full_jitter() -> None:
    rng = random.Random(0)
    delays = [backoff_delay(a, base=1.0, cap=5.0, rng=rng) for a in range(10) for _ in range(50)]
    assert all(0.0 <= d <= 5.0 for d in delays)
    first = [backoff_delay(0, 1.0, 5.0, rng) for _ in range(200)]
    assert max(first) <= 1.0 and min(first) < 0.5  # jitter spreads the first retry over [0, 1]


def test_restore_stop() -> None:
    stops = ("</action>",)
    assert restore_stop("<action>up", stops, True) == ("<action>up</action>", True)
    assert restore_stop("<action>up</action> extra", stops, True) == ("<action>up</action>", True)
    # A natural end (no open tag) is not a stop; nor is a length cut.
    assert restore_stop("no tags", stops, True) == ("no tags", False)
    assert restore_stop("<action>up", stops, False) == ("<action>up", False)


def test_image_becomes_data_url() -> None:
    pixels = np.zeros((4, 5, 3), dtype=np.uint8)
    pixels[1, 2] = (255, 0, 0)
    (msg,) = to_openai_messages([{"role": "user", "content": "look", "image": pixels}])  # type: ignore[typeddict-unknown-key]
    text, image = msg["content"]
    assert text == {"type": "text", "text": "look"}
    url = image["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert decoded.shape == (4, 5, 3) and tuple(decoded[1, 2]) == (255, 0, 0)
    assert to_openai_messages(PROMPT) == PROMPT  # text-only messages pass unchanged


def test_a_prompts_pictures_become_image_parts_in_order() -> None:
    old, now = np.zeros((2, 2, 3), dtype=np.uint8), np.full((3, 3, 3), 9, dtype=np.uint8)
    (msg,) = to_openai_messages([{"role": "user", "content": "look", "images": [old, now]}])
    text, first, second = msg["content"]
    assert text == {"type": "text", "text": "look"}
    for part, pixels in ((first, old), (second, now)):
        url = part["image_url"]["url"]
        decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
        assert np.array_equal(decoded, pixels)


def test_answer_usage_cost_and_request_body(scripted_openai: ScriptedOpenAI, monkeypatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-unit-secret")
    sampler = _sampler(
        scripted_openai,
        api_key_env=KEY_ENV,
        prices={"scripted": {"input": 2.0, "output": 8.0}},
        send_top_k=True,
    )
    params = default_sampling(temperature=0.6, top_p=0.95, top_k=20, max_new_tokens=33, seed=7)
    (out,) = sampler.generate([PROMPT], params)
    assert out.text.endswith("<action>up</action>") and out.finish_reason == FinishReason.stop
    # Per-token signals are not available from a remote model: empty, not invented.
    assert out.token_ids == out.logprobs == out.uncertainty == out.forced_mask == []
    body = scripted_openai.requests[0]
    assert body["model"] == "scripted" and body["messages"] == PROMPT
    assert body["max_completion_tokens"] == 33 and body["stop"] == ["</action>"]
    assert body["top_k"] == 20 and body["temperature"] == 0.6 and isinstance(body["seed"], int)
    assert scripted_openai.auth_headers == ["Bearer sk-unit-secret"]
    usage = sampler.usage()
    prompt_tokens = sum(len(m["content"]) for m in PROMPT) // 4
    completion_tokens = len("<think>push toward the target</think>\n<action>up") // 4
    assert (usage.requests, usage.retries) == (1, 0)
    assert (usage.prompt_tokens, usage.completion_tokens) == (prompt_tokens, completion_tokens)
    assert usage.cost_usd == pytest.approx((prompt_tokens * 2.0 + completion_tokens * 8.0) / 1e6)


def test_retries_429_500_and_stall_then_succeeds(scripted_openai: ScriptedOpenAI) -> None:
    scripted_openai.faults.extend(
        [Fault(429, {"Retry-After": "0.3"}), Fault(500), Fault(stall=1.5), Fault(502)]
    )
    sleeps: list[float] = []
    sampler = _sampler(scripted_openai, sleeps, timeout=1.0)
    (out,) = sampler.generate([PROMPT], default_sampling())
    assert out.text.endswith("</action>")
    assert len(scripted_openai.requests) == 5
    assert sleeps[0] == 0.3  # Retry-After honoured as sent
    assert all(0.0 <= s <= 0.01 * 2**i for i, s in enumerate(sleeps[1:], start=1))
    assert sampler.usage().retries == 4 and sampler.usage().requests == 1


def test_real_sleep_waits_for_retry_after(scripted_openai: ScriptedOpenAI) -> None:
    scripted_openai.faults.append(Fault(429, {"Retry-After": "0.5"}))
    sampler = _sampler(scripted_openai)
    start = time.perf_counter()
    sampler.generate([PROMPT], default_sampling())
    assert time.perf_counter() - start >= 0.5


def test_gives_up_after_retries_with_a_clear_error(scripted_openai: ScriptedOpenAI) -> None:
    scripted_openai.fail_after = 0
    sampler = _sampler(scripted_openai, [], retries=2)
    with pytest.raises(ApiError, match=r"HTTP 503 after 3 attempt\(s\): the endpoint is down"):
        sampler.generate([PROMPT], default_sampling())
    assert len(scripted_openai.requests) == 3


def test_client_errors_are_not_retried(scripted_openai: ScriptedOpenAI) -> None:
    scripted_openai.faults.append(Fault(401))
    with pytest.raises(ApiError, match="HTTP 401.*api.api_key_env"):
        _sampler(scripted_openai, []).generate([PROMPT], default_sampling())
    assert len(scripted_openai.requests) == 1


def test_retry_after_beyond_the_limit_gives_up(scripted_openai: ScriptedOpenAI) -> None:
    scripted_openai.faults.append(Fault(429, {"Retry-After": "3600"}))
    with pytest.raises(ApiError, match="asked to wait 3600s"):
        _sampler(scripted_openai, [], max_retry_after=60).generate([PROMPT], default_sampling())


def test_concurrency_limit_and_order(scripted_openai: ScriptedOpenAI) -> None:
    scripted_openai.delay = 0.25
    scripted_openai.answer = lambda body: "<action>" + body["messages"][-1]["content"]
    prompts = [[{"role": "user", "content": f"p{i}"}] for i in range(6)]
    outs = _sampler(scripted_openai, max_concurrency=2).generate(prompts, default_sampling())
    assert [o.text for o in outs] == [f"<action>p{i}</action>" for i in range(6)]
    assert scripted_openai.max_in_flight == 2


def test_missing_key_and_tti_are_user_errors(scripted_openai: ScriptedOpenAI, monkeypatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ValueError, match=f"{KEY_ENV} is not set"):
        _sampler(scripted_openai, api_key_env=KEY_ENV)
    with pytest.raises(ValueError, match="TTI"):
        _sampler(scripted_openai).generate([PROMPT], default_sampling(tti=default_tti()))
    assert scripted_openai.requests == []
