"""The project's shared vocabulary: plain data, no behaviour.

One name per idea (see ``architecture.md``): a *task* is one seeded instance, a *group* is
``G`` episodes of the same task, a *turn* is one model response plus one environment step.
Everything here is a dataclass or a ``StrEnum`` so it serialises to JSON and logs as text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

if TYPE_CHECKING:
    import numpy as np


class StopReason(StrEnum):
    """Why an episode ended."""

    success = "success"
    failure = "failure"  # the environment ended the episode without a win
    max_turns = "max_turns"
    max_tokens = "max_tokens"
    parse_error = "parse_error"
    env_error = "env_error"
    timeout = "timeout"


class FinishReason(StrEnum):
    """Why the sampler stopped generating one response."""

    stop = "stop"  # the stop text (``</action>``) was produced
    eos = "eos"  # the model's end-of-sequence token
    length = "length"  # ``max_new_tokens`` reached
    error = "error"  # a remote sampler failed for this request


class Message(TypedDict):
    """One chat message, as in the OpenAI and Hugging Face chat formats."""

    role: str
    content: str
    # Pictures shown with the text (RGB uint8 (H, W, 3), oldest first): a vision-language
    # model reads them through its processor (t2po.inference.vision), an API model as
    # image_url parts. Absent in text prompts.
    images: NotRequired[list[np.ndarray]]


@dataclass(frozen=True)
class SamplerOutput:
    """One generated response and everything the trainer and telemetry need about it.

    All per-token lists have the same length ``T`` (the response length in tokens).
    """

    text: str
    prompt_token_ids: list[int]
    token_ids: list[int]
    logprobs: list[float]  # log-prob of each emitted token under the sampling distribution
    uncertainty: list[float]  # M_t per token (method.md §2); 0.0 where not computed
    forced_mask: list[bool]  # True where TTI forced the token (method.md §3)
    tti_fired_at: int | None  # index of the first forced token, or None
    finish_reason: FinishReason


@dataclass
class Turn:
    """One model response and the environment step it produced."""

    observation: str  # the raw observation the model acted on (no history, no template)
    anchor: str  # raw state text for GiGPO anchor-state step groups
    prompt_text: str
    response_text: str
    prompt_token_ids: list[int]
    response_token_ids: list[int]
    logprobs: list[float]
    uncertainty: list[float]
    forced_mask: list[bool]
    tti_fired_at: int | None
    phi: float  # turn signal Φ (method.md §4)
    tds_resamples: int  # how many times TDS sampled this turn again
    action: str | None  # the parsed action, None when the response was malformed
    action_valid: bool  # strict format and accepted by the environment
    reward: float  # environment reward, invalid-action penalty included
    done: bool
    parse_error: str | None = None
    # The picture the model acted on (uint8 (H, W, 3), ``obs["image"]``) when the environment
    # shows one (env.kwargs.obs_mode image or text+image); None for text observations. Kept
    # out of JSON records: transcripts reference it by path, never inline the pixels.
    image: np.ndarray | None = None
    # Every picture in the turn's prompt, oldest first (the last is ``image``; earlier ones
    # are kept by env.image_history > 1): what the trainer feeds the model again. Empty for
    # text prompts; never in JSON records.
    prompt_images: list[np.ndarray] = field(default_factory=list)


@dataclass
class Trajectory:
    """One episode: the turns of one rollout of a task."""

    task_id: str
    seed: int
    turns: list[Turn] = field(default_factory=list)
    stop_reason: StopReason | None = None
    won: bool = False
    info: dict[str, Any] = field(default_factory=dict)  # final env info (task metrics)

    @property
    def episode_return(self) -> float:
        return sum(t.reward for t in self.turns)


@dataclass
class TrajectoryGroup:
    """``G`` trajectories of the same task (same seed, same initial state)."""

    task_id: str
    seed: int
    trajectories: list[Trajectory]
