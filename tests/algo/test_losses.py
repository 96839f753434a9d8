"""Policy/value losses: hand-derived numbers and loop-vs-vectorised checks."""

from __future__ import annotations

import math

import pytest
import torch

from t2po.algo.losses import (
    aggregate,
    entropy_from_logits,
    high_entropy_mask,
    kl_penalty,
    masked_mean,
    ppo_dual_clip_loss,
    token_logprobs,
    value_loss,
)


def t(*xs: float) -> torch.Tensor:
    return torch.tensor([list(xs)], dtype=torch.float64)


def test_masked_mean() -> None:
    x = torch.tensor([[1.0, 2.0], [3.0, math.inf]])
    mask = torch.tensor([[1, 1], [1, 0]], dtype=torch.bool)
    assert masked_mean(x, mask).item() == 2.0  # the inf is masked, not 0 * inf = NaN
    torch.testing.assert_close(masked_mean(x, mask, dim=-1), torch.tensor([1.5, 3.0]))
    assert masked_mean(x, torch.zeros_like(mask)).item() == 0.0


RAGGED_LOSS = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0], [9.0, 9.0, math.nan]])
RAGGED_MASK = torch.tensor([[1, 1, 1], [1, 0, 0], [0, 0, 0]])


@pytest.mark.parametrize(
    ("mode", "expect"),
    [
        ("token-mean", (1 + 2 + 3 + 4) / 4),
        ("seq-mean-token-mean", (2 + 4) / 2),  # the empty third row is ignored
        ("seq-mean-token-sum", (6 + 4) / 2),
    ],
)
def test_aggregate_ragged(mode: str, expect: float) -> None:
    assert aggregate(RAGGED_LOSS, RAGGED_MASK, mode).item() == pytest.approx(expect)


def test_aggregate_unknown_mode() -> None:
    with pytest.raises(ValueError, match="'token-mean', 'seq-mean-token-mean'"):
        aggregate(RAGGED_LOSS, RAGGED_MASK, "sum")


@pytest.mark.parametrize(
    ("adv", "log_ratio", "loss", "clipped", "dual"),
    [
        (1.0, 0.1, -math.exp(0.1), 0, 0),  # A > 0, ratio inside [0.8, 1.2]
        (1.0, 0.5, -1.2, 1, 0),  # A > 0, ratio 1.65 above: clipped to 1.2
        (1.0, math.log(0.5), -0.5, 0, 0),  # A > 0, ratio below: the unclipped term is worse
        (-1.0, math.log(0.5), 0.8, 1, 0),  # A < 0, ratio below: clipped to 0.8
        (-1.0, math.log(1.1), 1.1, 0, 0),  # A < 0, inside
        (-1.0, math.log(2.0), 2.0, 0, 0),  # A < 0, ratio 2 above: unclipped, under c = 3
        (-2.0, 1.5, 6.0, 0, 1),  # A < 0, ratio 4.48: -A r = 8.96 capped at -A c = 6
    ],
)
def test_ppo_dual_clip_single_token(
    adv: float, log_ratio: float, loss: float, clipped: int, dual: int
) -> None:
    old = t(-1.0)
    new = (old + log_ratio).requires_grad_(True)
    out, stats = ppo_dual_clip_loss(new, old, t(adv), t(1.0))
    assert out.item() == pytest.approx(loss)
    assert stats["clipfrac"].item() == clipped
    assert stats["clipfrac_lower"].item() == dual
    assert stats["approx_kl"].item() == pytest.approx(-log_ratio)
    assert stats["ratio_mean"].item() == pytest.approx(math.exp(log_ratio))
    out.backward()
    assert new.grad is not None
    # A clipped or dual-clipped token carries no gradient; otherwise d(-A r)/d lp = -A r.
    expect_grad = 0.0 if clipped or dual else -adv * math.exp(log_ratio)
    assert new.grad.item() == pytest.approx(expect_grad)


def test_ppo_masked_tokens_and_validation() -> None:
    lp, old = t(0.0, 5.0), t(0.0, 0.0)
    loss, stats = ppo_dual_clip_loss(lp, old, t(1.0, -1.0), t(1.0, 0.0))
    assert loss.item() == pytest.approx(-1.0)  # the second token is masked out
    assert stats["ratio_mean"].item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="dual_clip_c must be > 1"):
        ppo_dual_clip_loss(lp, old, t(1.0, 1.0), t(1.0, 1.0), dual_clip_c=1.0)


def test_ppo_matches_loop_reference() -> None:
    g = torch.Generator().manual_seed(0)
    b, n = 6, 9
    lp = torch.randn(b, n, generator=g, dtype=torch.float64) * 0.5 - 1
    old = lp + torch.randn(b, n, generator=g, dtype=torch.float64) * 0.6
    adv = torch.randn(b, n, generator=g, dtype=torch.float64) * 2
    mask = torch.rand(b, n, generator=g) < 0.7
    mask[0] = False
    for agg in ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum"):
        lo, hi, c = 0.2, 0.28, 3.0
        got, stats = ppo_dual_clip_loss(lp, old, adv, mask, lo, hi, c, agg)
        per_seq: list[list[float]] = []
        clip_count = lower_count = 0
        for i in range(b):
            row = []
            for j in range(n):
                if not mask[i, j]:
                    continue
                a, r = adv[i, j].item(), math.exp(lp[i, j].item() - old[i, j].item())
                l1, l2 = -a * r, -a * min(max(r, 1 - lo), 1 + hi)
                pg = max(l1, l2)
                clip_count += l2 > l1
                if a < 0:
                    lower_count += pg > -a * c
                    pg = min(pg, -a * c)
                row.append(pg)
            per_seq.append(row)
        rows = [row for row in per_seq if row]
        if agg == "token-mean":
            ref = sum(map(sum, rows)) / sum(map(len, rows))
        elif agg == "seq-mean-token-mean":
            ref = sum(sum(row) / len(row) for row in rows) / len(rows)
        else:
            ref = sum(sum(row) for row in rows) / len(rows)
        assert got.item() == pytest.approx(ref)
        count = int(mask.sum())
        assert stats["clipfrac"].item() == pytest.approx(clip_count / count)
        assert stats["clipfrac_lower"].item() == pytest.approx(lower_count / count)


