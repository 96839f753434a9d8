"""Optimal Sokoban solver: breadth-first search over (player, boxes) states.

Each move costs 1, so the first solved state found gives a plan with the fewest moves.
Pushes onto "dead" cells (from which no box can reach any target, e.g. a corner without a
target) are pruned; that never removes a solution. Rooms here are small (default 6x6, 1-2
boxes), so plain BFS is fast; ``max_states`` bounds the work on large rooms.
"""

from __future__ import annotations

from collections import deque

from t2po.envs.sokoban.room import Direction, Room

_DIRECTIONS = tuple(Direction)


def live_cells(room: Room) -> frozenset[int]:
    """Cells (as ``row * width + col``) from which a lone box can still be pushed to a target.

    Computed backwards: a box at ``x`` can be pulled to ``x + d`` when ``x + d`` and
    ``x + 2d`` are floor (the player stands at ``x + d`` and steps to ``x + 2d``).
    """
    w = room.width
    floor = _floor_mask(room)
    steps = [d.delta[0] * w + d.delta[1] for d in _DIRECTIONS]
    live = {t[0] * w + t[1] for t in room.targets}
    queue = deque(live)
    while queue:
        x = queue.popleft()
        for s in steps:
            y, z = x + s, x + 2 * s
            if floor[y] and floor[z] and y not in live:
                live.add(y)
                queue.append(y)
    return frozenset(live)


def _floor_mask(room: Room) -> list[bool]:
    w = room.width
    mask = [True] * (room.height * w)
    for r, c in room.walls:
        mask[r * w + c] = False
    return mask


def solve(room: Room, max_states: int = 2_000_000) -> list[Direction] | None:
    """Fewest-moves plan from ``room`` to a solved room; ``[]`` if already solved.

    Returns ``None`` when the room has no solution (or more than ``max_states`` states were
    explored). Border cells must be walls (as every generated room has).
    """
    if room.solved:
        return []
    w = room.width
    floor = _floor_mask(room)
    live = live_cells(room)
    targets = frozenset(t[0] * w + t[1] for t in room.targets)
    steps = [(d, d.delta[0] * w + d.delta[1]) for d in _DIRECTIONS]

    start = (
        room.player[0] * w + room.player[1],
        tuple(sorted(b[0] * w + b[1] for b in room.boxes)),
    )
    parent: dict[tuple[int, tuple[int, ...]], tuple[tuple[int, tuple[int, ...]], Direction]] = {}
    seen = {start}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        player, boxes = state
        for direction, s in steps:
            nxt = player + s
            if not floor[nxt]:
                continue
            new_boxes = boxes
            if nxt in boxes:
                beyond = nxt + s
                if not floor[beyond] or beyond in boxes or beyond not in live:
                    continue
                new_boxes = tuple(sorted(beyond if b == nxt else b for b in boxes))
            new_state = (nxt, new_boxes)
            if new_state in seen:
                continue
            seen.add(new_state)
            parent[new_state] = (state, direction)
            if new_boxes is not boxes and targets.issuperset(new_boxes):
                return _backtrack(parent, start, new_state)
            if len(seen) > max_states:
                return None
            queue.append(new_state)
    return None


def _backtrack(
    parent: dict[tuple[int, tuple[int, ...]], tuple[tuple[int, tuple[int, ...]], Direction]],
    start: tuple[int, tuple[int, ...]],
    end: tuple[int, tuple[int, ...]],
) -> list[Direction]:
    plan: list[Direction] = []
    state = end
    while state != start:
        state, direction = parent[state]
        plan.append(direction)
    plan.reverse()
    return plan
