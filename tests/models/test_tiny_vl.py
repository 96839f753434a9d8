"""tiny-vl: a Qwen2.5-VL folder built offline that the standard loaders read back, with a real
Qwen2-VL image processor, tiny's tokenizer plus the vision tokens, and seeded weights."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText, Qwen2_5_VLForConditionalGeneration

from t2po.envs import get_family
from t2po.inference.chat import encode_chat, encode_chat_with_images
from t2po.models import load_model_and_tokenizer, load_tokenizer, prepare_model
from t2po.models.loading import load_model_processor
from t2po.models.tiny import prepare_tiny
from t2po.models.tiny_vl import IMAGE_PAD, VISION_TOKENS, build_tiny_vl, prepare_tiny_vl
from t2po.models.vision import is_vision_folder, load_processor, placeholder_ids
from t2po.rollout.prompts import build_messages


def sokoban_frame(seed: int = 0):
    env = gym.make(get_family("sokoban").env_id, obs_mode="image")
    obs, _ = env.reset(seed=seed)
    env.close()
    return obs["image"]


def test_named_model_is_a_vision_folder_the_auto_classes_load() -> None:
    path = prepare_model("tiny-vl")
    assert path == prepare_tiny_vl() and is_vision_folder(path)
    assert not is_vision_folder(prepare_tiny())
    model = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True)
    assert isinstance(model, Qwen2_5_VLForConditionalGeneration)
    processor = load_processor(path)
    assert processor.image_token_id == model.config.image_token_id
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    build = json.loads((path / "t2po_build.json").read_text())
    assert build["parameters"] == sum(p.numel() for p in model.parameters())
    assert load_model_processor("tiny") is None


def test_text_prompts_are_the_same_ids_as_tiny() -> None:
    text_tok, vl_tok = load_tokenizer("tiny"), load_tokenizer("tiny-vl")
    assert len(vl_tok) == len(text_tok) + len(VISION_TOKENS)
    assert vl_tok.convert_tokens_to_ids(IMAGE_PAD) >= len(text_tok)  # appended after tiny's
    messages = build_messages(
        "Push the box.", "#####\n#@$.#\n#####", [], memory_window=0, turn_index=0
    )
    assert encode_chat(vl_tok, messages) == encode_chat(text_tok, messages)


def test_a_sokoban_frame_is_nine_vision_tokens() -> None:
    tok, processor = load_tokenizer("tiny-vl"), load_model_processor("tiny-vl")
    frame = sokoban_frame()
    assert frame.shape == (96, 96, 3)
    messages = build_messages("Push.", "note", [], memory_window=0, turn_index=0, image=frame)
    ids, vision = encode_chat_with_images(tok, processor, messages)
    assert vision is not None
    # 96 px -> 84 px (a multiple of 28) -> 6x6 patches of 14 px -> 3x3 merged tokens.
    assert vision.image_grid_thw.tolist() == [[1, 6, 6]]
    assert vision.pixel_values.shape == (36, 3 * 2 * 14 * 14)
    assert ids.count(vision.image_token_id) == 9
    text = tok.decode(ids)
    assert text.count("<|vision_start|>") == 1 and text.index("note") < text.index("<|vision")


def test_weights_are_seeded_and_every_norm_starts_at_one(tmp_path: Path) -> None:
    a = build_tiny_vl(tmp_path / "a", text_model=prepare_tiny(), seed=3)
    b = build_tiny_vl(tmp_path / "b", text_model=prepare_tiny(), seed=3)
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    # The vision merger's RMSNorm is called ln_q: a norm by its class, not by its name.
    assert torch.all(wa["visual.merger.ln_q.weight"] == 1)
    assert all(torch.all(v == 1) for k, v in wa.items() if k.endswith("norm1.weight"))


def test_vision_placeholders_are_never_written() -> None:
    model, tok = load_model_and_tokenizer("tiny-vl")
    ids = placeholder_ids(model.config)
    assert len(ids) == 4
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[5, 6, 7]])).logits
    probs = torch.softmax(logits.float(), -1)
    assert torch.all(probs[..., ids] == 0)
    assert torch.isfinite(logits).all()  # finite, so entropies stay defined
    assert torch.isfinite((probs * torch.log_softmax(logits.float(), -1)).sum(-1)).all()


def test_a_vision_folder_without_processor_says_what_to_copy(tmp_path: Path) -> None:
    folder = tmp_path / "vl"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"vision_config": {}}))
    with pytest.raises(FileNotFoundError, match="preprocessor_config.json"):
        load_processor(folder)
