"""Training savings: the shared prompt prefix run once, and the first mini-batch's
behaviour log-probs taken from its own forward, each equal to the straightforward path
(every row run whole; a separate no-grad pass for every sample) up to float rounding; the
entropy metric computed outside the autograd graph, with the same values."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import default_update, random_qwen3

from t2po.algo.losses import masked_mean
from t2po.models.shared_prefix import MIN_SHARED_PREFIX
from t2po.train import update as update_module
from t2po.train.batch import collate
from t2po.train.policy import forward_token_stats, shares_prefix
from t2po.train.sft import SFTExample, sft
from t2po.train.update import Sample, ppo_update, stale_samples

PREFIX = list(range(3, 3 + MIN_SHARED_PREFIX + 4))  # 20 tokens every prompt opens with


def turns(n: int, seed: int = 0, prefix: list[int] = PREFIX) -> list[Sample]:
    """``n`` turns: the shared prefix, 2-6 own prompt tokens, a 1-5 token response."""
    gen = torch.Generator().manual_seed(seed)

    def ids(low: int, high: int) -> list[int]:
        length = int(torch.randint(low, high, (1,), generator=gen))
        return torch.randint(1, 50, (length,), generator=gen).tolist()

    out = []
    for _ in range(n):
        response = ids(1, 6)
        out.append(
            Sample(
                prefix + ids(2, 7),
                response,
                [True] * len(response),
                float(torch.randn(1, generator=gen)),
            )
        )
    return out


def model_(seed: int = 0) -> torch.nn.Module:
    return random_qwen3(seed, layers=2, max_positions=64)


def batch_of(samples: list[Sample]):  # noqa: ANN201 - a TokenBatch
    return collate(
        [s.prompt_ids for s in samples],
        [s.response_ids for s in samples],
        [s.trainable for s in samples],
        pad_id=0,
    )


def count_forwards(model: torch.nn.Module) -> list[int]:
    calls: list[int] = []
    model.register_forward_pre_hook(lambda module, args: calls.append(1))
    return calls


def stats_and_grads(model: torch.nn.Module, tb, share: bool):  # noqa: ANN001, ANN201
    model.zero_grad()
    ts = forward_token_stats(model, tb, with_entropy=True, share_prefix=share)
    (-masked_mean(ts.logprobs_B_W, ts.loss_mask_B_W)).backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return ts, grads


def test_shared_prefix_forward_equals_the_whole_rows() -> None:
    model = model_()
    tb = batch_of(turns(5))
    assert tb.shared_prefix_len >= len(PREFIX)  # random own tokens may extend it
    assert shares_prefix(model, tb)
    calls = count_forwards(model)
    whole, whole_grads = stats_and_grads(model, tb, share=False)
    assert len(calls) == 1
    shared, shared_grads = stats_and_grads(model, tb, share=True)
    assert len(calls) == 3  # the prefix once, then the rows' own tokens
    mask = whole.response_mask_B_W
    assert torch.equal(shared.response_mask_B_W, mask)
    assert torch.allclose(shared.logprobs_B_W[mask], whole.logprobs_B_W[mask], atol=1e-5)
    assert shared.entropy_B_W is not None and whole.entropy_B_W is not None
    assert torch.allclose(shared.entropy_B_W[mask], whole.entropy_B_W[mask], atol=1e-5)
    assert torch.allclose(shared_grads, whole_grads, atol=1e-6, rtol=1e-4)


def test_a_short_shared_prefix_runs_the_rows_whole() -> None:
    model = model_()
    tb = batch_of(turns(4, prefix=PREFIX[: MIN_SHARED_PREFIX - 6]))
    assert not shares_prefix(model, tb)
    calls = count_forwards(model)
    forward_token_stats(model, tb, share_prefix=True)
    assert len(calls) == 1


def test_gradient_checkpointing_runs_the_rows_whole() -> None:
    model = model_()
    getattr(model, "activation_checkpointing_enable", model.gradient_checkpointing_enable)()
    assert not shares_prefix(model, batch_of(turns(3)))


def test_a_vision_language_model_runs_text_rows_whole() -> None:
    # M-RoPE positions come from the whole input: a text batch on tiny-vl failed with a
    # prefix cache (positions of 166 tokens for the rows' 80) before this guard.
    from t2po.models import load_model_and_tokenizer

    model, _ = load_model_and_tokenizer("tiny-vl")
    model.train()
    tb = batch_of(turns(2))
    assert tb.shared_prefix_len >= MIN_SHARED_PREFIX and not shares_prefix(model, tb)
    ts = forward_token_stats(model, tb, share_prefix=True)
    assert ts.logprobs_B_W.shape == ts.response_mask_B_W.shape


def test_stale_samples_by_hand() -> None:
    order = [4, 0, 3, 1, 2]
    assert stale_samples([order], 2, reuse=True) == [1, 2, 3]  # [4, 0] are the first mini-batch
    assert stale_samples([order], 8, reuse=True) == []  # one mini-batch: no pass at all
    assert stale_samples([order], 2, reuse=False) == [0, 1, 2, 3, 4]
    assert stale_samples([order, order[::-1]], 2, reuse=True) == [0, 1, 2, 3, 4]  # 2 epochs


def run_update(samples: list[Sample], **switches: bool):  # noqa: ANN201
    model = model_(1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    params = default_update(mini_batch_size=4, micro_batch_size=2, ppo_epochs=1)
    stats = ppo_update(
        model,
        opt,
        samples,
        params,
        pad_id=0,
        generator=torch.Generator().manual_seed(3),
        **switches,
    )
    return stats, torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("switch", ["reuse_fresh_logprobs", "share_prefix"])
def test_each_saving_gives_the_straightforward_update(
    switch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = turns(12, seed=1)
    passed: list[int] = []  # how many samples each no-grad behaviour pass ran
    real = update_module._response_logprobs

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        out = real(*args, **kwargs)
        passed.append(len(out))
        return out

    monkeypatch.setattr(update_module, "_response_logprobs", spy)
    plain_stats, plain = run_update(samples, **{switch: False})
    fast_stats, fast = run_update(samples, **{switch: True})
    if switch == "reuse_fresh_logprobs":
        assert passed == [12, 8]  # the first mini-batch of 4 needs no pass of its own
    start = torch.cat([p.detach().flatten() for p in model_(1).parameters()])
    assert (plain - start).abs().max() > 1e-3  # 3 Adam steps at lr 1e-2 moved the weights
    # Equal to float rounding, not bit for bit; Adam's normalisation magnifies the rounding
    # of near-zero gradient entries in a step of the learning rate's size.
    assert torch.allclose(fast, plain, atol=1e-4)
    assert fast_stats.keys() == plain_stats.keys()
    for key, value in plain_stats.items():
        assert fast_stats[key] == pytest.approx(value, abs=1e-5), key


def test_entropy_outside_the_graph_has_the_same_values() -> None:
    model = model_()
    tb = batch_of(turns(3))
    tracked = forward_token_stats(model, tb, with_entropy=True)
    metric = forward_token_stats(model, tb, with_entropy=True, entropy_grad=False)
    assert tracked.entropy_B_W is not None and metric.entropy_B_W is not None
    assert tracked.entropy_B_W.requires_grad and not metric.entropy_B_W.requires_grad
    assert torch.equal(metric.entropy_B_W, tracked.entropy_B_W.detach())
    assert metric.logprobs_B_W.requires_grad  # the log-probs still train


def test_sft_loss_is_the_same_with_the_shared_prefix() -> None:
    examples = [SFTExample(s.prompt_ids, s.response_ids) for s in turns(8, seed=2)]

    def fit(share: bool) -> list[float]:
        model = copy.deepcopy(model_(2))
        result = sft(
            model,
            examples,
            pad_id=0,
            epochs=2,
            lr=1e-3,
            batch_size=4,
            generator=torch.Generator().manual_seed(0),
            val_examples=examples[:3],
            share_prefix=share,
        )
        return result.epoch_losses + result.val_losses

    assert fit(True) == pytest.approx(fit(False), rel=1e-5)
