"""Grading Sokoban moves against the solver (t2po.envs.sokoban.moves), by hand."""

from __future__ import annotations

import pytest

from t2po.envs.sokoban.moves import (
    MoveGrade,
    grade_episodes,
    grade_move,
    optimal_moves,
    thought_agrees,
)
from t2po.envs.sokoban.render import parse_text

# Player (2,4) under the top wall with a wall to the right; box (3,4), target (4,3).
# Shortest plan: down (push), right, down, left (push): 4 moves.
CORNERED = """\
# # # # # #
# _ _ P # #
# _ _ X _ #
# _ O _ _ #
# _ # _ _ #
# # # # # #"""

# Pushing the box left puts it against the left wall, away from the target: a deadlock.
OPEN = """\
# # # # # #
# _ _ _ _ #
# _ X P _ #
# _ _ _ O #
# _ _ _ _ #
# # # # # #"""


def test_grades_by_hand() -> None:
    room = parse_text(CORNERED)
    assert grade_move(room, "down") is MoveGrade.optimal
    assert grade_move(room, "right") is MoveGrade.bump  # into the wall: nothing changes
    assert grade_move(room, "up") is MoveGrade.bump
    assert grade_move(room, "left") is MoveGrade.detour
    assert grade_move(room, "jump") is MoveGrade.invalid
    assert grade_move(room, None) is MoveGrade.invalid
    open_room = parse_text(OPEN)
    assert grade_move(open_room, "left") is MoveGrade.deadlock
    cornered_box = OPEN.replace("# _ _ _ _ #", "# X _ _ _ #", 1).replace(
        "# _ X P _ #", "# _ _ P _ #"
    )
    assert grade_move(parse_text(cornered_box), "up") is MoveGrade.already_dead


def test_thought_agreement() -> None:
    said = "<think>box (3,4) to target (4,3): push down from (2,4). you (2,4): move down.</think>"
    assert thought_agrees(said, "down") is True
    assert thought_agrees(said, "left") is False
    assert thought_agrees("<think>no plan</think>", "left") is None
    assert thought_agrees(None, "left") is None


def test_grade_episodes_rates() -> None:
    said_down = "<think>you (2,4): move down.</think><action>down</action>"
    episodes = [
        {
            "won": False,
            "turns": [
                {"observation": CORNERED, "response": said_down, "action": "right"},  # bump
                {"observation": CORNERED, "response": said_down, "action": "down"},  # optimal
            ],
        },
        {"won": True, "turns": [{"observation": OPEN, "response": "x", "action": "left"}]},
    ]
    rates = grade_episodes(episodes)
    assert rates["success"] == 0.5 and rates["turns"] == 1.5
    assert rates["bump"] == rates["optimal"] == rates["deadlock"] == pytest.approx(1 / 3)
    assert sum(rates[g.value] for g in MoveGrade) == pytest.approx(1.0)
    assert rates["agrees"] == 0.5  # the third turn's thought names no move
    with pytest.raises(ValueError, match="no episodes"):
        grade_episodes([])


def test_optimal_moves_lists_every_shortest_first_move() -> None:
    assert optimal_moves(parse_text(CORNERED)) == ["down"]
    # Player (2,2), box (3,3), target (4,4): 5 moves either way. "right" then push down,
    # step around (left, down) and push right; or "down" then push right, step around
    # (up, right) and push down. Up or left only walk away.
    two_ways = """\
# # # # # #
# _ _ _ _ #
# _ P _ _ #
# _ _ X _ #
# _ _ _ O #
# # # # # #"""
    assert optimal_moves(parse_text(two_ways)) == ["down", "right"]
    lost = OPEN.replace("# _ _ _ _ #", "# X _ _ _ #", 1)  # a box in a corner: unsolvable
    assert optimal_moves(parse_text(lost)) == []
