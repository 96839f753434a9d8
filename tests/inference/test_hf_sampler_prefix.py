"""HFSampler's prefill with the shared prompt prefix run once: the tokens and log-probs of
running every row whole, for rows of different lengths (pads between prefix and own tokens),
with finished rows dropped from the batch, and with TTI forcing tokens."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from conftest import default_sampling, default_tti, small_tiny

from t2po.inference import HFSampler
from t2po.models.shared_prefix import MIN_SHARED_PREFIX, shared_prefix_len
from t2po.types import Message

CORPUS = [
    "You are an agent in a room. Think, then act with one action per turn.",
    "<think>The box is closed, so I open it.</think><action>open box 2</action>",
    "You see a table 1 and a box 2. Your task is to: open the box. go north 0 1 2 3 4 5",
] * 4

SYSTEM = "You are an agent in a room. Think, then act with one action per turn."
PROMPTS: list[list[Message]] = [
    [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
    for user in (
        "open the box",
        "You see a table 1 and a box 2. Your task is to: open the box.",
        "go north",
        "You see a box 2.",
    )
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    return small_tiny(tmp_path_factory.mktemp("tiny") / "model", CORPUS)


def both(tiny: tuple[Any, Any], params: Any, **kwargs: Any) -> tuple[list[Any], list[Any]]:
    model, tok = tiny
    whole = HFSampler(model, tok, share_prefix=False, **kwargs).generate(PROMPTS, params)
    shared = HFSampler(model, tok, share_prefix=True, **kwargs).generate(PROMPTS, params)
    return whole, shared


def assert_same(whole: list[Any], shared: list[Any]) -> None:
    for a, b in zip(whole, shared, strict=True):
        assert b.prompt_token_ids == a.prompt_token_ids
        assert b.token_ids == a.token_ids
        assert b.forced_mask == a.forced_mask
        assert b.finish_reason == a.finish_reason
        assert torch.allclose(torch.tensor(b.logprobs), torch.tensor(a.logprobs), atol=1e-5)
        assert torch.allclose(torch.tensor(b.uncertainty), torch.tensor(a.uncertainty), atol=1e-3)


def test_the_prompts_share_a_prefix_worth_sharing(tiny: tuple[Any, Any]) -> None:
    _, tok = tiny
    ids = [
        tok(tok.apply_chat_template(p, add_generation_prompt=True, tokenize=False))["input_ids"]
        for p in PROMPTS
    ]
    assert len({len(i) for i in ids}) == len(PROMPTS)  # own parts of different lengths
    assert shared_prefix_len(ids, min(len(i) for i in ids) - 1) >= MIN_SHARED_PREFIX


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_shared_prefill_samples_the_whole_row_tokens(
    tiny: tuple[Any, Any], temperature: float
) -> None:
    params = default_sampling(temperature=temperature, max_new_tokens=16, stop=(), seed=4)
    assert_same(*both(tiny, params))


def test_shared_prefill_with_rows_dropped_early(tiny: tuple[Any, Any]) -> None:
    params = default_sampling(temperature=1.0, max_new_tokens=14, stop=(), seed=5)
    free = HFSampler(*tiny, eos_token_ids=[], share_prefix=False).generate(PROMPTS, params)
    # rows 0 and 1 end at a token row 3 never emits: half the batch ends, so it compacts
    keep_going = set(free[3].token_ids)
    eos = {next(t for t in free[r].token_ids if t not in keep_going) for r in (0, 1)}
    whole, shared = both(tiny, params, eos_token_ids=eos)
    assert any(len(o.token_ids) < 14 for o in whole)
    assert_same(whole, shared)


def test_shared_prefill_with_tti_forcing(tiny: tuple[Any, Any]) -> None:
    # eps above any mean |dM| fires TTI as soon as L_min allows: forced tokens in every row
    tti = default_tti(l_min=3, window=2, eps=10.0, l_max=100)
    params = default_sampling(temperature=1.0, max_new_tokens=12, stop=(), seed=6, tti=tti)
    model, tok = tiny
    tok = _think(tok)
    whole = HFSampler(model, tok, share_prefix=False).generate(PROMPTS, params)
    shared = HFSampler(model, tok, share_prefix=True).generate(PROMPTS, params)
    assert any(any(o.forced_mask) for o in whole)
    assert_same(whole, shared)


def _think(tokenizer: Any) -> Any:
    """A copy of the tokenizer whose generation prompt opens ``<think>`` (TTI watches)."""
    tok = copy.deepcopy(tokenizer)
    gen = "'<|im_start|>assistant\\n'"
    assert gen in tok.chat_template
    tok.chat_template = tok.chat_template.replace(gen, "'<|im_start|>assistant\\n<think>'")
    return tok
