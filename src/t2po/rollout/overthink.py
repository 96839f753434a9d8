"""An *overthinking* cold-start teacher: the expert's thought, then a redundant tail.

T2PO's token-level claim (method.md §3) is that Thinking Intervention cuts thinking that has
stopped carrying information. A scripted expert writes a dozen tokens and stops, which leaves
TTI nothing to cut; this teacher makes a model that rambles *after* deciding. Each turn's
thought keeps the expert's text first, unchanged (so the decision is written before any
rambling, and the action is the expert's own), then runs on with numbered re-checks that
restate the state and repeat the decision:

    <think>current 3, target 7: go up. re-check 1/4: Target: 7 Current: 3. again 2/4:
    current 3, target 7: go up. re-check 3/4: Target: 7 Current: 3. again 4/4: current 3,
    target 7: go up.</think><action>+</action>

The tail's length is drawn uniformly in tokens of the policy's tokenizer and rounded to whole
re-checks (the count nearest the draw whose length stays in range). Why whole and numbered:
a tail cut at a random token teaches a per-token chance of closing of about 1/remaining,
and evaluation sampling (temperature 0.6, top-p 0.95) never samples a token that unlikely,
so the fine-tuned model rambled to ``max_new_tokens`` and wrote no action (measured: 256 of
260 tokens per turn, success 0.25). Numbered, the model draws the count once (a near-uniform
choice that sampling keeps) and then only copies and counts, and closes where it said.

The tail is built from the turn's own thought and observation, so it works for every family.
Lengths are drawn per episode from ``derive_seed(seed, "overthink", task seed)``: the same
call gives the same tails.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace

from t2po.response_format import (
    ACTION_CLOSE,
    ACTION_OPEN,
    THINK_CLOSE,
    THINK_OPEN,
    format_response,
    parse_response,
)
from t2po.rollout.engine import derive_seed
from t2po.types import Trajectory

Encode = Callable[[str], list[int]]

_MARKERS = (THINK_OPEN, THINK_CLOSE, ACTION_OPEN, ACTION_CLOSE)


def _one_line(text: str) -> str:
    """``text`` on one line, without the response markers (a tail must not close the thought)."""
    for marker in _MARKERS:
        text = text.replace(marker, " ")
    return " ".join(text.split())


def rambling(thought: str, observation: str, count: int) -> str:
    """``count`` numbered re-checks, restating the state and repeating the thought in turn;
    space-led, so its tokens add to the thought's."""
    thought, state = _one_line(thought), _one_line(observation)
    phrases = [
        f"re-check {i}/{count}: {state}." if i % 2 else f"again {i}/{count}: {thought}"
        for i in range(1, count + 1)
    ]
    return " " + " ".join(phrases)


def overthinking_tail(
    thought: str, observation: str, n_tokens: int, encode: Encode, tokens: tuple[int, int]
) -> str:
    """The tail of whole re-checks whose length (``encode(tail)``) is nearest ``n_tokens``
    among those within ``tokens`` = ``(low, high)``; a ``ValueError`` when none fits (one
    re-check of this state is longer than ``high``)."""
    low, high = tokens
    best: tuple[int, str] | None = None
    count = 1
    while True:
        tail = rambling(thought, observation, count)
        length = len(encode(tail))
        if length > high:
            break
        if length >= low and (best is None or abs(length - n_tokens) < best[0]):
            best = (abs(length - n_tokens), tail)
        count += 1
    if best is None:
        raise ValueError(
            f"no whole number of re-checks of this thought and state is {low}..{high} tokens "
            f"long; widen rft.overthink_tokens (thought {thought!r})"
        )
    return best[1]


def overthink_episodes(
    trajectories: Sequence[Trajectory],
    tokens: tuple[int, int],
    encode: Encode,
    seed: int,
) -> list[Trajectory]:
    """Copies of ``trajectories`` whose every well-formed response has an overthinking tail.

    Args:
        trajectories: teacher episodes (expert or format-only), responses in the strict
            format; a response that does not parse is left as it is.
        tokens: ``(low, high)``, the tail's length in tokens, drawn uniformly (inclusive) and
            rounded to whole re-checks.
        encode: the policy's tokenizer (no special tokens added).
        seed: with each episode's task seed, the stream the lengths are drawn from.
    """
    low, high = tokens
    if not 1 <= low <= high:
        raise ValueError(f"overthinking tail lengths must satisfy 1 <= low <= high, got {tokens}")
    out = []
    for trajectory in trajectories:
        rng = random.Random(derive_seed(seed, "overthink", trajectory.seed))
        turns = []
        for turn in trajectory.turns:
            parsed = parse_response(turn.response_text)
            if parsed.error is not None or parsed.think is None or parsed.action is None:
                turns.append(turn)
                continue
            n_tokens = rng.randint(low, high)
            tail = overthinking_tail(parsed.think, turn.observation, n_tokens, encode, tokens)
            text = format_response(parsed.think + tail, parsed.action)
            turns.append(replace(turn, response_text=text))
        out.append(replace(trajectory, turns=turns))
    return out
