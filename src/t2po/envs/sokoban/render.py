"""Presentation of a Sokoban room: text grid (what the agent reads) and RGB image.

Text grid: one line per row, cells separated by one space::

    # # # # # #
    # _ _ _ _ #
    # _ P X O #
    # _ _ _ _ #
    # _ _ _ _ #
    # # # # # #

Symbols (all ASCII, one byte each): ``#`` wall, ``_`` floor, ``O`` target, ``X`` box,
``*`` box on a target, ``P`` player, ``S`` player standing on a target.

Why spaces between cells: byte-level BPE tokenizers (GPT-2, Qwen) pre-split text before each
space, so a spaced grid gives exactly one token per cell whatever merges the tokenizer learned;
an unspaced row such as ``#__XO#`` can merge into multi-cell tokens, and then a small model
must count characters inside tokens to know where the box is. Floor is ``_`` rather than a
space so that no cell is whitespace (whitespace gets stripped and merged).
"""

from __future__ import annotations

import numpy as np

from t2po.envs.sokoban.room import Pos, Room

WALL = "#"
FLOOR = "_"
TARGET = "O"
BOX = "X"
BOX_ON_TARGET = "*"
PLAYER = "P"
PLAYER_ON_TARGET = "S"
SYMBOLS = frozenset({WALL, FLOOR, TARGET, BOX, BOX_ON_TARGET, PLAYER, PLAYER_ON_TARGET})
LEGEND = (
    f"{WALL} wall, {FLOOR} floor, {TARGET} target, {BOX} box, {BOX_ON_TARGET} box on target, "
    f"{PLAYER} you, {PLAYER_ON_TARGET} you on target"
)
POSITIONS_PREFIX = "you "
TEXT_CHARSET = frozenset(
    SYMBOLS
    | {" ", "\n", "(", ")", ",", ";"}
    | set("0123456789")
    | set("abcdefghijklmnopqrstuvwxyz")
)


def max_text_length(height: int, width: int, num_boxes: int = 1) -> int:
    """Upper bound on the observation text of a ``height`` x ``width`` room."""
    grid = height * (2 * width - 1) + (height - 1)
    # "you (r,c); boxes (r,c) ...; targets (r,c) ..." with up to 2-digit coordinates
    positions = len("you (99,99); boxes; targets") + 2 * num_boxes * len(" (99,99)")
    return grid + 1 + positions


def _fmt(pos: Pos) -> str:
    return f"({pos[0] + 1},{pos[1] + 1})"


def render_positions(room: Room) -> str:
    """One line listing the 1-based (row,col) of the player, the boxes and the targets.

    The grid alone makes a reader count cells; this line states what the expert's thought
    reads off, so small models can learn the task from positions as well as from the picture.
    """
    boxes = " ".join(_fmt(p) for p in sorted(room.boxes))
    targets = " ".join(_fmt(p) for p in sorted(room.targets))
    return f"{POSITIONS_PREFIX}{_fmt(room.player)}; boxes {boxes}; targets {targets}"


def render_observation(room: Room) -> str:
    """What the agent reads: the grid, then the positions line."""
    return render_text(room) + "\n" + render_positions(room)


def cell_symbol(room: Room, pos: Pos) -> str:
    if pos in room.walls:
        return WALL
    on_target = pos in room.targets
    if pos == room.player:
        return PLAYER_ON_TARGET if on_target else PLAYER
    if pos in room.boxes:
        return BOX_ON_TARGET if on_target else BOX
    return TARGET if on_target else FLOOR


def render_text(room: Room) -> str:
    """The text grid (no trailing newline)."""
    return "\n".join(
        " ".join(cell_symbol(room, (r, c)) for c in range(room.width)) for r in range(room.height)
    )


def parse_text(text: str) -> Room:
    """Inverse of ``render_text`` (a positions line, if present, is ignored).

    Raises ``ValueError`` on a malformed grid.
    """
    lines = [ln for ln in text.strip("\n").split("\n") if not ln.startswith(POSITIONS_PREFIX)]
    rows = [line.split() for line in lines]
    height, width = len(rows), len(rows[0]) if rows else 0
    if height == 0 or any(len(row) != width for row in rows):
        raise ValueError("not a rectangular Sokoban grid")
    walls, targets, boxes, players = set(), set(), set(), []
    for r, row in enumerate(rows):
        for c, sym in enumerate(row):
            pos = (r, c)
            if sym not in SYMBOLS:
                raise ValueError(f"unknown symbol {sym!r} at row {r + 1} col {c + 1}")
            if sym == WALL:
                walls.add(pos)
            if sym in (TARGET, BOX_ON_TARGET, PLAYER_ON_TARGET):
                targets.add(pos)
            if sym in (BOX, BOX_ON_TARGET):
                boxes.add(pos)
            if sym in (PLAYER, PLAYER_ON_TARGET):
                players.append(pos)
    if len(players) != 1:
        raise ValueError(f"expected one player, found {len(players)}")
    return Room(
        height=height,
        width=width,
        walls=frozenset(walls),
        targets=frozenset(targets),
        boxes=frozenset(boxes),
        player=players[0],
    )


_COLOURS: dict[str, tuple[int, int, int]] = {
    WALL: (96, 64, 48),
    FLOOR: (230, 230, 220),
    TARGET: (240, 180, 180),
    BOX: (200, 150, 50),
    BOX_ON_TARGET: (80, 170, 80),
    PLAYER: (60, 90, 200),
    PLAYER_ON_TARGET: (120, 60, 200),
}


def render_rgb(room: Room, cell_px: int = 16) -> np.ndarray:
    """A flat-colour ``(H*cell_px, W*cell_px, 3)`` uint8 image (one colour per symbol).

    Placeholder for the vision task family, which may draw sprites instead.
    """
    image = np.zeros((room.height * cell_px, room.width * cell_px, 3), dtype=np.uint8)
    for r in range(room.height):
        for c in range(room.width):
            colour = _COLOURS[cell_symbol(room, (r, c))]
            image[r * cell_px : (r + 1) * cell_px, c * cell_px : (c + 1) * cell_px] = colour
    return image