def test_kl_kinds_on_known_pair() -> None:
    lp, ref = t(math.log(0.5)), t(math.log(0.25))
    assert kl_penalty(lp, ref, "k1").item() == pytest.approx(math.log(2))
    assert kl_penalty(lp, ref, "k2").item() == pytest.approx(0.5 * math.log(2) ** 2)
    k3 = 0.25 / 0.5 - math.log(0.25 / 0.5) - 1  # exp(ref - lp) - (ref - lp) - 1
    assert kl_penalty(lp, ref, "k3").item() == pytest.approx(k3)
    assert kl_penalty(lp, ref, "low_var_kl").item() == pytest.approx(k3)
    assert kl_penalty(t(-50.0), t(0.0), "low_var_kl").item() == 10.0  # clamped like verl
    with pytest.raises(ValueError, match="'k1', 'k2', 'k3', 'low_var_kl'"):
        kl_penalty(lp, ref, "kl")


def test_kl_matches_loop_reference() -> None:
    g = torch.Generator().manual_seed(1)
    lp = torch.randn(4, 7, generator=g, dtype=torch.float64)
    ref = torch.randn(4, 7, generator=g, dtype=torch.float64)
    ks = {
        "k1": lambda d: d,
        "k2": lambda d: 0.5 * d * d,
        "k3": lambda d: min(10.0, math.exp(-d) + d - 1),
    }
    for kind, f in ks.items():
        got = kl_penalty(lp, ref, kind)
        want = [
            [f(a - b) for a, b in zip(r1, r2, strict=True)]
            for r1, r2 in zip(lp.tolist(), ref.tolist(), strict=True)
        ]
        torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float64))


def test_entropy_hand_and_no_nan() -> None:
    logits = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [5.0, -math.inf, -math.inf, -math.inf]]])
    logits.requires_grad_(True)
    ent = entropy_from_logits(logits)
    torch.testing.assert_close(ent, torch.tensor([[math.log(4), 0.0]]))
    ent.sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_entropy_and_logprobs_match_reference() -> None:
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(3, 5, 11, generator=g) * 4
    tokens = torch.randint(0, 11, (3, 5), generator=g)
    ref_ent = torch.distributions.Categorical(logits=logits).entropy()
    ref_lp = torch.log_softmax(logits, -1).gather(-1, tokens[..., None]).squeeze(-1)
    for chunk in (1, 4, 1024):  # chunking over positions must not change the result
        torch.testing.assert_close(entropy_from_logits(logits, chunk_rows=chunk), ref_ent)
        torch.testing.assert_close(token_logprobs(logits, tokens, chunk_rows=chunk), ref_lp)
    out = token_logprobs(logits.bfloat16(), tokens)
    assert out.dtype == torch.float32 and out.shape == (3, 5)


def test_value_loss_hand() -> None:
    old, ret = torch.tensor([0.5, 0.5]), torch.tensor([2.0, 2.0])
    v = torch.tensor([1.0, 0.6])
    # token 0: (1 - 2)^2 = 1 vs clipped V 0.7 -> 1.69: take 1.69. token 1: inside, 1.4^2.
    loss = value_loss(v, ret, old, clip=0.2)
    assert loss.item() == pytest.approx(0.5 * (1.69 + 1.96) / 2)
    assert value_loss(v, ret, old, mask_B=torch.tensor([1, 0])).item() == pytest.approx(0.845)
    assert value_loss(v, ret, old, clip=None).item() == pytest.approx(0.5 * (1.0 + 1.96) / 2)


def test_high_entropy_mask_hand() -> None:
    ent = torch.tensor([[0.9, 0.1, 0.5, 7.0], [0.3, 0.7, 0.2, 0.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])  # 7.0 is padding: never counted
    # 7 valid entropies sorted: 0.0 0.1 0.2 0.3 0.5 0.7 0.9; the top 3/7 are >= 0.5.
    kept = high_entropy_mask(ent, mask, 3 / 7)
    assert kept.tolist() == [[True, False, True, False], [False, True, False, False]]
    assert torch.equal(high_entropy_mask(ent, mask, 1.0), mask.bool())
    ties = high_entropy_mask(torch.ones(1, 4), torch.ones(1, 4), 0.25)
    assert ties.all()  # equal entropies at the threshold are all kept
    with pytest.raises(ValueError, match="keep_frac"):
        high_entropy_mask(ent, mask, 0.0)


def test_high_entropy_mask_matches_sorting_loop() -> None:
    gen = torch.Generator().manual_seed(3)
    for _ in range(20):
        ent = torch.rand(3, 9, generator=gen)
        mask = torch.rand(3, 9, generator=gen) > 0.3
        frac = float(torch.rand(1, generator=gen).clamp_min(0.05))
        kept = high_entropy_mask(ent, mask, frac)
        valid = sorted(float(ent[b, i]) for b in range(3) for i in range(9) if mask[b, i])
        n_keep = len(valid) - math.ceil((1 - frac) * (len(valid) - 1))  # "higher" quantile
        threshold = valid[len(valid) - n_keep]
        for b in range(3):
            for i in range(9):
                assert bool(kept[b, i]) == (bool(mask[b, i]) and float(ent[b, i]) >= threshold)
