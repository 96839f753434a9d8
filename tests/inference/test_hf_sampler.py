"""HFSampler and token selection: KV-cache correctness, seeds, stops, TTI, sampling sets.

Two models: the tiny random Qwen3 (``build_tiny``, shrunk) for everything that needs a real
forward, and a scripted-logits stand-in (nanochat style) where a test needs to know what the
model will say (stop strings, EOS, a flat ``M_t`` for TTI).
"""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from conftest import default_sampling, default_tti, small_tiny

from t2po.algo.uncertainty import (
    entropy_from_logprobs,
    topj_confidence,
    uncertainty_sequence,
)
from t2po.inference import HFSampler, Sampler
from t2po.inference.sampling import (
    SamplingWorkspace,
    inverse_cdf_sample,
    sample_step,
    select_tokens,
)
from t2po.types import FinishReason, Message

CORPUS = [
    "You are in a room. You see a table 1 and a box 2.\nYour task is to: open the box.",
    "<think>The box is closed, so I open it.</think><action>open box 2</action>",
    "<think>Now I look inside.</think><action>go north</action>",
    "The quick brown fox jumps over the lazy dog. 0 1 2 3 4 5 6 7 8 9 10 42 100.",
] * 4

PROMPTS: list[list[Message]] = [
    [{"role": "user", "content": "open the box"}],
    [
        {"role": "system", "content": "You are an agent in a room."},
        {"role": "user", "content": "You see a table 1 and a box 2. Your task is to open it."},
    ],
    [{"role": "user", "content": "go"}],
    [{"role": "user", "content": "The quick brown fox jumps over the lazy dog 42 times."}],
]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    return small_tiny(tmp_path_factory.mktemp("tiny") / "model", CORPUS)


class ScriptedLogitsLM(torch.nn.Module):
    """A stand-in causal LM whose step ``s`` logits are +10 on ``script[s]`` and 0 elsewhere.

    Every step has the same distribution up to a permutation, so ``H`` and ``C`` never
    change and ``M_t`` is flat (``1 - α``): TTI's flat-window rule fires as soon as allowed.
    """

    config = None

    def __init__(self, script: list[int], vocab_size: int) -> None:
        super().__init__()
        self.script = script
        self.vocab_size = vocab_size
        self.step = 0

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: Any = None,
        use_cache: bool = True,
        logits_to_keep: int = 0,
    ) -> SimpleNamespace:
        if input_ids.shape[1] > 1:  # prefill
            self.step = 0
        logits = torch.zeros(input_ids.shape[0], 1, self.vocab_size)
        logits[:, 0, self.script[min(self.step, len(self.script) - 1)]] = 10.0
        self.step += 1
        return SimpleNamespace(logits=logits)


def ids_of(tok: Any, text: str) -> list[int]:
    return list(tok(text, add_special_tokens=False)["input_ids"])


def full_forward_logprobs(model: Any, prompt: list[int], response: list[int]) -> torch.Tensor:
    """log-softmax at each response position from one no-cache, no-padding forward: (T, V)."""
    ids = torch.tensor([prompt + response])
    with torch.no_grad():
        logits = model(input_ids=ids, use_cache=False).logits[0]
    return torch.log_softmax(logits[len(prompt) - 1 : len(prompt) + len(response) - 1], dim=-1)


# --------------------------------------------------------------------------- token selection


def test_inverse_cdf_never_picks_zero_weight() -> None:
    gen = torch.Generator().manual_seed(0)
    weights = torch.tensor([[0.0, 1.0, 0.0, 2.0, 0.0]]).repeat(2000, 1)
    picks = inverse_cdf_sample(weights, gen)
    assert set(picks.tolist()) == {1, 3}
    assert (picks == 3).float().mean().item() == pytest.approx(2 / 3, abs=0.04)


