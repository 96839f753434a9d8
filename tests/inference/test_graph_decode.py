"""The ``graph`` decode backend run eagerly on CPU: the same tokens as the eager loop.

The CUDA-graph capture itself is tested in ``tests/gpu/test_graph_decode_cuda.py``; here the
sync-free step, the static KV cache, the bucket padding, the stream rewind and the host-side
checks (stop strings on text, ``on_step``, per-row seeds) are compared with
``decode_backend="eager"`` on the same tiny model and seeds, token for token.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
from conftest import default_sampling, default_tti, small_tiny

from t2po.inference import HFSampler
from t2po.inference.graph_decode import batch_bucket, check_backend
from t2po.inference.sampling import select_tokens
from t2po.types import Message

CORPUS = [
    "You see a box 2.\nYour task is to: open the box.",
    "<think>The box is closed, so I open it.</think><action>open box 2</action>",
    "<think>Now I look inside.</think><action>go north</action>",
] * 4

PROMPTS: list[list[Message]] = [
    [{"role": "user", "content": "open the box"}],
    [{"role": "user", "content": "You see a table 1 and a box 2. Your task is to open it."}],
    [{"role": "user", "content": "go"}],
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    return small_tiny(tmp_path_factory.mktemp("tiny") / "model", CORPUS)


def _think(tokenizer: Any) -> Any:
    """A copy of the tokenizer whose generation prompt opens ``<think>`` (TTI watches)."""
    import copy

    tok = copy.deepcopy(tokenizer)
    gen = "'<|im_start|>assistant\\n'"
    assert gen in tok.chat_template
    tok.chat_template = tok.chat_template.replace(gen, "'<|im_start|>assistant\\n<think>'")
    return tok


def _assert_same(eager: list[Any], graph: list[Any]) -> None:
    assert len(eager) == len(graph)
    for a, b in zip(eager, graph, strict=True):
        assert b.token_ids == a.token_ids
        assert b.text == a.text
        assert b.finish_reason == a.finish_reason
        assert b.forced_mask == a.forced_mask
        assert b.tti_fired_at == a.tti_fired_at
        # static vs growing attention sums the same terms in another order: float noise
        assert torch.allclose(torch.tensor(b.logprobs), torch.tensor(a.logprobs), atol=1e-4)
        assert torch.allclose(torch.tensor(b.uncertainty), torch.tensor(a.uncertainty), atol=1e-3)


SETTINGS = {
    "untruncated": {"temperature": 1.0},
    "top_p_alone": {"temperature": 1.0, "top_p": 0.7},
    "top_k_top_p": {"temperature": 0.7, "top_k": 20, "top_p": 0.8},
    "greedy": {"temperature": 0.0},
}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_graph_backend_samples_the_eager_tokens(tiny: tuple[Any, Any], name: str) -> None:
    model, tok = tiny
    params = default_sampling(max_new_tokens=20, seed=3, **SETTINGS[name])
    eager = HFSampler(model, tok).generate(PROMPTS, params)
    _assert_same(eager, HFSampler(model, tok, decode_backend="graph").generate(PROMPTS, params))


def test_tti_fires_and_forces_as_in_the_eager_loop(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    tok = _think(tok)
    # eps above any mean |ΔM| fires after L_min; L_max catches the rest
    tti = default_tti(l_min=3, window=2, eps=0.5, l_max=8)
    params = default_sampling(temperature=1.0, max_new_tokens=24, stop=(), seed=1, tti=tti)
    prompts = PROMPTS * 2  # 6 rows: a bucket of 8 with two padding rows
    eager = HFSampler(model, tok, eos_token_ids=[]).generate(prompts, params)
    graph = HFSampler(model, tok, eos_token_ids=[], decode_backend="graph")
    out = graph.generate(prompts, params)
    _assert_same(eager, out)
    assert sum(o.tti_fired_at is not None for o in out) >= 3
    assert any(any(o.forced_mask) for o in out)


def test_the_shared_stream_is_left_where_the_eager_loop_leaves_it(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    eager = HFSampler(model, tok, seed=11)
    graph = HFSampler(model, tok, seed=11, decode_backend="graph")
    early = 0
    for i in range(4):  # no params.seed: every call continues the sampler's own stream
        params = default_sampling(temperature=1.0, max_new_tokens=40, stop=(), seed=None)
        prompts = PROMPTS[i % 3 : i % 3 + 1]
        a, b = eager.generate(prompts, params), graph.generate(prompts, params)
        _assert_same(a, b)
        early += all(len(o.token_ids) < 40 for o in a)
        assert torch.equal(graph._generator.get_state(), eager._generator.get_state())
    assert early >= 1  # some call ended before its budget: the rewind was needed


def test_row_seeds_text_stops_and_on_step_match(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    params = default_sampling(temperature=1.0, max_new_tokens=16, stop=("</action>", "box"), seed=5)
    steps: dict[str, list[tuple[int, list[int | None]]]] = {"eager": [], "graph": []}
    outs = {}
    for backend in ("eager", "graph"):
        sampler = HFSampler(model, tok, decode_backend=backend, max_batch_size=2)
        outs[backend] = sampler.generate(
            PROMPTS,
            params,
            seeds=[7, None, 9],
            on_step=lambda row, ids, k=backend: steps[k].append((row, ids)),
        )
    _assert_same(outs["eager"], outs["graph"])
    assert steps["graph"] == steps["eager"] and steps["eager"]


def test_slots_are_reused_and_reset_between_calls(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    params = default_sampling(temperature=1.0, max_new_tokens=12, seed=2)
    graph = HFSampler(model, tok, decode_backend="graph")
    first = graph.generate(PROMPTS, params)
    other = dataclasses.replace(params, seed=8)
    graph.generate(PROMPTS[:2], other)  # a smaller batch in another bucket
    _assert_same(first, graph.generate(PROMPTS, params))
    assert graph._graph is not None and len(graph._graph._slots) == 2


def test_eager_attention_gets_an_additive_mask(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    import copy

    model = copy.deepcopy(model)
    model.set_attn_implementation("eager")
    params = default_sampling(temperature=1.0, max_new_tokens=12, seed=4)
    eager = HFSampler(model, tok).generate(PROMPTS, params)
    _assert_same(eager, HFSampler(model, tok, decode_backend="graph").generate(PROMPTS, params))


def test_sync_free_nucleus_draws_what_the_widening_search_draws() -> None:
    gen = torch.Generator().manual_seed(0)
    logprobs_B_V = torch.log_softmax(3 * torch.randn(16, 2000, generator=gen), dim=-1)
    # near-flat rows make the eager search widen to V (exact ties may be ordered otherwise)
    logprobs_B_V[:2] = torch.log_softmax(0.01 * torch.randn(2, 2000, generator=gen), dim=-1)
    u_B = torch.rand(16, generator=gen)
    kwargs: dict[str, Any] = {"greedy": False, "top_k": 0, "generator": None, "uniforms_B": u_B}
    for top_p in (0.3, 0.9, 0.999):
        widening = select_tokens(logprobs_B_V, top_p=top_p, **kwargs)
        at_once = select_tokens(logprobs_B_V, top_p=top_p, sync_free=True, **kwargs)
        assert torch.equal(widening, at_once)


def test_buckets_and_backend_names() -> None:
    assert [batch_bucket(b) for b in (1, 2, 3, 4, 5, 32, 33)] == [1, 2, 4, 4, 8, 32, 64]
    assert check_backend("graph") == "graph"
    with pytest.raises(ValueError, match="choose one of"):
        check_backend("cuda_graph")
