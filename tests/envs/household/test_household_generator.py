"""Household task generator: determinism, held-out splits, task types, never won at start."""

from __future__ import annotations

import pytest

from t2po.envs.household import SPLITS, NativeEngine, TaskType, WorldState, generate_task, goal_met
from t2po.envs.household.generator import layout_is_unseen, layouts, split_of_instance
from t2po.envs.household.vocab import OBJECT_KINDS, RoomKind


def test_same_seed_same_task_and_seeds_differ() -> None:
    for split in SPLITS:
        tasks = [generate_task(split, seed) for seed in range(40)]
        again = [generate_task(split, seed) for seed in range(40)]
        assert [t.signature() for t in tasks] == [t.signature() for t in again]
        assert len({t.signature() for t in tasks}) == 40


def test_splits_are_disjoint() -> None:
    by_split = {s: [generate_task(s, seed) for seed in range(150)] for s in SPLITS}
    signatures = {s: {t.signature() for t in tasks} for s, tasks in by_split.items()}
    assert not signatures["train"] & signatures["valid_seen"]
    assert not signatures["train"] & signatures["valid_unseen"]
    assert not signatures["valid_seen"] & signatures["valid_unseen"]
    # Seen splits share layouts (rooms) but never tasks; the unseen split shares no layout.
    layouts_of = {s: {(t.room, t.layout_id) for t in tasks} for s, tasks in by_split.items()}
    assert layouts_of["train"] & layouts_of["valid_seen"]
    assert not layouts_of["valid_unseen"] & (layouts_of["train"] | layouts_of["valid_seen"])
    for split, tasks in by_split.items():
        assert all(split_of_instance(t) == split for t in tasks)


def test_layouts_are_distinct_and_some_are_held_out() -> None:
    for room in RoomKind:
        pool = layouts(room)
        assert len({lay.signature() for lay in pool}) == len(pool)
        unseen = [lay for lay in pool if layout_is_unseen(lay)]
        assert 0 < len(unseen) < len(pool)


def test_every_task_type_is_generated_and_filters_work() -> None:
    seen_types = {generate_task("train", seed).goal.task_type for seed in range(60)}
    assert seen_types == set(TaskType)
    for task_type in TaskType:
        for seed in range(10):
            task = generate_task("valid_unseen", seed, [task_type.value])
            assert task.goal.task_type == task_type


def test_tasks_are_well_formed_and_not_won_at_start() -> None:
    for seed in range(200):
        task = generate_task("train", seed)
        goal = task.goal
        names = [e.name for e in task.receptacles + task.objects]
        assert len(names) == len(set(names))
        rec_types = {r.type_name for r in task.receptacles}
        for obj, rec in task.start:
            assert task.receptacle_type(rec) in OBJECT_KINDS[task.object_type(obj)].containers
        targets = [o for o in task.objects if o.type_name == goal.object_type]
        assert len(targets) >= (2 if goal.task_type == TaskType.pick_two_obj_and_place else 1)
        if goal.receptacle_type:
            assert goal.receptacle_type in rec_types
        if goal.task_type == TaskType.look_at_obj_in_light:
            assert any(o.type_name == goal.toggle_type for o in task.objects)
        assert not goal_met(task, WorldState.initial(task))
        assert task.description.split()[0] in {
            "put",
            "look",
            "examine",
            "clean",
            "heat",
            "cool",
            "find",
        }


def test_numbering_matches_alfworld_pddl_ids() -> None:
    task = generate_task("train", 3)
    for entity in task.receptacles + task.objects:
        # ALFWorld's demangler numbers sorted ids from the highest number down.
        same = sorted(
            e.pddl_id.lower()
            for e in task.receptacles + task.objects
            if e.type_name == entity.type_name
        )
        assert entity.count - same.index(entity.pddl_id.lower()) == entity.number


def test_bad_split_and_task_type_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown split"):
        generate_task("test", 0)
    with pytest.raises(ValueError):
        generate_task("train", 0, ["make_coffee"])


def test_native_engine_rejects_commands_before_reset() -> None:
    with pytest.raises(RuntimeError, match="reset"):
        NativeEngine().step("look")


def test_official_games_missing_say_how_to_get_them(tmp_path) -> None:
    from t2po.envs.household import HouseholdEnv
    from t2po.envs.household.official import official_games

    with pytest.raises(FileNotFoundError, match="alfworld-download"):
        official_games("valid_seen", tmp_path)
    with pytest.raises(ValueError, match="engine='alfworld'"):
        HouseholdEnv(games="official")
    with pytest.raises(ValueError, match="games must be"):
        HouseholdEnv(games="thor")
