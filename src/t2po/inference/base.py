"""The sampler contract: chat prompts in, responses with per-token signals out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from t2po.types import Message, SamplerOutput


@dataclass(frozen=True)
class TTIParams:
    """Thinking Intervention settings (method.md §3). Defaults are the paper's."""

    l_min: int = 32  # no intervention before this many response tokens
    window: int = 20  # N: the mean of the last N+1 deltas is compared with eps
    eps: float = 1e-4  # the thought "stopped moving" below this mean |ΔM|
    l_max: int = 450  # hard budget of thinking tokens; reaching it forces the close
    forced_text: str = "</think>\n<action>"
    think_open: str = "<think>"
    think_close: str = "</think>"


@dataclass(frozen=True)
class SamplingParams:
    """How to sample one batch of responses."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = no top-k
    max_new_tokens: int = 128
    stop: tuple[str, ...] = ("</action>",)
    tti: TTIParams | None = None  # None = TTI off
    alpha: float = 0.4  # weight of normalised entropy in M_t (method.md §2)
    top_j: int = 20  # j of the top-j confidence C_t; must be >= 2
    seed: int | None = None  # seeds this call's randomness; None = the sampler's own stream


@runtime_checkable
class Sampler(Protocol):
    """Anything that turns chat prompts into responses (HF model, vLLM, remote API, script)."""

    def generate(
        self, prompts: Sequence[Sequence[Message]], params: SamplingParams
    ) -> list[SamplerOutput]:
        """Generate one response per prompt, in order."""
        ...
