"""Scripted household expert: searches like an agent would, then does the task; short thoughts.

It does not peek into receptacles it has not looked into: it keeps the set of receptacles
whose contents it has seen (it stood at them while they were open, or they do not open) and
searches the others in a fixed order, most likely places for the goal object first (the
order of ``ObjectKind.containers``), skipping receptacles of the goal type (a task never
starts with the goal object there). Everything else it reads from the current state, so it
recovers from any state an agent or a human reached (``t2po play household``, ``hint``).

One decision per call; the thought names the sub-goal and the reason, e.g.::

    find mug for coffeemachine: check cabinet 2.
    cabinet 2 is closed: open it.
    mug 1 is in cabinet 2: take it.
    mug 1 must be clean: go to sinkbasin 1.
    mug 1 is ready: move it to coffeemachine 1.
"""

from __future__ import annotations

from typing import Any, Protocol

from t2po.envs.base import ExpertStep
from t2po.envs.household.vocab import CLEANER, COOLER, HEATER, OBJECT_KINDS, TaskType
from t2po.envs.household.world import Task, WorldState

_APPLIANCE: dict[TaskType, tuple[str, str, str]] = {
    # task type -> (appliance type, verb, adjective)
    TaskType.pick_clean_then_place_in_recep: (CLEANER, "clean", "clean"),
    TaskType.pick_heat_then_place_in_recep: (HEATER, "heat", "hot"),
    TaskType.pick_cool_then_place_in_recep: (COOLER, "cool", "cool"),
}


class HouseholdView(Protocol):
    """What the expert reads from the environment."""

    @property
    def task(self) -> Task: ...

    @property
    def world_state(self) -> WorldState: ...


def _changed(task_type: TaskType, state: WorldState, obj: str) -> bool:
    if task_type == TaskType.pick_clean_then_place_in_recep:
        return obj in state.clean
    if task_type == TaskType.pick_heat_then_place_in_recep:
        return obj in state.hot
    if task_type == TaskType.pick_cool_then_place_in_recep:
        return obj in state.cool
    return True


