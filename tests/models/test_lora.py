"""LoRA through PEFT: the reference with adapters off is the base, the sampler and the update
see the same log-probs, merge -> reload keeps them, and mistakes are named.

Adapters start with ``B = 0`` (the wrapped model equals the base), so every test that needs
the adapters to matter first gives them random weights (``randomise_adapters``).
"""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

import pytest
import torch
from conftest import default_sampling, random_qwen3

from t2po.inference import HFSampler
from t2po.models import load_model_and_tokenizer, resolve_model_path
from t2po.models.lora import (
    AdaptersOff,
    LoraParams,
    adapter_state,
    apply_lora,
    decoding_model,
    is_adapter_folder,
    load_adapter_weights,
    merge_adapter_folder,
)
from t2po.train.batch import collate
from t2po.train.policy import forward_token_stats

PARAMS = LoraParams(r=4, alpha=8.0, dropout=0.0, target_modules=("all-linear",))


def randomise_adapters(model: torch.nn.Module, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)


def batch(vocab: int = 50, seed: int = 1) -> Any:
    gen = torch.Generator().manual_seed(seed)
    prompts = [torch.randint(0, vocab, (n,), generator=gen).tolist() for n in (5, 7, 3)]
    responses = [torch.randint(0, vocab, (n,), generator=gen).tolist() for n in (4, 2, 6)]
    return collate(prompts, responses, [[True] * len(r) for r in responses], pad_id=0)


def response_logprobs(model: torch.nn.Module, tb: Any) -> torch.Tensor:
    with torch.no_grad():
        stats = forward_token_stats(model, tb)
    return stats.logprobs_B_W[stats.response_mask_B_W]


def test_only_adapters_are_trainable_and_the_base_is_untouched():
    model = random_qwen3()
    base = {k: v.clone() for k, v in model.state_dict().items()}
    wrapped = apply_lora(model, PARAMS, base_path="base")
    trainable = [n for n, p in wrapped.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    # every linear layer of the block has adapters, the LM head (tied to the embedding) none
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trainable} == {
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"
    }  # fmt: skip
    inner = decoding_model(wrapped).state_dict()
    for key, value in base.items():
        # PEFT moves a wrapped layer's own weight under `.base_layer.`
        moved = key.replace(".weight", ".base_layer.weight")
        assert torch.equal(inner[key] if key in inner else inner[moved], value)


def test_reference_with_adapters_off_equals_the_base_model():
    base = random_qwen3()
    policy = apply_lora(copy.deepcopy(base), PARAMS, base_path="base")
    randomise_adapters(policy)
    tb = batch()
    adapted = response_logprobs(policy, tb)
    policy.train()  # as during the update
    reference = response_logprobs(AdaptersOff(policy), tb)
    assert torch.equal(reference, response_logprobs(base, tb))
    assert not torch.allclose(adapted, reference, atol=1e-3)  # the adapters do matter here
    assert policy.training  # the reference pass left the policy's mode alone
    assert response_logprobs(policy, tb).equal(adapted)  # and its adapters back on
    # no second copy: the reference's parameters are the policy's own tensors
    shared = zip(AdaptersOff(policy).parameters(), policy.parameters(), strict=True)
    assert all(a is b for a, b in shared)


def test_sampler_logprobs_equal_the_update_forward_with_lora():
    model, tok = load_model_and_tokenizer("tiny")
    policy = apply_lora(model, PARAMS, base_path=resolve_model_path("tiny"))
    randomise_adapters(policy, seed=3)
    sampler = HFSampler(decoding_model(policy), tok)
    prompts = [
        [{"role": "user", "content": "You see a box. Your task is to: open the box."}],
        [{"role": "user", "content": "go"}],
    ]
    outs = sampler.generate(prompts, default_sampling(max_new_tokens=12, stop=(), seed=5))
    tb = collate(
        [o.prompt_token_ids for o in outs],
        [o.token_ids for o in outs],
        [[True] * len(o.token_ids) for o in outs],
        pad_id=tok.pad_token_id,
    )
    sampled = torch.tensor([lp for o in outs for lp in o.logprobs])
    assert torch.allclose(response_logprobs(policy, tb), sampled, atol=1e-4)
    # ... and they are the adapted model's, not the base's
    with policy.disable_adapter():
        assert not torch.allclose(response_logprobs(policy, tb), sampled, atol=1e-2)


