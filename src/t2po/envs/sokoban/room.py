"""Sokoban game logic: an immutable room state and one pure move function.

Positions are ``(row, col)`` pairs counted from 0 at the top-left corner of the grid,
border walls included. (Text shown to the agent counts from 1; see ``expert.py``.)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

Pos = tuple[int, int]


class Direction(StrEnum):
    """The four actions; the value is the canonical action text."""

    up = "up"
    down = "down"
    left = "left"
    right = "right"

    @property
    def delta(self) -> Pos:
        return _DELTAS[self]


_DELTAS: dict[Direction, Pos] = {
    Direction.up: (-1, 0),
    Direction.down: (1, 0),
    Direction.left: (0, -1),
    Direction.right: (0, 1),
}

ACTIONS: tuple[str, ...] = tuple(d.value for d in Direction)


def shift(pos: Pos, direction: Direction) -> Pos:
    dr, dc = direction.delta
    return (pos[0] + dr, pos[1] + dc)


def parse_sokoban_action(text: str) -> str | None:
    """Map the text inside ``<action>...</action>`` to ``"up"|"down"|"left"|"right"``.

    Case and surrounding whitespace are ignored, as are surrounding quotes and one trailing
    period (models often write ``"Left."``). Anything else (``"go left"``, ``"l"``, ``""``)
    is ``None``: the rollout engine then counts the turn as an invalid action.
    """
    if not isinstance(text, str):
        return None
    word = text.strip().lower().strip("\"'`").strip()
    if word.endswith("."):
        word = word[:-1].rstrip()
    return word if word in ACTIONS else None


@dataclass(frozen=True)
class Room:
    """One Sokoban state. Cells outside ``walls`` are floor; the border is always wall."""

    height: int
    width: int
    walls: frozenset[Pos]
    targets: frozenset[Pos]
    boxes: frozenset[Pos]
    player: Pos

    @property
    def solved(self) -> bool:
        return self.boxes == self.targets

    @property
    def boxes_on_target(self) -> int:
        return len(self.boxes & self.targets)

    def is_free(self, pos: Pos) -> bool:
        """Floor with no box on it (the player may stand there)."""
        return pos not in self.walls and pos not in self.boxes


@dataclass(frozen=True)
class MoveResult:
    """What one move did. ``room`` is the new state (the old one is never modified)."""

    room: Room
    moved: bool  # False when blocked by a wall or by a box that cannot move
    pushed_from: Pos | None = None  # box position before a push
    pushed_to: Pos | None = None  # box position after a push


def move(room: Room, direction: Direction) -> MoveResult:
    """Walk one cell in ``direction``; walking into a box pushes it if the cell behind is free."""
    nxt = shift(room.player, direction)
    if nxt in room.walls:
        return MoveResult(room, moved=False)
    if nxt in room.boxes:
        beyond = shift(nxt, direction)
        if not room.is_free(beyond):
            return MoveResult(room, moved=False)
        boxes = (room.boxes - {nxt}) | {beyond}
        return MoveResult(
            replace(room, boxes=boxes, player=nxt), moved=True, pushed_from=nxt, pushed_to=beyond
        )
    return MoveResult(replace(room, player=nxt), moved=True)