class HouseholdExpert:
    """Implements ``t2po.envs.base.Expert`` for ``HouseholdEnv`` (either engine)."""

    def __init__(self, env: HouseholdView) -> None:
        self.env = env
        self._seen: set[str] = set()

    def act(
        self, observation: dict[str, Any] | None = None, info: dict[str, Any] | None = None
    ) -> ExpertStep:
        task, state = self.env.task, self.env.world_state
        here = state.location
        if here is not None and (not task.openable(here) or here in state.opened):
            self._seen.add(here)
        if state.holding is not None:
            return self._with_object(task, state, state.holding)
        return self._find_object(task, state)

    # -- holding something --------------------------------------------------------------------

    def _with_object(self, task: Task, state: WorldState, held: str) -> ExpertStep:
        goal = task.goal
        if task.object_type(held) != goal.object_type:
            return self._put_away(task, state, held)
        if goal.task_type == TaskType.look_at_obj_in_light:
            return self._use_lamp(task, state, held)
        appliance = _APPLIANCE.get(goal.task_type)
        if appliance is not None and not _changed(goal.task_type, state, held):
            app_type, verb, adjective = appliance
            target = self._first_of_type(task, app_type)
            if state.location != target:
                return ExpertStep(f"{held} must be {adjective}: go to {target}.", f"go to {target}")
            return ExpertStep(f"at {target}: {verb} {held}.", f"{verb} {held} with {target}")
        dest = self._destination(task, state)
        return self._deliver(task, state, held, dest, f"{held} is ready")

    def _use_lamp(self, task: Task, state: WorldState, held: str) -> ExpertStep:
        toggle = task.goal.toggle_type
        lamps = [
            o for o, r in state.inside.items() if task.object_type(o) == toggle and r in self._seen
        ]
        if lamps:
            lamp = min(lamps)
            rec = state.inside[lamp]
            if state.location != rec:
                return ExpertStep(f"{lamp} is on {rec}: go there with {held}.", f"go to {rec}")
            return ExpertStep(f"holding {held} next to {lamp}: turn it on.", f"use {lamp}")
        return self._explore(task, state, toggle.lower(), OBJECT_KINDS[toggle].containers, "")

    def _destination(self, task: Task, state: WorldState) -> str:
        goal = task.goal
        options = [r.name for r in task.receptacles if r.type_name == goal.receptacle_type]
        options.sort(key=lambda name: int(name.rsplit(" ", 1)[1]))
        if goal.task_type == TaskType.pick_two_obj_and_place:
            # The second object goes where the first one is.
            def placed(rec: str) -> int:
                return sum(
                    1
                    for o, r in state.inside.items()
                    if r == rec and task.object_type(o) == goal.object_type
                )

            return max(options, key=placed)
        return options[0]

    def _deliver(self, task: Task, state: WorldState, held: str, dest: str, why: str) -> ExpertStep:
        if state.location != dest:
            return ExpertStep(f"{why}: go to {dest}.", f"go to {dest}")
        if task.openable(dest) and dest not in state.opened:
            return ExpertStep(f"{dest} is closed: open it.", f"open {dest}")
        return ExpertStep(f"{why}: move it to {dest}.", f"move {held} to {dest}")

    def _put_away(self, task: Task, state: WorldState, held: str) -> ExpertStep:
        kind = task.kind(held)
        homes = [r.name for r in task.receptacles if r.type_name in kind.containers]
        # Prefer where the agent stands, then receptacles that need no opening.
        homes.sort(key=lambda r: (r != state.location, task.openable(r), r))
        return self._deliver(task, state, held, homes[0], f"{held} is not needed")

    # -- hands empty ----------------------------------------------------------------------------

    def _find_object(self, task: Task, state: WorldState) -> ExpertStep:
        goal = task.goal
        wanted = [o.name for o in task.objects if o.type_name == goal.object_type]
        if goal.task_type == TaskType.pick_two_obj_and_place:
            dest = self._destination(task, state)
            wanted = [o for o in wanted if state.inside.get(o) != dest]
        known = [o for o in wanted if state.inside.get(o) in self._seen]
        if known:
            # Nearest first: one already here, else the first by name.
            obj = min(known, key=lambda o: (state.inside[o] != state.location, o))
            rec = state.inside[obj]
            if state.location != rec:
                return ExpertStep(f"{obj} is in {rec}: go there.", f"go to {rec}")
            if task.openable(rec) and rec not in state.opened:
                return ExpertStep(f"{rec} is closed: open it.", f"open {rec}")
            return ExpertStep(f"{obj} is in {rec}: take it.", f"take {obj} from {rec}")
        kind = OBJECT_KINDS[goal.object_type]
        purpose = f" for {goal.receptacle_type.lower()}" if goal.receptacle_type else ""
        return self._explore(task, state, goal.object_type.lower(), kind.containers, purpose)

    def _explore(
        self, task: Task, state: WorldState, what: str, containers: tuple[str, ...], purpose: str
    ) -> ExpertStep:
        rank = {t: i for i, t in enumerate(containers)}
        order = sorted(
            (
                r
                for r in task.receptacles
                if r.type_name in rank and r.type_name != task.goal.receptacle_type
            ),
            key=lambda r: (rank[r.type_name], r.number),
        )
        for rec in order:
            if rec.name in self._seen:
                continue
            if state.location != rec.name:
                return ExpertStep(f"find {what}{purpose}: check {rec.name}.", f"go to {rec.name}")
            return ExpertStep(f"{rec.name} is closed: open it.", f"open {rec.name}")
        return ExpertStep(f"no {what} found: look around.", "look")

    def _first_of_type(self, task: Task, type_name: str) -> str:
        return min(
            (r for r in task.receptacles if r.type_name == type_name), key=lambda r: r.number
        ).name
