"""Presentation of a Sokoban room: text grid (what the agent reads) and RGB image (sees).

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

from functools import lru_cache

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


# Tile colours (RGB). Each tile also has a shape, so the cell types differ in form as well
# as colour; the two "on target" tiles differ in colour from their plain versions, so all
# seven stay distinct even at the smallest cell size.
FLOOR_RGB = (226, 222, 208)
BRICK_RGB = (150, 72, 40)
MORTAR_RGB = (96, 88, 80)
TARGET_RGB = (220, 40, 40)
BOX_RGB = (214, 160, 64)
BOX_EDGE_RGB = (120, 80, 20)
BOX_ON_TARGET_RGB = (90, 180, 90)
BOX_ON_TARGET_EDGE_RGB = (30, 100, 30)
PLAYER_RGB = (40, 80, 210)
PLAYER_ON_TARGET_RGB = (130, 50, 200)
MIN_CELL_SIZE = 4
DEFAULT_CELL_SIZE = 16
IMAGE_LEGEND = (
    "The image shows the room from above: brown bricks are walls, grey is floor, a red "
    "diamond ring is a target, a yellow crate is a box, a green crate is a box on a target, "
    "the blue disc is you (purple when you stand on a target)."
)


def check_cell_size(cell_size: int) -> int:
    if int(cell_size) != cell_size or cell_size < MIN_CELL_SIZE:
        raise ValueError(
            f"cell_size must be an integer >= {MIN_CELL_SIZE} pixels, got {cell_size!r}"
        )
    return int(cell_size)


@lru_cache(maxsize=64)
def _tile_cached(symbol: str, size: int) -> np.ndarray:
    # Pixel centres in [0, 1]^2 so every shape scales with the cell; all geometry is integer
    # or exact float arithmetic on the same grid, so a tile is the same bytes on any machine.
    centres = (np.arange(size) + 0.5) / size
    v, u = np.meshgrid(centres, centres, indexing="ij")
    tile = np.empty((size, size, 3), dtype=np.uint8)
    if symbol == WALL:
        tile[:] = BRICK_RGB
        half, m = max(size // 2, 2), max(1, size // 16)
        y, x = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
        joint_x = np.where(y < half, 0, half)  # bricks offset by half a brick per course
        mortar = (y % half < m) | ((x >= joint_x) & (x < joint_x + m))
        tile[mortar] = MORTAR_RGB
        return tile
    on_target = symbol in (TARGET, BOX_ON_TARGET, PLAYER_ON_TARGET)
    tile[:] = FLOOR_RGB
    if on_target:
        diamond = np.abs(u - 0.5) + np.abs(v - 0.5)
        tile[(diamond >= 0.22) & (diamond <= 0.36)] = TARGET_RGB
    if symbol in (BOX, BOX_ON_TARGET):
        fill, edge = (
            (BOX_ON_TARGET_RGB, BOX_ON_TARGET_EDGE_RGB)
            if symbol == BOX_ON_TARGET
            else (BOX_RGB, BOX_EDGE_RGB)
        )
        cheb = np.maximum(np.abs(u - 0.5), np.abs(v - 0.5))
        tile[cheb <= 0.42] = fill
        cross = (np.abs(u - v) < 0.05) | (np.abs(u + v - 1.0) < 0.05)
        tile[((cheb > 0.32) & (cheb <= 0.42)) | (cross & (cheb <= 0.32))] = edge
    if symbol in (PLAYER, PLAYER_ON_TARGET):
        body = PLAYER_ON_TARGET_RGB if symbol == PLAYER_ON_TARGET else PLAYER_RGB
        tile[(u - 0.5) ** 2 + (v - 0.45) ** 2 <= 0.27**2] = body
        tile[(np.abs(u - 0.5) <= 0.12) & (v >= 0.6) & (v <= 0.85)] = body  # the body below
    return tile


def tile(symbol: str, cell_size: int = DEFAULT_CELL_SIZE) -> np.ndarray:
    """The ``(cell_size, cell_size, 3)`` uint8 picture of one cell type (a read-only array)."""
    if symbol not in SYMBOLS:
        raise ValueError(f"unknown Sokoban symbol {symbol!r}; one of {sorted(SYMBOLS)}")
    image = _tile_cached(symbol, check_cell_size(cell_size))
    image.flags.writeable = False
    return image


def image_shape(
    height: int, width: int, cell_size: int = DEFAULT_CELL_SIZE
) -> tuple[int, int, int]:
    """Shape of ``render_rgb`` for a ``height`` x ``width`` room."""
    return (height * cell_size, width * cell_size, 3)


def render_rgb(room: Room, cell_px: int = DEFAULT_CELL_SIZE) -> np.ndarray:
    """The room as an ``(H*cell_px, W*cell_px, 3)`` uint8 image, one ``tile`` per cell.

    Deterministic: the same room and cell size give the same bytes (no fonts, no
    anti-aliasing, no randomness).
    """
    size = check_cell_size(cell_px)
    image = np.empty(image_shape(room.height, room.width, size), dtype=np.uint8)
    for r in range(room.height):
        for c in range(room.width):
            block = tile(cell_symbol(room, (r, c)), size)
            image[r * size : (r + 1) * size, c * size : (c + 1) * size] = block
    return image
