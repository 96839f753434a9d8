"""M_t and Φ (method.md §2, §4): hand-computed cases and streaming-vs-offline equivalence."""

from __future__ import annotations

import math

import pytest
import torch

from t2po.algo.uncertainty import (
    RunningMinMax,
    entropy_from_logprobs,
    fuse_uncertainty,
    minmax_normalize_causal,
    topj_confidence,
    turn_signal,
    uncertainty_sequence,
)


def test_entropy_uniform_is_log_v() -> None:
    for v in (2, 7, 1000):
        logprobs = torch.full((3, v), -math.log(v))
        assert torch.allclose(entropy_from_logprobs(logprobs), torch.full((3,), math.log(v)))


def test_entropy_one_hot_is_zero_and_handles_minus_inf() -> None:
    logprobs = torch.tensor([[0.0, -math.inf, -math.inf]])
    assert entropy_from_logprobs(logprobs).item() == 0.0
    # two even tokens and one banned: log 2
    logprobs = torch.tensor([[math.log(0.5), math.log(0.5), -math.inf]])
    assert entropy_from_logprobs(logprobs).item() == pytest.approx(math.log(2))


def test_topj_confidence_by_hand() -> None:
    probs = torch.tensor([[0.5, 0.25, 0.125, 0.125]])
    c = topj_confidence(probs.log(), 2)
    assert c.item() == pytest.approx(-(math.log(0.5) + math.log(0.25)) / 2)
    # peaked distribution -> larger C than a flat one (DeepConf: C is "confidence")
    peaked = torch.tensor([[0.97, 0.01, 0.01, 0.01]]).log()
    flat = torch.full((1, 4), 0.25).log()
    assert topj_confidence(peaked, 2).item() > topj_confidence(flat, 2).item()


def test_topj_confidence_rejects_j_below_2_and_clamps_to_vocab() -> None:
    with pytest.raises(ValueError, match="top_j"):
        topj_confidence(torch.zeros(1, 4), 1)
    logprobs = torch.full((1, 3), -math.log(3))
    assert topj_confidence(logprobs, 20).item() == pytest.approx(math.log(3))


def test_minmax_causal_by_hand() -> None:
    x = torch.tensor([2.0, 4.0, 3.0, 0.0, 4.0])
    # t=1: zero range -> 0; t=2: (4-2)/2; t=3: (3-2)/2; t=4: min 0 -> 0; t=5: (4-0)/4
    expected = torch.tensor([0.0, 1.0, 0.5, 0.0, 1.0])
    assert torch.allclose(minmax_normalize_causal(x), expected)


def test_minmax_zero_range_gives_zero() -> None:
    assert torch.equal(minmax_normalize_causal(torch.full((6,), 3.5)), torch.zeros(6))
    # float noise is not a range: the same distribution summed in another order
    noisy = torch.tensor([9.9375, 9.9375 + 2e-4, 9.9375 - 1e-4])
    assert torch.equal(minmax_normalize_causal(noisy), torch.zeros(3))


def test_fuse_by_hand() -> None:
    m = fuse_uncertainty(torch.tensor([0.0, 1.0, 0.5]), torch.tensor([0.0, 1.0, 0.25]), 0.4)
    assert torch.allclose(m, torch.tensor([0.6, 0.4, 0.4 * 0.5 + 0.6 * 0.75]))


def test_uncertainty_sequence_by_hand() -> None:
    # t=1 flat (H = log 4, C = log 4), t=2 peaked: H̃_2 = 0 (new min), C̃_2 = 1 (new max).
    flat = torch.full((4,), 0.25).log()
    peaked = torch.tensor([0.97, 0.01, 0.01, 0.01]).log()
    m = uncertainty_sequence(torch.stack([flat, peaked]), alpha=0.4, j=2)
    assert torch.allclose(m, torch.tensor([0.6, 0.0]))
    # and back to flat: H̃_3 = 1 (max), C̃_3 = 0 (min) -> M = α + (1 - α) = 1
    m = uncertainty_sequence(torch.stack([flat, peaked, flat]), alpha=0.4, j=2)
    assert m[2].item() == pytest.approx(1.0)


def test_running_minmax_equals_offline_on_random_inputs() -> None:
    gen = torch.Generator().manual_seed(0)
    b, t, v = 5, 40, 50
    logits = torch.randn(b, t, v, generator=gen) * torch.rand(b, t, 1, generator=gen) * 5
    logprobs = torch.log_softmax(logits, dim=-1)
    # rows finish at different steps; inactive steps must not disturb the state
    lengths = torch.tensor([40, 1, 17, 33, 25])
    offline = [uncertainty_sequence(logprobs[i, : lengths[i]], alpha=0.3, j=7) for i in range(b)]

    running = RunningMinMax(b, alpha=0.3)
    streamed = torch.zeros(b, t)
    for step in range(t):
        active = step < lengths
        h = entropy_from_logprobs(logprobs[:, step])
        c = topj_confidence(logprobs[:, step], 7)
        streamed[:, step] = running.update(h, c, active)
    for i in range(b):
        n = int(lengths[i])
        assert torch.allclose(streamed[i, :n], offline[i], atol=1e-6)
        assert torch.all(streamed[i, n:] == 0)


def test_running_minmax_loop_vs_batch() -> None:
    """A batch of rows streams exactly like each row streamed alone."""
    gen = torch.Generator().manual_seed(1)
    h = torch.rand(3, 20, generator=gen)
    c = torch.rand(3, 20, generator=gen)
    batch = RunningMinMax(3, alpha=0.4)
    together = torch.stack([batch.update(h[:, s], c[:, s]) for s in range(20)], dim=1)
    for i in range(3):
        alone = RunningMinMax(1, alpha=0.4)
        row = torch.stack([alone.update(h[i : i + 1, s], c[i : i + 1, s]) for s in range(20)])
        assert torch.equal(together[i], row.squeeze(-1))


def test_turn_signal_by_hand() -> None:
    m = [0.5, 0.2, 0.9]
    expected = math.exp((math.log(0.5 + 1e-6) + math.log(0.2 + 1e-6)) / 2)
    assert turn_signal(m, [True, True, False]) == pytest.approx(expected)
    assert turn_signal(torch.tensor(m), torch.tensor([True, True, False])) == pytest.approx(
        expected
    )
    # all sampled: geometric mean of the three
    assert turn_signal(m) == pytest.approx(math.exp(sum(math.log(x + 1e-6) for x in m) / 3))
    # zeros do not give -inf thanks to the 1e-6
    assert turn_signal([0.0, 0.0]) == pytest.approx(1e-6)


def test_turn_signal_empty_is_zero() -> None:
    assert turn_signal([], []) == 0.0
    assert turn_signal([0.3, 0.4], [False, False]) == 0.0


def test_turn_signal_mask_length_mismatch() -> None:
    with pytest.raises(ValueError, match="mask"):
        turn_signal([0.1, 0.2], [True])
