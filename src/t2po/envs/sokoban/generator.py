"""Seedable procedural Sokoban rooms, solvable by construction.

Recipe (the reverse-play idea of gym-sokoban, Schrader 2018, simplified):

1. an open room of ``dim_room`` cells inside a wall border, plus up to ``max_inner_walls``
   random inner walls that keep the floor connected;
2. boxes start *on* their targets and the player on a random free cell;
3. ``reverse_steps`` random reverse moves: the player steps to a free neighbour and, with
   probability ``pull_prob``, pulls the box behind it along. Every reverse move undoes a legal
   forward move, so the result is solvable;
4. the optimal solution is computed (``solver.solve``); rooms that are solved already, need
   fewer than ``min_pushes`` pushes, or more than ``max_solution_len`` moves are rejected and
   the recipe is repeated with the same random generator.

Everything random comes from one ``numpy.random.Generator``; the same seed gives the same room.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from t2po.envs.sokoban.room import Direction, Pos, Room, move, shift
from t2po.envs.sokoban.solver import solve

_DIRECTIONS = tuple(Direction)


@dataclass(frozen=True)
class RoomSpec:
    """Difficulty knobs of generated rooms (all are ``SokobanEnv`` kwargs)."""

    dim_room: tuple[int, int] = (6, 6)
    """(height, width) including the border walls."""
    num_boxes: int = 1
    """Boxes (and targets) per room."""
    reverse_steps: int = 20
    """Random reverse moves played from the solved state; more gives harder rooms."""
    pull_prob: float = 0.75
    """Probability that a reverse move pulls the box behind the player."""
    max_inner_walls: int = 2
    """Each room gets between 0 and this many walls inside the border."""
    min_pushes: int = 2
    """Reject rooms whose optimal solution pushes fewer times (1 push is too trivial)."""
    max_solution_len: int = 10
    """Reject rooms whose optimal solution has more moves (keeps rooms learnable)."""
    max_attempts: int = 2000
    """Give up (``RuntimeError``) after this many rejected rooms."""

    def __post_init__(self) -> None:
        height, width = self.dim_room
        if height < 4 or width < 4:
            raise ValueError(f"dim_room must be at least (4, 4), got {self.dim_room}")
        if not 1 <= self.num_boxes <= (height - 2) * (width - 2) - 2:
            raise ValueError(f"num_boxes={self.num_boxes} does not fit in {self.dim_room}")
        if not 0.0 <= self.pull_prob <= 1.0:
            raise ValueError(f"pull_prob must be in [0, 1], got {self.pull_prob}")


@dataclass(frozen=True)
class GeneratedRoom:
    room: Room
    solution: tuple[Direction, ...]  # an optimal (fewest moves) plan


def generate_room(spec: RoomSpec, rng: np.random.Generator | int) -> GeneratedRoom:
    """A random solvable room; ``rng`` is a seed or a generator (advanced in place)."""
    gen = np.random.default_rng(rng) if isinstance(rng, int) else rng
    for _ in range(spec.max_attempts):
        room = _reverse_play(spec, gen)
        if room.solved:
            continue
        plan = solve(room)
        if plan is None or len(plan) > spec.max_solution_len:
            continue
        if count_pushes(room, plan) < spec.min_pushes:
            continue
        return GeneratedRoom(room=room, solution=tuple(plan))
    raise RuntimeError(
        f"no room met the limits of {spec} in {spec.max_attempts} attempts; "
        "raise reverse_steps or max_solution_len, or lower min_pushes"
    )


def count_pushes(room: Room, plan: list[Direction] | tuple[Direction, ...]) -> int:
    """How many moves of ``plan`` push a box."""
    pushes = 0
    for direction in plan:
        result = move(room, direction)
        pushes += result.pushed_from is not None
        room = result.room
    return pushes


def _reverse_play(spec: RoomSpec, gen: np.random.Generator) -> Room:
    height, width = spec.dim_room
    walls = _walls(spec, gen)
    floor = [(r, c) for r in range(height) for c in range(width) if (r, c) not in walls]
    picks = gen.choice(len(floor), size=spec.num_boxes + 1, replace=False)
    targets = frozenset(floor[i] for i in picks[:-1])
    player = floor[picks[-1]]
    boxes = set(targets)
    for _ in range(spec.reverse_steps):
        direction = _DIRECTIONS[int(gen.integers(4))]
        nxt = shift(player, direction)
        if nxt in walls or nxt in boxes:
            continue
        behind = (2 * player[0] - nxt[0], 2 * player[1] - nxt[1])
        if behind in boxes and gen.random() < spec.pull_prob:
            boxes.remove(behind)
            boxes.add(player)
        player = nxt
    return Room(height, width, walls, targets, frozenset(boxes), player)


def _walls(spec: RoomSpec, gen: np.random.Generator) -> frozenset[Pos]:
    height, width = spec.dim_room
    border = {(r, c) for r in range(height) for c in range(width)}
    border -= {(r, c) for r in range(1, height - 1) for c in range(1, width - 1)}
    walls = set(border)
    inner = [(r, c) for r in range(1, height - 1) for c in range(1, width - 1)]
    n_inner = int(gen.integers(spec.max_inner_walls + 1))
    for i in gen.permutation(len(inner))[:n_inner]:
        candidate = walls | {inner[int(i)]}
        if _floor_connected(candidate, height, width):
            walls = candidate
    return frozenset(walls)


def _floor_connected(walls: set[Pos], height: int, width: int) -> bool:
    floor = {(r, c) for r in range(height) for c in range(width)} - walls
    start = next(iter(sorted(floor)))
    seen = {start}
    queue = deque([start])
    while queue:
        pos = queue.popleft()
        for direction in _DIRECTIONS:
            nxt = shift(pos, direction)
            if nxt in floor and nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return len(seen) == len(floor)
