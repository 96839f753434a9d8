"""The update and SFT on picture turns (tiny-vl): the trainer's recomputed log-probs equal the
sampler's, and the gradient reaches the vision tower (the pixels were fed again)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import pytest
import torch
from conftest import default_sampling, default_update

from t2po.config import ConfigError, config_from_dict
from t2po.envs import get_family
from t2po.inference import HFSampler
from t2po.inference.chat import encode_chat_with_images
from t2po.inference.vision import encode_pictures
from t2po.models import load_model_and_tokenizer
from t2po.models.loading import load_model_processor
from t2po.rollout.prompts import HistoryEntry, build_messages
from t2po.settings import rollout_settings
from t2po.train.batch import collate
from t2po.train.sft import SFTExample, sft
from t2po.train.update import Sample, _response_logprobs, ppo_update
from t2po.types import Message, SamplerOutput


@pytest.fixture
def vl() -> tuple[Any, Any, Any]:
    model, tok = load_model_and_tokenizer("tiny-vl")
    return model, tok, load_model_processor("tiny-vl")


def picture_prompts(n: int) -> list[list[Message]]:
    env = gym.make(get_family("sokoban").env_id, obs_mode="image")
    images = [env.reset(seed=s)[0]["image"] for s in range(n + 1)]
    env.close()
    prompts = [
        build_messages("Push.", "note", [], memory_window=0, turn_index=0, image=images[i])
        for i in range(n)
    ]
    prompts[-1] = build_messages(  # two pictures in one prompt
        "Push.",
        "note",
        [HistoryEntry("note", "up", images[n])],
        memory_window=1,
        turn_index=1,
        image=images[0],
        image_history=2,
    )
    prompts.append([{"role": "user", "content": "a text turn in the same batch"}])
    return prompts


def samples_of(tok: Any, processor: Any, prompts, outs: list[SamplerOutput]) -> list[Sample]:
    samples = []
    for i, (messages, out) in enumerate(zip(prompts, outs, strict=True)):
        ids, vision = encode_chat_with_images(tok, processor, messages)
        assert ids == out.prompt_token_ids
        advantage = 1.0 if i % 2 else -1.0
        samples.append(Sample(ids, out.token_ids, [True] * len(out.token_ids), advantage, vision))
    return samples


def test_trainer_logprobs_equal_the_samplers_on_picture_turns(vl) -> None:
    model, tok, processor = vl
    prompts = picture_prompts(4)
    params = default_sampling(temperature=1.0, max_new_tokens=10, stop=(), seed=11)
    outs = HFSampler(model, tok, processor=processor).generate(prompts, params)
    samples = samples_of(tok, processor, prompts, outs)
    update = default_update(micro_batch_size=3, temperature=1.0)  # mixed, right-padded
    recomputed = _response_logprobs(model, samples, update, tok.pad_token_id)
    for out, lp in zip(outs, recomputed, strict=True):
        assert torch.allclose(lp, torch.tensor(out.logprobs), atol=1e-4)


def test_collate_marks_only_prompt_placeholders(vl) -> None:
    _, tok, processor = vl
    prompts = picture_prompts(2)
    encoded = [encode_chat_with_images(tok, processor, m) for m in prompts]
    tb = collate(
        [ids for ids, _ in encoded],
        [[5, 6]] * 3,
        [[True, True]] * 3,
        tok.pad_token_id,
        [v for _, v in encoded],
    )
    assert tb.vision is not None and tb.mm_token_type_ids_B_L is not None
    assert tb.vision.image_grid_thw.shape == (3, 3)  # 1 + 2 pictures, text row has none
    assert tb.mm_token_type_ids_B_L.sum(-1).tolist() == [9, 18, 0]
    assert tb.vision.pixel_values.shape[0] == 3 * 36


def test_ppo_update_trains_the_vision_tower(vl) -> None:
    model, tok, processor = vl
    prompts = picture_prompts(3)
    params = default_sampling(temperature=1.0, max_new_tokens=6, stop=(), seed=2)
    outs = HFSampler(model, tok, processor=processor).generate(prompts, params)
    samples = samples_of(tok, processor, prompts, outs)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.train()
    stats = ppo_update(
        model,
        torch.optim.AdamW(model.parameters(), lr=1e-3),
        samples,
        default_update(ppo_epochs=2, mini_batch_size=4, micro_batch_size=2),
        pad_id=tok.pad_token_id,
        generator=torch.Generator().manual_seed(0),
    )
    assert stats["actor/grad_norm"] > 0
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert any(n.startswith("model.visual.patch_embed") for n in changed)
    assert "lm_head.weight" in changed


def test_sft_on_picture_examples_lowers_the_loss_and_trains_the_vision_tower(vl) -> None:
    model, tok, processor = vl
    examples = []
    for messages in picture_prompts(4)[:-1]:
        ids, vision = encode_chat_with_images(tok, processor, messages)
        target = tok("<think>push</think><action>up</action>", add_special_tokens=False)
        examples.append(SFTExample(ids, list(target["input_ids"]) + [tok.eos_token_id], vision))
    patch = model.model.visual.patch_embed.proj.weight.detach().clone()
    result = sft(
        model,
        examples,
        pad_id=tok.pad_token_id,
        epochs=4,
        lr=3e-3,
        batch_size=2,
        generator=torch.Generator().manual_seed(0),
    )
    assert result.epoch_losses[-1] < result.epoch_losses[0]
    assert not torch.equal(model.model.visual.patch_embed.proj.weight, patch)


def test_a_turns_pictures_are_the_pixels_the_sampler_fed(vl) -> None:
    _, tok, processor = vl
    messages = picture_prompts(2)[1]  # the two-picture prompt
    _, fed = encode_chat_with_images(tok, processor, messages)
    again = encode_pictures(processor, messages[-1]["images"])
    assert fed is not None
    assert torch.equal(again.pixel_values, fed.pixel_values)
    assert torch.equal(again.image_grid_thw, fed.image_grid_thw)


def test_env_image_history_reaches_the_rollout_and_is_checked() -> None:
    cfg = config_from_dict({"env": {"image_history": 3}})
    assert rollout_settings(cfg, evaluation=True).image_history == 3
    with pytest.raises(ConfigError, match="image_history"):
        config_from_dict({"env": {"image_history": 0}})
