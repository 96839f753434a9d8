"""``decode_backend="graph"`` on CUDA: the step captured as CUDA graphs (skipped without one).

Capture itself proves the step is sync-free (a host read inside ``torch.cuda.graph`` raises).
The captured decode must sample the tokens of the eager loop on the same device and seeds.
"""

from __future__ import annotations

import pytest
import torch
from conftest import default_sampling, default_tti

from t2po.inference.hf import HFSampler
from t2po.models.loading import load_model_and_tokenizer

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

PROMPTS = [
    [{"role": "user", "content": "# # # #\n# P X O #\n# # # #\nyou (2,2)"}],
    [{"role": "user", "content": "Go to the kitchen and find a mug."}],
    [{"role": "user", "content": "Buy a red shirt under 30 dollars."}],
]


def _same(eager: list, graph: list) -> None:
    for a, b in zip(eager, graph, strict=True):
        assert b.token_ids == a.token_ids
        assert b.finish_reason == a.finish_reason
        assert b.tti_fired_at == a.tti_fired_at
        assert b.forced_mask == a.forced_mask
        assert torch.allclose(torch.tensor(b.logprobs), torch.tensor(a.logprobs), atol=1e-3)


@pytest.mark.parametrize("top_p", [1.0, 0.9])
def test_captured_decode_samples_the_eager_tokens(top_p: float) -> None:
    model, tok = load_model_and_tokenizer("tiny", device="cuda", dtype="float32")
    params = default_sampling(temperature=1.0, top_p=top_p, max_new_tokens=24, stop=(), seed=3)
    eager = HFSampler(model, tok, device="cuda").generate(PROMPTS, params)
    sampler = HFSampler(model, tok, device="cuda", decode_backend="graph")
    _same(eager, sampler.generate(PROMPTS, params))
    assert sampler._graph is not None and sampler._graph.capture
    (slot,) = sampler._graph._slots.values()
    assert set(slot.graphs) == {"ctrl", "step"}  # captured, and replayed on the second call
    _same(eager, sampler.generate(PROMPTS, params))


def test_captured_tti_fires_and_forces_in_bfloat16() -> None:
    model, tok = load_model_and_tokenizer("tiny", device="cuda", dtype="bfloat16")
    tok.chat_template = tok.chat_template.replace(
        "'<|im_start|>assistant\\n'", "'<|im_start|>assistant\\n<think>'"
    )
    tti = default_tti(l_min=2, window=3, eps=0.0, l_max=6)  # only L_max fires, at 6
    params = default_sampling(max_new_tokens=14, stop=(), seed=0, tti=tti)
    sampler = HFSampler(model, tok, device="cuda", eos_token_ids=[], decode_backend="graph")
    outputs = sampler.generate(PROMPTS * 4, params)
    forced = list(tok(tti.forced_text, add_special_tokens=False)["input_ids"])
    close_id = tok.convert_tokens_to_ids("</think>")
    fired = 0
    for out in outputs:
        if close_id in out.token_ids[:6]:
            continue  # closed thinking by itself: nothing to force
        assert out.tti_fired_at == 6
        assert out.token_ids[6 : 6 + len(forced)] == forced
        assert out.logprobs[6 : 6 + len(forced)] == [0.0] * len(forced)
        fired += 1
    assert fired > 0