def test_select_matches_probabilities_statistically() -> None:
    gen = torch.Generator().manual_seed(0)
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logprobs = probs.log().expand(40_000, 4)
    picks = select_tokens(logprobs, greedy=False, top_k=0, top_p=1.0, generator=gen)
    freq = torch.bincount(picks, minlength=4).float() / len(picks)
    assert torch.allclose(freq, probs, atol=0.01)
    # top-k = 2: renormalised over {0, 1}
    picks = select_tokens(logprobs, greedy=False, top_k=2, top_p=1.0, generator=gen)
    freq = torch.bincount(picks, minlength=4).float() / len(picks)
    assert torch.allclose(freq, torch.tensor([0.625, 0.375, 0.0, 0.0]), atol=0.01)
    # top-p = 0.85: smallest prefix with mass >= 0.85 is {0, 1, 2}
    picks = select_tokens(logprobs, greedy=False, top_k=0, top_p=0.85, generator=gen)
    freq = torch.bincount(picks, minlength=4).float() / len(picks)
    assert torch.allclose(freq, torch.tensor([0.5, 0.3, 0.15, 0.0]) / 0.95, atol=0.01)
    # top-k then top-p on the renormalised top-k: top-3 = {.5,.3,.15}/.95; p = 0.8 keeps 2
    picks = select_tokens(logprobs, greedy=False, top_k=3, top_p=0.8, generator=gen)
    assert set(picks.tolist()) == {0, 1}


def test_select_stays_inside_the_allowed_set_on_a_big_vocab() -> None:
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(64, 5000, generator=gen) * 2
    logprobs = torch.log_softmax(logits, dim=-1)
    allowed_k = torch.topk(logprobs, 20, dim=-1).indices
    for _ in range(20):
        picks = select_tokens(logprobs, greedy=False, top_k=20, top_p=1.0, generator=gen)
        assert (allowed_k == picks.unsqueeze(-1)).any(-1).all()
    # top-p alone, nucleus wider than the first topk cap (256): exact vs a full sort
    sorted_lp, order = torch.sort(logprobs, dim=-1, descending=True)
    p = sorted_lp.exp()
    keep = (p.cumsum(-1) - p) < 0.9
    for _ in range(20):
        picks = select_tokens(logprobs, greedy=False, top_k=0, top_p=0.9, generator=gen)
        rank = (order == picks.unsqueeze(-1)).float().argmax(-1)
        assert keep.gather(-1, rank.unsqueeze(-1)).all()
    assert keep.sum(-1).min() > 256  # the adaptive widening was exercised


def test_select_greedy_and_seeded() -> None:
    logprobs = torch.log_softmax(torch.randn(8, 100), dim=-1)
    greedy = select_tokens(logprobs, greedy=True, top_k=5, top_p=0.5, generator=None)
    assert torch.equal(greedy, logprobs.argmax(-1))
    a = select_tokens(
        logprobs, greedy=False, top_k=0, top_p=1.0, generator=torch.Generator().manual_seed(3)
    )
    b = select_tokens(
        logprobs, greedy=False, top_k=0, top_p=1.0, generator=torch.Generator().manual_seed(3)
    )
    assert torch.equal(a, b)


def test_sample_step_reuses_one_log_softmax() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 300, generator=gen) * 3
    choice = sample_step(logits, temperature=0.7, top_k=20, top_p=0.9, top_j=5, generator=gen)
    logprobs = torch.log_softmax(logits / 0.7, dim=-1)  # after temperature, before truncation
    expected_lp = logprobs.gather(-1, choice.token_ids_B.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(choice.logprobs_B, expected_lp, atol=1e-6)
    assert torch.allclose(choice.entropy_B, entropy_from_logprobs(logprobs), atol=1e-5)
    assert torch.allclose(choice.confidence_B, topj_confidence(logprobs, 5), atol=1e-5)
    greedy = sample_step(logits, temperature=0.0, top_k=0, top_p=1.0, top_j=20, generator=None)
    assert torch.equal(greedy.token_ids_B, logits.argmax(-1))


@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p"),
    [(1.0, 0, 1.0), (0.7, 0, 1.0), (0.6, 20, 0.95), (0.0, 0, 1.0)],
)
def test_workspace_gives_the_same_step(temperature: float, top_k: int, top_p: float) -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 300, generator=gen) * 3
    logits[:, :3] = -math.inf  # banned tokens must not give NaN entropy
    uniforms = torch.rand(6, generator=gen)
    kw: dict[str, Any] = dict(
        temperature=temperature, top_k=top_k, top_p=top_p, top_j=20, generator=None
    )
    plain = sample_step(logits, uniforms_B=uniforms, **kw)
    ws = SamplingWorkspace()
    first = sample_step(logits, uniforms_B=uniforms, workspace=ws, **kw)
    sample_step(torch.randn(4, 300), uniforms_B=uniforms[:4], workspace=ws, **kw)  # reuse
    for a, b in [
        (plain.token_ids_B, first.token_ids_B),
        (plain.logprobs_B, first.logprobs_B),
        (plain.entropy_B, first.entropy_B),
        (plain.confidence_B, first.confidence_B),
    ]:
        assert torch.allclose(a.float(), b.float(), atol=1e-6)  # and not overwritten by reuse
    assert not plain.entropy_B.isnan().any()


