"""HFSampler on a vision-language model (tiny-vl): prompts with pictures go through the
processor; the sampled log-probs are the model's own over the whole sequence (M-RoPE
positions, left padding, chunks, compaction); text prompts take the text path unchanged."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import default_sampling

from t2po.envs import get_family
from t2po.inference import HFSampler
from t2po.inference.chat import encode_chat, encode_chat_with_images
from t2po.models import load_model_and_tokenizer
from t2po.models.loading import load_model_processor
from t2po.rollout.prompts import HistoryEntry, build_messages
from t2po.types import Message


@pytest.fixture(scope="module")
def vl() -> tuple[Any, Any, Any]:
    model, tok = load_model_and_tokenizer("tiny-vl")
    return model, tok, load_model_processor("tiny-vl")


def frames(n: int, game: str | None = None) -> list[np.ndarray]:
    kwargs: dict[str, Any] = {"obs_mode": "image"}
    family = "sokoban" if game is None else "cards"
    if game is not None:
        kwargs["game"] = game
    env = gym.make(get_family(family).env_id, **kwargs)
    out = [env.reset(seed=s)[0]["image"] for s in range(n)]
    env.close()
    return out


def prompts_with_pictures() -> list[list[Message]]:
    sokoban, cards = frames(3), frames(1, "ezpoints")
    history = [HistoryEntry("note", "up", sokoban[0])]
    return [
        build_messages("Push.", "note", [], memory_window=0, turn_index=0, image=sokoban[1]),
        [{"role": "user", "content": "a text prompt among picture prompts"}],
        # two pictures (image_history=2), the older one a step of the memory window
        build_messages(
            "Push.",
            "note",
            history,
            memory_window=1,
            turn_index=1,
            image=sokoban[2],
            image_history=2,
        ),
        build_messages("Cards.", "note", [], memory_window=0, turn_index=0, image=cards[0]),
    ]


def full_forward_logprobs(model: Any, tok: Any, processor: Any, messages, out) -> torch.Tensor:
    """Log-probs of ``out``'s tokens in one unpadded forward in which the model computes
    its own positions (what the trainer does)."""
    prompt, vision = encode_chat_with_images(tok, processor, messages)
    assert prompt == out.prompt_token_ids
    ids = torch.tensor([prompt + out.token_ids])
    kwargs: dict[str, Any] = {}
    if vision is not None:
        kwargs = {
            "pixel_values": vision.pixel_values,
            "image_grid_thw": vision.image_grid_thw,
            "mm_token_type_ids": (ids == vision.image_token_id).int(),
        }
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs).logits
    logprobs = torch.log_softmax(logits[0, len(prompt) - 1 : -1].float(), -1)
    return logprobs.gather(-1, torch.tensor(out.token_ids)[:, None])[:, 0]


def test_picture_prompts_sample_the_models_own_logprobs(vl: tuple[Any, Any, Any]) -> None:
    model, tok, processor = vl
    prompts = prompts_with_pictures()
    params = default_sampling(temperature=1.0, max_new_tokens=12, stop=(), seed=3)
    outs = HFSampler(model, tok, processor=processor).generate(prompts, params)
    for messages, out in zip(prompts, outs, strict=True):
        expected = full_forward_logprobs(model, tok, processor, messages, out)
        assert torch.allclose(torch.tensor(out.logprobs), expected, atol=1e-4)
    assert [o.prompt_token_ids.count(processor.image_token_id) for o in outs] == [9, 0, 18, 35]


def test_chunks_and_compaction_do_not_change_picture_rows(vl: tuple[Any, Any, Any]) -> None:
    model, tok, processor = vl
    prompts = prompts_with_pictures()
    params = default_sampling(temperature=0.0, max_new_tokens=8, stop=())
    whole = HFSampler(model, tok, processor=processor).generate(prompts, params)
    chunked = HFSampler(model, tok, processor=processor, max_batch_size=2).generate(prompts, params)
    assert [o.token_ids for o in chunked] == [o.token_ids for o in whole]
    # Rows ending early (an EOS id only rows 0 and 1 emit) compact the batch mid-decode.
    ends = {whole[0].token_ids[1], whole[1].token_ids[1]} - set(whole[2].token_ids)
    ends -= set(whole[3].token_ids)
    assert ends  # greedy on a fixed model: the same ids every run
    compact = HFSampler(model, tok, processor=processor, eos_token_ids=ends).generate(
        prompts, params
    )
    assert len(compact[0].token_ids) <= 2 and len(compact[1].token_ids) <= 2
    for c, w in zip(compact[2:], whole[2:], strict=True):
        assert c.token_ids == w.token_ids


def test_text_prompts_on_a_vision_model_take_the_text_path(vl: tuple[Any, Any, Any]) -> None:
    model, tok, processor = vl
    messages: list[Message] = [{"role": "user", "content": "go north"}]
    out = HFSampler(model, tok, processor=processor).generate(
        [messages], default_sampling(max_new_tokens=2)
    )[0]
    assert out.prompt_token_ids == encode_chat(tok, messages)


def test_pictures_for_a_text_model_say_what_to_use(vl: tuple[Any, Any, Any]) -> None:
    model, tok, _ = vl
    with pytest.raises(ValueError, match="tiny-vl"):
        HFSampler(model, tok).generate(prompts_with_pictures()[:1], default_sampling())
