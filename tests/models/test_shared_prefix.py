"""The shared prompt prefix: its length by hand and against a token-by-token loop."""

from __future__ import annotations

import random

import pytest

from t2po.models.shared_prefix import shared_prefix_len
from t2po.train.batch import collate


def loop_prefix_len(rows: list[list[int]], limit: int) -> int:
    """The definition, token by token: the first position where some row differs or ends."""
    n = 0
    while n < limit and all(n < len(r) and r[n] == rows[0][n] for r in rows):
        n += 1
    return n


@pytest.mark.parametrize(
    ("rows", "limit", "expected"),
    [
        ([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9]], 10, 2),  # the third row differs at 2
        ([[1, 2, 3], [1, 2, 3]], 2, 2),  # identical rows: the limit caps it
        ([[1, 2], [1, 2, 3]], 10, 2),  # a row that ends is where the prefix ends
        ([[7, 8, 9]], 10, 3),  # one row shares all of itself
        ([[4, 5], [6, 5]], 10, 0),  # differ at the first token
        ([[1, 2, 3], [1, 2, 3]], 0, 0),
        ([], 5, 0),
    ],
)
def test_shared_prefix_len_by_hand(rows: list[list[int]], limit: int, expected: int) -> None:
    assert shared_prefix_len(rows, limit) == expected


def test_shared_prefix_len_matches_the_loop_on_random_rows() -> None:
    rng = random.Random(0)
    for _ in range(300):
        stem = [rng.randrange(3) for _ in range(rng.randrange(6))]
        rows = [
            stem[: rng.randrange(len(stem) + 1)]
            + [rng.randrange(3) for _ in range(rng.randrange(4))]
            for _ in range(rng.randrange(1, 5))
        ]
        limit = rng.randrange(8)
        assert shared_prefix_len(rows, limit) == loop_prefix_len(rows, limit), (rows, limit)


def test_collate_keeps_every_response_target_after_the_shared_prefix() -> None:
    # Both prompts open with [1, 2, 3]; the shorter has 4 tokens, so its first response target
    # sits at index 3 and the rows' own pass must start at or before it: 3 shared tokens.
    tb = collate([[1, 2, 3, 4, 5], [1, 2, 3, 6]], [[7], [8, 9]], [[True], [True, True]], 0)
    assert tb.shared_prefix_len == 3
    # Identical prompts: everything but the last prompt token is shared.
    tb = collate([[1, 2, 3], [1, 2, 3]], [[7], [8]], [[True], [True]], 0)
    assert tb.shared_prefix_len == 2