# --------------------------------------------------------------------------- HF decode loop


def test_is_a_sampler(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    assert isinstance(HFSampler(model, tok), Sampler)


def test_kv_cached_greedy_matches_full_forward(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    sampler = HFSampler(model, tok)
    params = default_sampling(temperature=0.0, max_new_tokens=12, stop=())
    outputs = sampler.generate(PROMPTS, params)
    assert len({len(o.prompt_token_ids) for o in outputs}) == len(PROMPTS)  # left padding used
    for out in outputs:
        assert len(out.token_ids) > 0
        logprobs_T_V = full_forward_logprobs(model, out.prompt_token_ids, out.token_ids)
        assert logprobs_T_V.argmax(-1).tolist() == out.token_ids
        chosen = logprobs_T_V.gather(-1, torch.tensor(out.token_ids).unsqueeze(-1)).squeeze(-1)
        assert torch.allclose(torch.tensor(out.logprobs), chosen, atol=1e-4)
        # min-max over near-identical steps magnifies float noise between the two forwards;
        # the streaming form itself equals the offline one exactly (tests/algo).
        m_T = uncertainty_sequence(logprobs_T_V, alpha=params.alpha, j=params.top_j)
        assert torch.allclose(torch.tensor(out.uncertainty), m_T, atol=1e-2)
        assert out.forced_mask == [False] * len(out.token_ids)
        assert out.tti_fired_at is None


def test_sampled_logprobs_match_full_forward(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    sampler = HFSampler(model, tok)
    params = default_sampling(temperature=1.3, max_new_tokens=16, stop=(), seed=7)
    for out in sampler.generate(PROMPTS, params):
        logprobs_T_V = torch.log_softmax(
            full_forward_logprobs(model, out.prompt_token_ids, out.token_ids) / 1.3, dim=-1
        )
        chosen = logprobs_T_V.gather(-1, torch.tensor(out.token_ids).unsqueeze(-1)).squeeze(-1)
        assert torch.allclose(torch.tensor(out.logprobs), chosen, atol=1e-4)


def test_prompt_ids_come_from_the_chat_template(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    out = HFSampler(model, tok).generate(PROMPTS[:1], default_sampling(max_new_tokens=1))[0]
    text = tok.apply_chat_template(PROMPTS[0], add_generation_prompt=True, tokenize=False)
    assert out.prompt_token_ids == ids_of(tok, text)
    assert tok.decode(out.prompt_token_ids).endswith("<|im_start|>assistant\n")


def test_same_seed_same_outputs(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    sampler = HFSampler(model, tok)
    params = default_sampling(temperature=1.0, max_new_tokens=20, stop=(), seed=123)
    a = sampler.generate(PROMPTS, params)
    b = sampler.generate(PROMPTS, params)
    assert a == b
    c = sampler.generate(PROMPTS, default_sampling(temperature=1.0, max_new_tokens=20, seed=124))
    assert [o.token_ids for o in a] != [o.token_ids for o in c]


def test_chunking_does_not_change_greedy_outputs(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    params = default_sampling(temperature=0.0, max_new_tokens=10)
    one_batch = HFSampler(model, tok).generate(PROMPTS, params)
    chunked = HFSampler(model, tok, max_batch_size=3).generate(PROMPTS, params)
    assert [o.token_ids for o in chunked] == [o.token_ids for o in one_batch]
    assert all(
        torch.allclose(torch.tensor(x.logprobs), torch.tensor(y.logprobs), atol=1e-5)
        for x, y in zip(chunked, one_batch, strict=True)
    )


def test_finished_rows_compaction_is_exact(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    params = default_sampling(temperature=1.0, max_new_tokens=14, stop=(), seed=5)
    free = HFSampler(model, tok, eos_token_ids=[]).generate(PROMPTS, params)
    # Make rows 0 and 1 end early (half the batch, so it compacts) while row 3 runs on:
    # declare as "eos" one token each of them emits and row 3 never does.
    keep_going = set(free[3].token_ids)
    eos = {next(t for t in free[r].token_ids if t not in keep_going) for r in (0, 1)}
    compact = HFSampler(model, tok, eos_token_ids=eos, compact=True).generate(PROMPTS, params)
    wide = HFSampler(model, tok, eos_token_ids=eos, compact=False).generate(PROMPTS, params)
    assert len(compact[3].token_ids) == 14
    assert len(compact[0].token_ids) < 14 and len(compact[1].token_ids) < 14
    for x, y in zip(compact, wide, strict=True):
        assert x.token_ids == y.token_ids and x.finish_reason == y.finish_reason
        assert torch.allclose(torch.tensor(x.logprobs), torch.tensor(y.logprobs), atol=1e-5)
        # A smaller batch changes float reduction order in the matmuls: ~1e-6 differences.
        assert torch.allclose(torch.tensor(x.uncertainty), torch.tensor(y.uncertainty), atol=1e-5)


def test_max_new_tokens_gives_length(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    sampler = HFSampler(model, tok, eos_token_ids=[])
    outputs = sampler.generate(PROMPTS, default_sampling(max_new_tokens=5, stop=(), seed=0))
    for out in outputs:
        assert out.finish_reason == FinishReason.length
        assert len(out.token_ids) == len(out.logprobs) == len(out.uncertainty) == 5


def test_model_mode_is_restored(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    model.train()
    HFSampler(model, tok).generate(PROMPTS[:1], default_sampling(max_new_tokens=2))
    assert model.training
    model.eval()


def test_stops_at_action_close(tiny: tuple[Any, Any]) -> None:
    _, tok = tiny
    script = ids_of(tok, "<think>ok</think><action>go north</action> and more text")
    sampler = HFSampler(ScriptedLogitsLM(script, len(tok)), tok)
    out = sampler.generate(PROMPTS, default_sampling(temperature=0.0, max_new_tokens=40))
    for o in out:
        assert o.finish_reason == FinishReason.stop
        assert o.text == "<think>ok</think><action>go north</action>"
        assert o.token_ids == script[: script.index(ids_of(tok, "</action>")[0]) + 1]


def test_stops_at_eos_and_drops_it_from_text(tiny: tuple[Any, Any]) -> None:
    _, tok = tiny
    script = [*ids_of(tok, "<action>look"), tok.eos_token_id, *ids_of(tok, "</action>")]
    out = HFSampler(ScriptedLogitsLM(script, len(tok)), tok).generate(
        PROMPTS[:2], default_sampling(temperature=0.0, max_new_tokens=40)
    )
    for o in out:
        assert o.finish_reason == FinishReason.eos
        assert o.text == "<action>look"
        assert o.token_ids == script[:-1]  # EOS kept in the ids, for the trainer


def test_multi_token_stop_string_matched_on_text(tiny: tuple[Any, Any]) -> None:
    _, tok = tiny
    stop = "box 2."
    assert len(ids_of(tok, stop)) > 1
    script = ids_of(tok, "I open the box 2. Then I look inside the box.")
    out = HFSampler(ScriptedLogitsLM(script, len(tok)), tok).generate(
        PROMPTS[:1], default_sampling(temperature=0.0, max_new_tokens=40, stop=(stop,))
    )[0]
    assert out.finish_reason == FinishReason.stop
    assert out.text.endswith(stop) and out.text.count(stop) == 1


def test_tti_fires_on_flat_uncertainty(tiny: tuple[Any, Any]) -> None:
    _, tok = tiny
    word = ids_of(tok, " box")
    assert len(word) == 1
    script = ids_of(tok, "<think>") + word * 60
    tti = default_tti(l_min=8, window=2, eps=1e-4, l_max=450)
    params = default_sampling(temperature=0.0, max_new_tokens=20, tti=tti)
    out = HFSampler(ScriptedLogitsLM(script, len(tok)), tok).generate(PROMPTS[:2], params)
    forced_ids = ids_of(tok, tti.forced_text)
    for o in out:
        # M is flat (1 - α) from t=0; the window of 3 deltas is full at t=3; L_min = 8
        assert o.uncertainty == pytest.approx([0.6] * 20)
        assert o.tti_fired_at == 8
        n = len(forced_ids)
        assert o.token_ids[8 : 8 + n] == forced_ids
        assert o.forced_mask == [False] * 8 + [True] * n + [False] * (20 - 8 - n)
        assert o.logprobs[8 : 8 + n] == [0.0] * n
        assert all(lp < 0 for lp in o.logprobs[8 + n :])  # back to sampling (prob < 1)
        assert "</think>\n<action>" in o.text


def test_tti_with_multi_token_markers(tiny: tuple[Any, Any]) -> None:
    """Markers that are not single tokens (as with most tokenizers) work id by id."""
    _, tok = tiny
    tti = default_tti(
        l_min=8,
        window=2,
        eps=1e-4,
        forced_text="[/T] <action>",
        think_open="[T]",
        think_close="[/T]",
    )
    open_ids, forced_ids = ids_of(tok, tti.think_open), ids_of(tok, tti.forced_text)
    assert len(open_ids) > 1 and len(forced_ids) > 2
    script = open_ids + ids_of(tok, " box") * 60
    params = default_sampling(temperature=0.0, max_new_tokens=24, tti=tti)
    out = HFSampler(ScriptedLogitsLM(script, len(tok)), tok).generate(PROMPTS[:1], params)[0]
    assert out.tti_fired_at == 8
    n = len(forced_ids)
    assert out.token_ids[8 : 8 + n] == forced_ids
    assert out.forced_mask == [False] * 8 + [True] * n + [False] * (24 - 8 - n)


def test_tti_l_max_with_a_real_model(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    tok = copy.deepcopy(tok)
    # a template that opens thinking in the generation prompt (as DeepSeek-R1's does)
    tok.chat_template = tok.chat_template.replace(
        "'<|im_start|>assistant\\n'", "'<|im_start|>assistant\\n<think>'"
    )
    tti = default_tti(l_min=2, window=3, eps=0.0, l_max=6)  # eps = 0: only L_max can fire
    params = default_sampling(temperature=0.0, max_new_tokens=12, stop=(), tti=tti)
    sampler = HFSampler(model, tok, eos_token_ids=[])
    forced_ids = ids_of(tok, tti.forced_text)
    close_id = ids_of(tok, "</think>")[0]
    for o in sampler.generate(PROMPTS, params):
        assert close_id not in o.token_ids[:6]  # the model did not close thinking itself
        assert o.tti_fired_at == 6
        assert o.token_ids[6:9] == forced_ids
        assert o.forced_mask[6:9] == [True, True, True] and not any(o.forced_mask[9:])
        assert o.logprobs[6:9] == [0.0, 0.0, 0.0]
        assert not any(math.isnan(m) for m in o.uncertainty)


def test_tti_off_when_params_tti_is_none(tiny: tuple[Any, Any]) -> None:
    _, tok = tiny
    script = ids_of(tok, "<think>") + ids_of(tok, " box") * 30
    out = HFSampler(ScriptedLogitsLM(script, len(tok)), tok).generate(
        PROMPTS[:1], default_sampling(temperature=0.0, max_new_tokens=20)
    )[0]
    assert out.tti_fired_at is None and not any(out.forced_mask)


def test_bad_params_are_readable_errors(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    sampler = HFSampler(model, tok)
    with pytest.raises(ValueError, match="top_j"):
        sampler.generate(PROMPTS[:1], default_sampling(top_j=1))
    with pytest.raises(ValueError, match="top_p"):
        sampler.generate(PROMPTS[:1], default_sampling(top_p=0.0))
