"""An *overthinking* cold-start teacher: the expert's thought, then a redundant tail.

T2PO's token-level claim (method.md §3) is that Thinking Intervention cuts thinking that has
stopped carrying information. A scripted expert writes a dozen tokens and stops, which leaves
TTI nothing to cut; this teacher makes a model that rambles *after* deciding. Each turn's
thought keeps the expert's text first, unchanged (so the decision is written before any
rambling, and the action is the expert's own), then runs on with a tail that restates the
state and re-checks the decision, for a uniformly drawn number of tokens of the policy's
tokenizer:

    <think>current 3, target 7: go up. re-check: Target: 7 Current: 3. current 3, target 7:
    go up. again: current 3, target 7: go up. re-check: Target: 7 Cur</think><action>+</action>

The tail is built from the turn's own thought and observation, so it works for every family.
It is cut at a token boundary, mid-phrase, so the fine-tuned model cannot tell from the text
where the rambling ends: its length is noise, the uncertainty signal's plateau is what TTI
must find. Lengths are drawn per episode from ``derive_seed(seed, "overthink", task seed)``:
the same call gives the same tails.
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
Decode = Callable[[list[int]], str]

_MARKERS = (THINK_OPEN, THINK_CLOSE, ACTION_OPEN, ACTION_CLOSE)


def _one_line(text: str) -> str:
    """``text`` on one line, without the response markers (a tail must not close the thought)."""
    for marker in _MARKERS:
        text = text.replace(marker, " ")
    return " ".join(text.split())


def rambling(thought: str, observation: str, units: int) -> str:
    """``units`` phrases of restating the state and re-checking the thought, space-led."""
    thought, state = _one_line(thought), _one_line(observation)
    phrases = (f"re-check: {state}. {thought}", f"again: {thought}")
    return " " + " ".join(phrases[i % len(phrases)] for i in range(units))


def overthinking_tail(
    thought: str, observation: str, n_tokens: int, encode: Encode, decode: Decode
) -> str:
    """A tail of exactly ``n_tokens`` tokens (``encode(tail)``), starting with a space.

    The first ``n_tokens`` ids of the rambling text, decoded; BPE may merge the cut piece
    differently when it is encoded again, so the cut moves by a token until the count holds.
    """
    if n_tokens < 1:
        raise ValueError(f"an overthinking tail needs at least one token, got {n_tokens}")
    units = 2
    ids = encode(rambling(thought, observation, units))
    while len(ids) < n_tokens + 4:  # the cut below may look a few tokens past n_tokens
        units *= 2
        ids = encode(rambling(thought, observation, units))
    for cut in sorted(range(max(1, n_tokens - 3), n_tokens + 4), key=lambda k: abs(k - n_tokens)):
        tail = decode(ids[:cut])
        if len(encode(tail)) == n_tokens:
            return tail
    raise ValueError(f"no cut of the rambling text encodes to {n_tokens} tokens")


def overthink_episodes(
    trajectories: Sequence[Trajectory],
    tokens: tuple[int, int],
    encode: Encode,
    decode: Decode,
    seed: int,
) -> list[Trajectory]:
    """Copies of ``trajectories`` whose every well-formed response has an overthinking tail.

    Args:
        trajectories: teacher episodes (expert or format-only), responses in the strict
            format; a response that does not parse is left as it is.
        tokens: ``(low, high)``, the tail's length in tokens, drawn uniformly (inclusive).
        encode, decode: the policy's tokenizer (no special tokens added).
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
            tail = overthinking_tail(parsed.think, turn.observation, n_tokens, encode, decode)
            text = format_response(parsed.think + tail, parsed.action)
            turns.append(replace(turn, response_text=text))
        out.append(replace(trajectory, turns=turns))
    return out
