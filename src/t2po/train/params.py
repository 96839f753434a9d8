"""Which of the policy's parameters RL updates (``optim.frozen``)."""

from __future__ import annotations

import re

from torch import nn


def freeze_matching(model: nn.Module, patterns: list[str]) -> list[nn.Parameter]:
    """Turn off gradients of parameters whose name matches a pattern; return the rest.

    Patterns are regular expressions searched in ``named_parameters()`` names. A pattern
    that matches nothing is almost always a typo, so it raises ``ValueError`` listing the
    names rather than silently training everything.
    """
    named = list(model.named_parameters())
    compiled = [re.compile(p) for p in patterns]
    for pattern in compiled:
        if not any(pattern.search(name) for name, _ in named):
            shown = ", ".join(name for name, _ in named[:12])
            more = f" (and {len(named) - 12} more)" if len(named) > 12 else ""
            raise ValueError(
                f"optim.frozen pattern {pattern.pattern!r} matches no parameter; "
                f"names look like: {shown}{more}"
            )
    trainable = []
    for name, param in named:
        if any(p.search(name) for p in compiled):
            param.requires_grad_(False)
        else:
            trainable.append(param)
    return trainable
