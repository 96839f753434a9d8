"""A household task (static facts + goal) and its mutable world state; pure data and logic.

Names are what the agent reads: ``"cabinet 2"``, ``"apple 1"``. Every entity also has the
ALFRED-style PDDL id the ``alfworld`` engine uses (``Cabinet_bar_001``); ALFWorld's demangler
numbers the ids of one name in sorted order from the highest number down, so an entity that
should read ``cabinet k`` out of ``n`` cabinets gets the id suffix ``n - k`` (``pddl_id``).
Text lists (the room overview, a receptacle's contents) come in sorted-id order, as in
ALFWorld; ``sort_key`` is that order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from t2po.envs.household.vocab import OBJECT_KINDS, OPENABLE, ObjectKind, TaskType


@dataclass(frozen=True)
class Entity:
    """A receptacle or an object: its type, its number among its type, and how many there are."""

    type_name: str  # ALFRED type: "CounterTop"
    number: int  # 1-based, as shown: "countertop 1"
    count: int  # entities of this type in the room (fixes the PDDL id numbering)

    @property
    def name(self) -> str:
        return f"{self.type_name.lower()} {self.number}"

    @property
    def pddl_id(self) -> str:
        suffix = f"{self.count - self.number:03d}"
        if self.type_name.endswith("Basin"):
            # ALFRED writes basins as "Sink|...|SinkBasin"; the demangler appends "basin".
            return f"{self.type_name[: -len('Basin')]}_bar_{suffix}_bar_{self.type_name}"
        return f"{self.type_name}_bar_{suffix}"

    @property
    def sort_key(self) -> str:
        return self.pddl_id.lower()


@dataclass(frozen=True)
class Goal:
    """What wins: ALFRED's ``pddl_params`` for the task type."""

    task_type: TaskType
    object_type: str  # "Mug"
    receptacle_type: str = ""  # "CoffeeMachine" ("" for look_at_obj_in_light)
    toggle_type: str = ""  # "DeskLamp" for look_at_obj_in_light

    def describe(self, template: int = 0) -> str:
        """The goal sentence (ALFWorld's two templates per type; ``template`` picks one)."""
        obj, recep = self.object_type.lower(), self.receptacle_type.lower()
        toggle = self.toggle_type.lower()
        choices = {
            TaskType.pick_and_place_simple: (
                f"put a {obj} in {recep}",
                f"put some {obj} on {recep}",
            ),
            TaskType.look_at_obj_in_light: (
                f"look at {obj} under the {toggle}",
                f"examine the {obj} with the {toggle}",
            ),
            TaskType.pick_clean_then_place_in_recep: (
                f"put a clean {obj} in {recep}",
                f"clean some {obj} and put it in {recep}",
            ),
            TaskType.pick_heat_then_place_in_recep: (
                f"put a hot {obj} in {recep}",
                f"heat some {obj} and put it in {recep}",
            ),
            TaskType.pick_cool_then_place_in_recep: (
                f"put a cool {obj} in {recep}",
                f"cool some {obj} and put it in {recep}",
            ),
            TaskType.pick_two_obj_and_place: (
                f"put two {obj} in {recep}",
                f"find two {obj} and put them in {recep}",
            ),
        }[self.task_type]
        return choices[template % 2]


@dataclass(frozen=True)
class Task:
    """Everything fixed for one episode: the room, where objects start, and the goal."""

    room: str  # RoomKind value
    layout_id: int
    receptacles: tuple[Entity, ...]  # sorted by sort_key
    objects: tuple[Entity, ...]  # sorted by sort_key
    start: tuple[tuple[str, str], ...]  # (object name, receptacle name)
    goal: Goal
    description: str  # "put a clean mug in coffeemachine"

    def kind(self, object_name: str) -> ObjectKind:
        return OBJECT_KINDS[self.object_type(object_name)]

    def object_type(self, object_name: str) -> str:
        return self._types[object_name]

    def receptacle_type(self, receptacle_name: str) -> str:
        return self._types[receptacle_name]

    def openable(self, receptacle_name: str) -> bool:
        return self._types[receptacle_name] in OPENABLE

    @property
    def _types(self) -> dict[str, str]:
        cached = self.__dict__.get("_type_cache")
        if cached is None:
            cached = {e.name: e.type_name for e in self.receptacles + self.objects}
            object.__setattr__(self, "_type_cache", cached)
        return cached

    def signature(self) -> str:
        """A canonical text of the whole task (equal signatures = the same task)."""
        recs = ",".join(e.name for e in self.receptacles)
        start = ",".join(f"{o}@{r}" for o, r in sorted(self.start))
        return f"{self.room}|{recs}|{start}|{self.description}"


@dataclass
class WorldState:
    """What changes during an episode. ``location`` None = the middle of the room."""

    location: str | None
    holding: str | None
    inside: dict[str, str]  # object name -> receptacle name (held objects are absent)
    opened: set[str] = field(default_factory=set)
    hot: set[str] = field(default_factory=set)
    cool: set[str] = field(default_factory=set)
    clean: set[str] = field(default_factory=set)
    sliced: set[str] = field(default_factory=set)
    toggled: set[str] = field(default_factory=set)

    @classmethod
    def initial(cls, task: Task) -> WorldState:
        return cls(location=None, holding=None, inside=dict(task.start))

    def copy(self) -> WorldState:
        return WorldState(
            self.location,
            self.holding,
            dict(self.inside),
            set(self.opened),
            set(self.hot),
            set(self.cool),
            set(self.clean),
            set(self.sliced),
            set(self.toggled),
        )

    def anchor(self) -> str:
        """Canonical text of the state (GiGPO's anchor: equal text = the same state)."""

        def names(items: set[str]) -> str:
            return ",".join(sorted(items))

        contents = ";".join(f"{o}>{r}" for o, r in sorted(self.inside.items()))
        return (
            f"at={self.location or 'middle'}|hold={self.holding or 'nothing'}|"
            f"open={names(self.opened)}|hot={names(self.hot)}|cool={names(self.cool)}|"
            f"clean={names(self.clean)}|sliced={names(self.sliced)}|"
            f"toggled={names(self.toggled)}|in={contents}"
        )


def goal_met(task: Task, state: WorldState) -> bool:
    """ALFWorld's goal formulas (``alfworld.gen.goal_library``) evaluated on ``state``."""
    goal = task.goal
    if goal.task_type == TaskType.look_at_obj_in_light:
        holding_target = (
            state.holding is not None and task.object_type(state.holding) == goal.object_type
        )
        lamp_here = any(
            task.object_type(o) == goal.toggle_type and o in state.toggled and r == state.location
            for o, r in state.inside.items()
        )
        return holding_target and lamp_here
    needed: set[str] | None = {
        TaskType.pick_clean_then_place_in_recep: state.clean,
        TaskType.pick_heat_then_place_in_recep: state.hot,
        TaskType.pick_cool_then_place_in_recep: state.cool,
    }.get(goal.task_type)
    per_receptacle: dict[str, int] = {}
    for obj, rec in state.inside.items():
        if task.object_type(obj) != goal.object_type:
            continue
        if task.receptacle_type(rec) != goal.receptacle_type:
            continue
        if needed is not None and obj not in needed:
            continue
        per_receptacle[rec] = per_receptacle.get(rec, 0) + 1
    want = 2 if goal.task_type == TaskType.pick_two_obj_and_place else 1
    return any(n >= want for n in per_receptacle.values())
