"""Scripted Sokoban expert: optimal BFS plan plus a short templated thought per move.

The thought walks through the decision in small steps a small model can imitate, always
with the same template. Positions are ``(row,col)`` counted from 1 at the top-left cell of
the grid (border included)::

    box (3,4) to target (3,2): push left from (3,5). you (4,5): move up.
    box (3,4) to target (3,2): push left from (3,5). you (3,5): move left.

"box" is the box the plan pushes next, "target" the target that box ends on, "from" the cell
the player must stand on to push, and the last word is the action.
"""

from __future__ import annotations

from typing import Any

from t2po.envs.base import ExpertStep
from t2po.envs.sokoban.render import parse_text
from t2po.envs.sokoban.room import Direction, Pos, Room, move
from t2po.envs.sokoban.solver import solve

_DELTA: dict[Direction, tuple[int, int]] = {
    Direction.up: (-1, 0),
    Direction.down: (1, 0),
    Direction.left: (0, -1),
    Direction.right: (0, 1),
}


def fmt(pos: Pos) -> str:
    """1-based ``(row,col)`` as shown to the agent."""
    return f"({pos[0] + 1},{pos[1] + 1})"


def explain(room: Room, plan: list[Direction]) -> str:
    """The thought for the first move of ``plan`` (an optimal plan from ``room``)."""
    if room.solved:
        return "all boxes are on targets."
    if not plan:
        return f"you {fmt(room.player)}: no box can reach a target from here."
    # Find the next push, then follow that box to where the plan leaves it.
    state, push_dir = room, plan[0]
    box: Pos | None = None
    tracked: Pos | None = None
    rest: list[Direction] = []
    for i, direction in enumerate(plan):
        result = move(state, direction)
        state = result.room
        if result.pushed_from is not None:
            box, push_dir, rest = result.pushed_from, direction, plan[i + 1 :]
            tracked = result.pushed_to
            break
    if box is None or tracked is None:  # pragma: no cover - a plan from an unsolved room pushes
        return f"you {fmt(room.player)}: move {plan[0].value}."
    for direction in rest:
        result = move(state, direction)
        state = result.room
        if result.pushed_from == tracked and result.pushed_to is not None:
            tracked = result.pushed_to
    dr, dc = _DELTA[push_dir]
    push_from = (box[0] - dr, box[1] - dc)
    return (
        f"box {fmt(box)} to target {fmt(tracked)}: push {push_dir.value} from {fmt(push_from)}. "
        f"you {fmt(room.player)}: move {plan[0].value}."
    )


class SokobanExpert:
    """Implements ``t2po.envs.base.Expert`` for ``SokobanEnv``.

    It reads the state from the state text (``info["anchor"]``, which is the observation text
    in text mode and stays the state when the agent sees only an image), so it also works
    from any state an agent (or a human asking for a hint) reached; it re-plans whenever the
    state is not the one its plan expected.
    """

    def __init__(self, env: Any = None) -> None:
        self.env = env  # unused: the observation carries the whole state
        self._plan: list[Direction] = []
        self._expected: Room | None = None

    def act(self, observation: dict[str, Any], info: dict[str, Any]) -> ExpertStep:
        room = parse_text(str(info.get("anchor", observation["text"])))
        if room != self._expected or not self._plan:
            self._plan = solve(room) or []
        if not self._plan:
            thought = explain(room, [])
            action = next((d for d in Direction if move(room, d).moved), Direction.up)
            self._expected = None
            return ExpertStep(thought=thought, action=action.value)
        thought = explain(room, self._plan)
        action = self._plan.pop(0)
        self._expected = move(room, action).room
        return ExpertStep(thought=thought, action=action.value)

    def slip_thought(self, thought: str, action: str) -> str:
        """The thought of a teacher whose decision slipped to ``action`` at the last word.

        The plan part stays; only the final ``move X`` changes, so the response still acts on
        its thought (a slipping cold-start teacher, ``t2po.rollout.expert``).
        """
        head, found, _ = thought.rpartition("move ")
        return f"{head}move {action}." if found else thought
