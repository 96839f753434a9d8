"""Seedable household tasks with ALFWorld-like held-out splits.

A *layout* is a furnished room: a room kind, how many receptacles of each type, and which
object types can appear. Each room kind has ``LAYOUTS_PER_ROOM`` distinct layouts; every
``UNSEEN_EVERY``-th one is held out (ALFWorld keeps whole scenes for ``valid_unseen``).

* ``train`` and ``valid_seen`` use the seen layouts; their *task instances* (objects, where
  they start, the goal) are told apart by a hash of the instance's signature, so the two
  splits never share a task;
* ``valid_unseen`` uses only the held-out layouts.

``generate_task(split, seed)`` is deterministic: one ``random.Random`` seeded from the split
name and the seed drives every choice. A task is never won at the start: no object of the
goal type starts in a receptacle of the goal type.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from t2po.envs.household.vocab import (
    CLEANER,
    COOLER,
    HEATER,
    LAMP,
    OBJECT_KINDS,
    ROOM_PLANS,
    RoomKind,
    TaskType,
)
from t2po.envs.household.world import Entity, Goal, Task

SPLITS = ("train", "valid_seen", "valid_unseen")
LAYOUTS_PER_ROOM = 30
UNSEEN_EVERY = 6  # 5 of 30 layouts per room kind are held out
VALID_SEEN_EVERY = 8  # about 1 in 8 seen-layout task instances belongs to valid_seen
MAX_ATTEMPTS = 200

# Which rooms can host which task type (the appliance or lamp it needs must be there).
ROOMS_FOR: dict[TaskType, tuple[RoomKind, ...]] = {
    TaskType.pick_and_place_simple: tuple(RoomKind),
    TaskType.pick_two_obj_and_place: tuple(RoomKind),
    TaskType.look_at_obj_in_light: (RoomKind.livingroom, RoomKind.bedroom),
    TaskType.pick_clean_then_place_in_recep: (RoomKind.kitchen, RoomKind.bathroom),
    TaskType.pick_heat_then_place_in_recep: (RoomKind.kitchen,),
    TaskType.pick_cool_then_place_in_recep: (RoomKind.kitchen,),
}


@dataclass(frozen=True)
class Layout:
    room: RoomKind
    layout_id: int
    receptacle_types: tuple[str, ...]  # one entry per receptacle ("Cabinet" three times, ...)
    object_types: tuple[str, ...]  # object types that may appear in this room

    def signature(self) -> str:
        return f"{self.room}|{','.join(self.receptacle_types)}|{','.join(self.object_types)}"


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


@cache
def layouts(room: RoomKind) -> tuple[Layout, ...]:
    """The room kind's distinct layouts, in a fixed order (layout ids 0, 1, ...)."""
    plan = ROOM_PLANS[room]
    found: list[Layout] = []
    seen: set[str] = set()
    draw = 0
    while len(found) < LAYOUTS_PER_ROOM:
        rng = random.Random(f"layout/{room}/{draw}")
        draw += 1
        types: list[str] = []
        for type_name, low, high in plan.receptacles:
            types += [type_name] * rng.randint(low, high)
        pool = list(plan.objects)
        object_types = sorted(rng.sample(pool, k=max(4, (len(pool) * 2) // 3)))
        layout = Layout(room, len(found), tuple(types), tuple(object_types))
        if layout.signature() not in seen:
            seen.add(layout.signature())
            found.append(layout)
    return tuple(found)


def layout_is_unseen(layout: Layout) -> bool:
    return layout.layout_id % UNSEEN_EVERY == UNSEEN_EVERY - 1


def split_of_instance(task: Task) -> str:
    """``train`` or ``valid_seen`` for a task on a seen layout (``valid_unseen`` otherwise)."""
    if task.layout_id % UNSEEN_EVERY == UNSEEN_EVERY - 1:
        return "valid_unseen"
    return "valid_seen" if _digest(task.signature()) % VALID_SEEN_EVERY == 0 else "train"


def generate_task(
    split: str, seed: int, task_types: Sequence[TaskType | str] | None = None
) -> Task:
    """The task that ``seed`` names in ``split``, restricted to ``task_types`` (None = all)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    types = [TaskType(t) for t in task_types] if task_types else list(TaskType)
    rng = random.Random(f"task/{split}/{seed}")
    for _ in range(MAX_ATTEMPTS):
        task_type = rng.choice(types)
        room = rng.choice(ROOMS_FOR[task_type])
        pool = [lay for lay in layouts(room) if layout_is_unseen(lay) == (split == "valid_unseen")]
        task = _instance(rng.choice(pool), task_type, rng)
        if task is not None and split_of_instance(task) == split:
            return task
    raise RuntimeError(f"no {split} task found for seed {seed} and task types {types}")


def _instance(layout: Layout, task_type: TaskType, rng: random.Random) -> Task | None:
    """One task instance on ``layout``, or None when the draw does not fit the room."""
    rec_types = set(layout.receptacle_types)
    needed = {
        TaskType.pick_clean_then_place_in_recep: CLEANER,
        TaskType.pick_heat_then_place_in_recep: HEATER,
        TaskType.pick_cool_then_place_in_recep: COOLER,
    }.get(task_type)
    if needed is not None and needed not in rec_types:
        return None
    candidates = []
    for obj_type in layout.object_types:
        kind = OBJECT_KINDS[obj_type]
        if task_type == TaskType.pick_clean_then_place_in_recep and not kind.cleanable:
            continue
        if task_type == TaskType.pick_heat_then_place_in_recep and not kind.heatable:
            continue
        if task_type == TaskType.pick_cool_then_place_in_recep and not kind.coolable:
            continue
        homes = [r for r in kind.containers if r in rec_types]
        targets = [r for r in homes if r != needed]
        if task_type == TaskType.look_at_obj_in_light:
            targets = [""]  # the goal has no receptacle
        # The objects must start somewhere that is not a goal receptacle.
        if homes and targets:
            candidates.append((obj_type, targets))
    if not candidates:
        return None
    obj_type, targets = rng.choice(candidates)
    goal_rec = rng.choice(targets)
    starts = [r for r in OBJECT_KINDS[obj_type].containers if r in rec_types and r != goal_rec]
    if not starts:
        return None
    n_targets = (
        rng.randint(2, 3) if task_type == TaskType.pick_two_obj_and_place else rng.randint(1, 2)
    )
    placed: list[tuple[str, str]] = [(obj_type, rng.choice(starts)) for _ in range(n_targets)]
    if task_type == TaskType.look_at_obj_in_light:
        lamp_homes = [r for r in OBJECT_KINDS[LAMP].containers if r in rec_types]
        if not lamp_homes:
            return None
        placed.append((LAMP, rng.choice(lamp_homes)))
    distractor_types = [t for t in layout.object_types if t != obj_type]
    for _ in range(rng.randint(4, 9)):
        d_type = rng.choice(distractor_types)
        homes = [r for r in OBJECT_KINDS[d_type].containers if r in rec_types]
        if homes:
            placed.append((d_type, rng.choice(homes)))
    goal = Goal(task_type, obj_type, goal_rec, LAMP if goal_rec == "" else "")
    return _assemble(layout, placed, goal, rng)


def _numbered(types: Sequence[str], rng: random.Random) -> list[Entity]:
    """Entities for ``types`` (repeats allowed), numbered 1..n per type in a shuffled order."""
    counts = {t: types.count(t) for t in set(types)}
    numbers = {t: rng.sample(range(1, n + 1), n) for t, n in sorted(counts.items())}
    return [Entity(t, numbers[t].pop(), counts[t]) for t in types]


def _assemble(
    layout: Layout, placed: list[tuple[str, str]], goal: Goal, rng: random.Random
) -> Task:
    receptacles = _numbered(layout.receptacle_types, rng)
    by_type: dict[str, list[Entity]] = {}
    for rec in receptacles:
        by_type.setdefault(rec.type_name, []).append(rec)
    objects = _numbered([t for t, _ in placed], rng)
    start = tuple(
        (obj.name, rng.choice(by_type[rec_type]).name)
        for obj, (_, rec_type) in zip(objects, placed, strict=True)
    )
    description = goal.describe(rng.randint(0, 1))
    return Task(
        room=layout.room.value,
        layout_id=layout.layout_id,
        receptacles=tuple(sorted(receptacles, key=lambda e: e.sort_key)),
        objects=tuple(sorted(objects, key=lambda e: e.sort_key)),
        start=start,
        goal=goal,
        description=description,
    )