def test_merge_then_reload_gives_the_adapted_logprobs(tmp_path):
    model, tok = load_model_and_tokenizer("tiny")
    policy = apply_lora(model, PARAMS, base_path=resolve_model_path("tiny"))
    randomise_adapters(policy, seed=7)
    adapters = tmp_path / "adapters"
    policy.save_pretrained(adapters)
    tok.save_pretrained(adapters)
    assert is_adapter_folder(adapters)
    saved = json.loads((adapters / "adapter_config.json").read_text())
    assert saved["base_model_name_or_path"] == str(resolve_model_path("tiny"))

    out = merge_adapter_folder(adapters, tmp_path / "merged")
    assert (out / "config.json").is_file() and not is_adapter_folder(out)
    merged, merged_tok = load_model_and_tokenizer(out)  # a plain HF folder
    assert not any("lora" in k for k in merged.state_dict())
    assert merged_tok.get_vocab() == tok.get_vocab()
    tb = collate([[5, 9, 17, 3], [40, 2]], [[7, 8, 9], [11]], [[True] * 3, [True]], pad_id=0)
    assert torch.allclose(response_logprobs(merged, tb), response_logprobs(policy, tb), atol=1e-5)
    base, _ = load_model_and_tokenizer("tiny")
    assert not torch.allclose(response_logprobs(base, tb), response_logprobs(merged, tb), atol=1e-3)
    with pytest.raises(ValueError, match="not empty"):
        merge_adapter_folder(adapters, out)  # never mixes with an older folder's files
    with pytest.raises(ValueError, match="no LoRA adapters"):
        merge_adapter_folder(out, tmp_path / "again")


def test_adapter_weights_round_trip_and_other_shapes_are_refused():
    policy = apply_lora(random_qwen3(), PARAMS, base_path="base")
    randomise_adapters(policy, seed=1)
    saved = {k: v.clone() for k, v in adapter_state(policy).items()}
    fresh = apply_lora(random_qwen3(), PARAMS, base_path="base")
    load_adapter_weights(fresh, saved)
    assert all(torch.equal(adapter_state(fresh)[k], v) for k, v in saved.items())
    wider = apply_lora(random_qwen3(), LoraParams(8, 8.0, 0.0, ("all-linear",)), base_path="b")
    with pytest.raises(ValueError, match=r"model\.lora\.r.*other shapes \['base_model"):
        load_adapter_weights(wider, saved)
    fewer = apply_lora(random_qwen3(), LoraParams(4, 8.0, 0.0, ("q_proj",)), base_path="b")
    with pytest.raises(ValueError, match="unexpected"):
        load_adapter_weights(fewer, saved)


def test_a_target_module_the_model_lacks_names_its_linear_layers():
    with pytest.raises(ValueError, match=r"\['qproj'\].*q_proj.*all-linear"):
        apply_lora(random_qwen3(), LoraParams(4, 8.0, 0.0, ("qproj",)), base_path="base")


def test_adapters_off_refuses_a_model_without_lora():
    with pytest.raises(ValueError, match="LoRA model"):
        AdaptersOff(random_qwen3())


def test_adapter_gradients_are_the_same_with_gradient_checkpointing():
    # Frozen embeddings give checkpointed blocks inputs without grad; PEFT must still let the
    # adapters' gradients through (the trainer enables checkpointing before wrapping).
    tb = batch()
    grads = []
    for checkpointing in (False, True):
        model = random_qwen3()
        if checkpointing:
            model.gradient_checkpointing_enable()
        policy = apply_lora(model, PARAMS, base_path="base")
        randomise_adapters(policy)
        policy.train()
        forward_token_stats(policy, tb).logprobs_B_W.sum().backward()
        grads.append({n: p.grad for n, p in policy.named_parameters() if p.requires_grad})
    assert all(g is not None and g.abs().sum() > 0 for g in grads[1].values())
    assert all(torch.allclose(grads[0][n], grads[1][n], atol=1e-6) for n in grads[0])


def test_lora_without_peft_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "peft", None)  # `import peft` raises ImportError
    with pytest.raises(ImportError, match=r"pip install 't2po\[peft\]'"):
        apply_lora(random_qwen3(), PARAMS, base_path="base")
