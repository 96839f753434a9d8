"""The ``native`` engine: ALFWorld's text game as a small pure-Python state machine.

Each command is one of the ALFRED PDDL domain's actions (``alfworld/data/alfred.pddl``) with
its preconditions and effects written out; the admissible commands are exactly the grounded
actions whose preconditions hold, as TextWorld lists them for the real engine:

* ``go to R``: any receptacle but the current one;
* ``open R`` / ``close R``: at an openable R that is closed / open;
* ``take O from R``: at R (open if openable), hands empty, O pickupable and in R;
* ``move O to R``: holding O, at R (open if openable), R's type can contain O's type;
* ``heat|cool|clean O with R``: holding a heatable|coolable|cleanable O at a
  Microwave|Fridge|SinkBasin (closed or not);
* ``use O``: a toggleable O in the receptacle the agent is at;
* ``slice O with K``: holding a knife K, a sliceable O in a receptacle at the agent's place;
* ``examine R`` at R, ``examine O`` for the held O; ``inventory``, ``look`` and ``help`` always.

Anything else changes nothing and reads "Nothing happens.". ``tests/envs/household`` replays
the same commands on the real engine and compares text, admissible sets and state.
"""

from __future__ import annotations

from collections.abc import Callable

from t2po.envs.household import text
from t2po.envs.household.vocab import CLEANER, COOLER, HEATER, KNIVES
from t2po.envs.household.world import Task, WorldState, goal_met


class NativeEngine:
    """One episode of one task; ``reset`` then ``step`` commands."""

    name = "native"

    def __init__(self) -> None:
        self._task: Task | None = None
        self._state: WorldState | None = None
        self._actions: dict[str, Callable[[], str]] | None = None
        self.won = False

    @property
    def task(self) -> Task:
        if self._task is None:
            raise RuntimeError("call reset() first")
        return self._task

    @property
    def state(self) -> WorldState:
        if self._state is None:
            raise RuntimeError("call reset() first")
        return self._state

    def reset(self, task: Task) -> str:
        self._task, self._state = task, WorldState.initial(task)
        self._actions, self.won = None, False
        return text.intro(task, self._state)

    def admissible(self) -> list[str]:
        return sorted(self._grounded())

    def step(self, command: str) -> str:
        """Apply ``command``; returns the feedback text (``won`` is updated)."""
        effect = self._grounded().get(command)
        if effect is None:
            return text.NOTHING_HAPPENS
        feedback = effect()
        self._actions = None
        self.won = goal_met(self.task, self.state)
        return feedback

    def close(self) -> None:
        """Nothing to release (same interface as the alfworld engine)."""

    # -- grounding --------------------------------------------------------------------------

    def _grounded(self) -> dict[str, Callable[[], str]]:
        if self._actions is None:
            self._actions = self._ground()
        return self._actions

    def _ground(self) -> dict[str, Callable[[], str]]:
        task, state = self.task, self.state
        here, held = state.location, state.holding
        actions: dict[str, Callable[[], str]] = {
            "help": lambda: text.HELP_TEXT,
            "inventory": lambda: text.inventory(state),
            "look": lambda: text.look(task, state),
        }
        for rec in task.receptacles:
            if rec.name != here:
                actions[f"go to {rec.name}"] = self._goto(rec.name)
        if held is not None:
            actions[f"examine {held}"] = lambda: text.describe_object(task, state, held)
        if here is None:
            return actions
        actions[f"examine {here}"] = lambda: text.describe_receptacle(task, state, here)
        openable = task.openable(here)
        accessible = not openable or here in state.opened
        if openable:
            if here in state.opened:
                actions[f"close {here}"] = self._close(here)
            else:
                actions[f"open {here}"] = self._open(here)
        here_type = task.receptacle_type(here)
        inside_here = [o for o, r in state.inside.items() if r == here]
        for obj in inside_here:
            kind = task.kind(obj)
            if held is None and accessible and kind.pickupable:
                actions[f"take {obj} from {here}"] = self._take(obj, here)
            if kind.toggleable:
                actions[f"use {obj}"] = self._toggle(obj)
        if held is None:
            return actions
        held_kind = task.kind(held)
        if accessible and here_type in held_kind.containers:
            actions[f"move {held} to {here}"] = self._put(held, here)
        appliance = {
            HEATER: ("heat", held_kind.heatable),
            COOLER: ("cool", held_kind.coolable),
            CLEANER: ("clean", held_kind.cleanable),
        }.get(here_type)
        if appliance is not None and appliance[1]:
            actions[f"{appliance[0]} {held} with {here}"] = self._change(appliance[0], held, here)
        if held_kind.name in KNIVES:
            for obj in inside_here:
                if task.kind(obj).sliceable:
                    actions[f"slice {obj} with {held}"] = self._slice(obj, held)
        return actions

    # -- effects (each returns the feedback text) ------------------------------------------

    def _goto(self, rec: str) -> Callable[[], str]:
        def effect() -> str:
            self.state.location = rec
            return f"You arrive at {rec}. {text.describe_receptacle(self.task, self.state, rec)}"

        return effect

    def _open(self, rec: str) -> Callable[[], str]:
        def effect() -> str:
            self.state.opened.add(rec)
            return f"You open the {rec}. {text.describe_receptacle(self.task, self.state, rec)}"

        return effect

    def _close(self, rec: str) -> Callable[[], str]:
        def effect() -> str:
            self.state.opened.discard(rec)
            return f"You close the {rec}."

        return effect

    def _take(self, obj: str, rec: str) -> Callable[[], str]:
        def effect() -> str:
            del self.state.inside[obj]
            self.state.holding = obj
            return f"You pick up the {obj} from the {rec}."

        return effect

    def _put(self, obj: str, rec: str) -> Callable[[], str]:
        def effect() -> str:
            self.state.inside[obj] = rec
            self.state.holding = None
            return f"You move the {obj} to the {rec}."

        return effect

    def _change(self, verb: str, obj: str, rec: str) -> Callable[[], str]:
        def effect() -> str:
            state = self.state
            if verb == "heat":
                state.hot.add(obj)
                state.cool.discard(obj)
            elif verb == "cool":
                state.cool.add(obj)
                state.hot.discard(obj)
            else:
                state.clean.add(obj)
            return f"You {verb} the {obj} using the {rec}."

        return effect

    def _toggle(self, obj: str) -> Callable[[], str]:
        def effect() -> str:
            # ALFRED's ToggleObject sets isToggled for good (isOn flips, but no goal or text
            # reads isOn), so the feedback condition "istoggled" always holds afterwards.
            self.state.toggled.add(obj)
            return f"You turn on the {obj}."

        return effect

    def _slice(self, obj: str, knife: str) -> Callable[[], str]:
        def effect() -> str:
            self.state.sliced.add(obj)
            return f"You sliced the {obj} with the {knife}."

        return effect
