"""optim.frozen: which parameters RL trains."""

from __future__ import annotations

import pytest
from torch import nn

from t2po.train.params import freeze_matching


def model() -> nn.Module:
    return nn.ModuleDict(
        {"embed_tokens": nn.Embedding(5, 3), "block": nn.Linear(3, 3), "lm_head": nn.Linear(3, 5)}
    )


def test_matching_parameters_are_frozen_and_the_rest_returned():
    m = model()
    trainable = freeze_matching(m, ["embed_tokens", r"^lm_head\.weight$"])
    names = {n for n, p in m.named_parameters() if any(p is t for t in trainable)}
    assert names == {"block.weight", "block.bias", "lm_head.bias"}
    assert not m["embed_tokens"].weight.requires_grad and not m["lm_head"].weight.requires_grad
    assert m["lm_head"].bias.requires_grad


def test_no_patterns_trains_everything():
    m = model()
    assert len(freeze_matching(m, [])) == len(list(m.parameters()))


def test_a_pattern_matching_nothing_names_the_parameters():
    with pytest.raises(ValueError, match=r"'lm_haed'.*embed_tokens\.weight"):
        freeze_matching(model(), ["lm_haed"])
