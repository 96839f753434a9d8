"""Seeded weight initialisation that does not depend on the installed transformers.

A model built from a config is initialised by the library's own ``_init_weights``, whose
rules and random-number order can change between releases (and a release may initialise on
the meta device first). The tiny model must be the same model on every machine, so after
construction every parameter is overwritten here, each from its own random stream keyed by
``(seed, parameter name)``: the result depends on the seed and the parameter names and
shapes only, not on the order modules were built in or on the global RNG.

The rules follow the usual decoder-only recipe (as Qwen3's config states it): matrices
(linear, convolution and embedding weights) ~ N(0, std²), norm scales = 1, biases = 0. A norm
scale is a 1-D weight whose name says ``norm`` or whose module is a norm layer (class name
ending in ``Norm``: Qwen2.5-VL's vision merger calls its RMSNorm ``ln_q``).
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn


def parameter_stream(seed: int, name: str) -> torch.Generator:
    """A CPU generator for one parameter, seeded from ``(seed, name)`` (stable everywhere)."""
    digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


@torch.no_grad()
def seeded_init_(model: nn.Module, seed: int, std: float) -> nn.Module:
    """Overwrite every parameter of ``model`` in place (see the module doc); returns it.

    Values are drawn in float32 on the CPU and then copied into each parameter's dtype and
    device, so the same seed gives the same weights on any device.
    """
    norm_scales = {
        f"{prefix}.weight" if prefix else "weight"
        for prefix, module in model.named_modules()
        if type(module).__name__.endswith("Norm")
    }
    for name, param in model.named_parameters():
        if param.ndim >= 2:
            noise = torch.randn(param.shape, generator=parameter_stream(seed, name))
            param.copy_(noise * std)
        elif "norm" in name or name in norm_scales:
            param.fill_(1.0)
        else:
            param.zero_()
    return model
