"""``t2po serve model`` with a vision-language model folder (tiny-vl): ``image_url`` parts given
as data URLs reach the model through its processor, driven by the real ``openai`` SDK."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import openai
import pytest
from conftest import default_sampling
from PIL import Image

from t2po.envs import get_family
from t2po.inference.hf import HFSampler
from t2po.inference.openai_compat import image_data_url
from t2po.models.loading import resolve_model_path
from t2po.serve.model_server import ModelService, RunningServer, load_service, start_model_server

SYSTEM = {"role": "system", "content": "You push boxes."}
TEXT = "Push the box onto the target."


def oversized_png_url() -> str:
    """A 5000x4000 blank PNG: 58 KB on the wire, 20 megapixels once decoded."""
    buffer = io.BytesIO()
    Image.new("RGB", (5000, 4000)).save(buffer, format="PNG")
    return image_data_url(buffer.getvalue())


def sokoban_frame(seed: int) -> np.ndarray:
    env = gym.make(get_family("sokoban").env_id, obs_mode="image")
    obs, _ = env.reset(seed=seed)
    env.close()
    return np.asarray(obs["image"])


@pytest.fixture(scope="module")
def vl_service() -> ModelService:
    folder = resolve_model_path("tiny-vl")  # an HF folder of the Qwen2.5-VL family
    return load_service(str(folder))


@pytest.fixture
def server(vl_service: ModelService) -> Iterator[RunningServer]:
    running = start_model_server(vl_service)
    try:
        yield running
    finally:
        running.close()


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=60)


def picture_messages(url: str) -> list[Any]:
    parts = [{"type": "text", "text": TEXT}, {"type": "image_url", "image_url": {"url": url}}]
    return [SYSTEM, {"role": "user", "content": parts}]


def test_a_data_url_picture_reaches_the_model_as_our_sampler_reads_it(
    server: RunningServer, vl_service: ModelService
) -> None:
    frame, other = sokoban_frame(0), sokoban_frame(1)
    assert frame.shape != (0, 0, 3) and not np.array_equal(frame, other)
    client = _client(server.url)
    reply = client.chat.completions.create(
        model=vl_service.name,
        messages=picture_messages(image_data_url(frame)),
        max_tokens=6,
        seed=11,
        logprobs=True,
    )
    choice = reply.choices[0]
    assert choice.logprobs is not None and choice.logprobs.content
    served = [item.logprob for item in choice.logprobs.content]

    sampler = vl_service.sampler
    assert isinstance(sampler, HFSampler) and sampler.processor is not None
    params = default_sampling(max_new_tokens=6, stop=(), seed=11)

    def direct(picture: np.ndarray) -> Any:
        user = {"role": "user", "content": TEXT, "images": [picture]}
        return sampler.generate([[SYSTEM, user]], params)[0]  # type: ignore[list-item]

    same = direct(frame)
    assert choice.message.content == same.text
    assert served == pytest.approx(same.logprobs[: len(served)], abs=1e-5)
    # The picture's patch tokens are in the prompt the server counted ...
    assert reply.usage is not None and reply.usage.prompt_tokens == len(same.prompt_token_ids)
    text_only = client.chat.completions.create(
        model=vl_service.name,
        messages=[SYSTEM, {"role": "user", "content": TEXT}],
        max_tokens=1,
        seed=11,
    )
    assert text_only.usage is not None and text_only.usage.prompt_tokens < len(
        same.prompt_token_ids
    )
    # ... and its pixels are what the model read: another frame gives other log-probs.
    assert direct(other).logprobs[:1] != pytest.approx(served[:1], abs=1e-5)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://example.com/frame.png", "offline and does not fetch remote pictures"),
        ("file:///etc/passwd", "not a base64 data URL"),
        ("data:image/png;base64,@@not-base64@@", "payload is not base64"),
        ("data:text/plain;base64,aGVsbG8=", "'text/plain' is not an image type"),
        ("data:image/png;base64,aGVsbG8=", "does not hold a picture Pillow can read"),
        (oversized_png_url(), "a 5000x4000 picture is over this server's limit"),
    ],
    ids=["remote", "file", "not-base64", "not-an-image-type", "not-a-picture", "oversized"],
)
def test_pictures_the_server_cannot_read_are_a_400(
    server: RunningServer, vl_service: ModelService, url: str, message: str
) -> None:
    with pytest.raises(openai.BadRequestError, match=message) as caught:
        _client(server.url).chat.completions.create(
            model=vl_service.name, messages=picture_messages(url), max_tokens=2
        )
    assert caught.value.status_code == 400


def test_pictures_outside_user_messages_and_top_logprobs_are_refused(
    server: RunningServer, vl_service: ModelService
) -> None:
    client = _client(server.url)
    url = image_data_url(sokoban_frame(0))
    system = {"role": "system", "content": [{"type": "image_url", "image_url": {"url": url}}]}
    with pytest.raises(openai.BadRequestError, match="belong in user messages"):
        client.chat.completions.create(
            model=vl_service.name,
            messages=[system, {"role": "user", "content": TEXT}],  # type: ignore[list-item]
            max_tokens=2,
        )
    with pytest.raises(openai.BadRequestError, match="top_logprobs: not supported"):
        client.chat.completions.create(
            model=vl_service.name,
            messages=picture_messages(url),
            max_tokens=2,
            logprobs=True,
            top_logprobs=2,
        )
    ok = client.chat.completions.create(
        model=vl_service.name, messages=picture_messages(url), max_tokens=2
    )
    assert ok.choices[0].finish_reason in ("stop", "length")


def test_a_text_model_refuses_pictures_with_a_400() -> None:
    running = start_model_server(load_service("tiny"))
    try:
        with pytest.raises(openai.BadRequestError, match="'tiny' reads text only") as caught:
            _client(running.url).chat.completions.create(
                model="tiny",
                messages=picture_messages(image_data_url(sokoban_frame(0))),
                max_tokens=2,
            )
    finally:
        running.close()
    assert caught.value.status_code == 400


def test_eval_a_served_vision_model_on_pictures_through_the_api_sampler(
    server: RunningServer, vl_service: ModelService, tmp_path, monkeypatch
) -> None:
    from t2po.config import load_config
    from t2po.evaluation import run_suite
    from t2po.settings import make_sampler

    monkeypatch.setenv("T2PO_TEST_VL_KEY", "unused")
    cfg = load_config(
        None,
        [
            "model.sampler=api",
            f"api.base_url={server.url}",
            f"api.model={vl_service.name}",
            "api.api_key_env=T2PO_TEST_VL_KEY",
            "api.token_limit_param=max_tokens",
            "env.kwargs.obs_mode=image",
            "env.max_turns=2",
            "rollout.max_new_tokens=8",
            "eval.episodes=1",
        ],
    )
    rows_before = vl_service.batcher.rows
    result = run_suite(cfg, make_sampler(cfg), tmp_path, log=lambda _: None)
    usage = result.summary["usage"]
    turns = round(result.summary["rows"][0]["turns"])
    assert result.summary["total"]["episodes"] == 1 and usage["requests"] == turns >= 1
    assert usage["retries"] == 0 and 0 < usage["completion_tokens"] <= 8 * turns
    assert vl_service.batcher.rows - rows_before == turns  # every turn decoded by tiny-vl
    assert len(list((tmp_path / "images").glob("*.png"))) == turns  # the frames it was shown
