"""LoRA training end to end with the tiny model: only the adapters move, the KL reference is
the base under the same module, checkpoints hold the adapters, a resume repeats the
uninterrupted run, and `t2po models merge` gives a folder that evaluates like the policy."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from test_end_to_end import comparable, metrics, small_config

from t2po.cli import main
from t2po.inference.factory import load_hf_sampler
from t2po.models import ModelNotFoundError, load_model_and_tokenizer
from t2po.models.lora import AdaptersOff, adapter_state, decoding_model
from t2po.train.batch import collate
from t2po.train.checkpoint import CheckpointError, latest_checkpoint
from t2po.train.policy import forward_token_stats
from t2po.train.trainer import Trainer

LORA = {"lora": {"r": 4, "alpha": 8}}


def lora_config(run_dir, iterations: int, **extra):
    extra.setdefault("model", LORA)
    # KL on, so the update uses the adapters-off reference; a large lr so one update shows.
    return small_config(
        run_dir,
        iterations,
        algo={"kl_coef": 0.05},
        optim={"lr": 1e-2},
        train={"eval_tasks": 0},
        **extra,
    )


def logprobs(model, tb):
    with torch.no_grad():
        stats = forward_token_stats(model, tb)
    return stats.logprobs_B_W[stats.response_mask_B_W]


def test_a_lora_run_trains_only_the_adapters_and_merges(tmp_path, capsys):
    run = tmp_path / "run"
    trainer = Trainer(lora_config(run, 1))
    assert isinstance(trainer.ref_model, AdaptersOff)  # no second copy of the model
    before = {k: v.clone() for k, v in adapter_state(trainer.model).items()}
    history = trainer.fit()
    assert history[0]["actor/kl"] > 0  # the adapters moved away from the base reference

    # Base weights are bit-identical to the folder they came from; adapters changed.
    base, tok = load_model_and_tokenizer("tiny")
    inner = decoding_model(trainer.model).state_dict()
    for key, value in base.state_dict().items():
        got = inner.get(key, inner.get(key.replace(".weight", ".base_layer.weight")))
        assert got is not None and torch.equal(got, value), key
    after = adapter_state(trainer.model)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    trained = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert trained == {id(p) for n, p in trainer.model.named_parameters() if "lora_" in n}

    # The checkpoint holds the adapters (and the tokenizer), not a whole model.
    ckpt = run / "checkpoints" / "iter_000001"
    files = {p.name for p in (ckpt / "model").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors"} <= files
    assert "model.safetensors" not in files and "config.json" not in files
    saved = load_file(ckpt / "model" / "adapter_model.safetensors")
    assert all(torch.equal(saved[k], after[k]) for k in after)
    with pytest.raises(ModelNotFoundError, match="t2po models merge"):
        load_hf_sampler(str(ckpt))  # eval/serve on adapters says how to get a model

    # `t2po models merge RUN --out DIR`: a plain HF folder with the policy's log-probs.
    out = tmp_path / "merged"
    assert main(["models", "merge", str(run), "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    merged, _ = load_model_and_tokenizer(out)
    tb = collate([[5, 9, 17, 3], [40, 2]], [[7, 8, 9], [11]], [[True] * 3, [True]], pad_id=0)
    assert torch.allclose(logprobs(merged, tb), logprobs(trainer.model, tb), atol=1e-5)
    assert load_hf_sampler(str(out)) is not None  # what `t2po eval` / `serve model` load
    # A run without LoRA has nothing to merge.
    assert main(["models", "merge", str(out), "--out", str(tmp_path / "x")]) == 2
    assert "holds no LoRA adapters" in capsys.readouterr().err


@pytest.mark.slow
def test_a_lora_run_resumes_like_the_uninterrupted_run(tmp_path):
    straight = tmp_path / "straight"
    Trainer(lora_config(straight, 2)).fit()

    resumed = tmp_path / "resumed"
    Trainer(lora_config(resumed, 1)).fit()
    trainer = Trainer(lora_config(resumed, 2))
    assert trainer.start_iteration == 1
    assert trainer.optimizer.state  # Adam's moments of the adapters came back
    trainer.fit()

    a, b = metrics(straight), metrics(resumed)
    assert comparable(a[-1]) == comparable(b[-1])
    name = "checkpoints/iter_000002/model/adapter_model.safetensors"
    wa, wb = load_file(straight / name), load_file(resumed / name)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)

    # Resuming the adapters without model.lora (or with another rank) says why.
    with pytest.raises(CheckpointError, match="holds LoRA adapters.*model.lora"):
        Trainer(lora_config(resumed, 3, model={"lora": {"r": 0}}))
    with pytest.raises(CheckpointError, match="other shapes"):
        Trainer(lora_config(resumed, 3, model={"lora": {"r": 8}}))
    checkpoint = latest_checkpoint(resumed)  # the refused resumes left the run as it was
    assert checkpoint is not None and checkpoint.iteration == 2
