"""A ``Task`` as an ALFRED-style PDDL problem and ALFWorld game file; facts back to a state.

The problem uses the real ALFRED domain (``alfworld.info.ALFRED_PDDL_PATH``): the same
predicates ALFWorld's ``initial_state.pddl`` files use (``receptacleType``,
``inReceptacle``, ``canContain``, ``heatable``, ...) and the goal formulas of
``alfworld.gen.goal_library`` for the six task types. The game file is the JSON ALFWorld
itself writes (``pddl_domain``, ``grammar`` with the goal sentence in place of
"UNKNOWN GOAL", ``pddl_problem``, ``solvable``), next to a ``traj_data.json`` with the
task's ``pddl_params`` as ALFWorld's own tools expect. Pure text in, text out: no alfworld
import here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from t2po.envs.household.vocab import OBJECT_KINDS, OPENABLE, TaskType
from t2po.envs.household.world import Task, WorldState

START_LOCATION = "loc_bar_start"


def _location(index: int) -> str:
    return f"loc_bar_{index:03d}"


def goal_formula(task: Task) -> str:
    """The PDDL goal of ``task`` (goal_library's formulas, with ``-`` typing)."""
    goal = task.goal
    obj, rec = f"{goal.object_type}Type", f"{goal.receptacle_type}Type"
    if goal.task_type == TaskType.look_at_obj_in_light:
        return (
            "(and (exists (?ot - object ?r - receptacle ?a - agent ?l - location)"
            f" (and (objectType ?ot {goal.toggle_type}Type) (toggleable ?ot) (isToggled ?ot)"
            " (receptacleAtLocation ?r ?l) (atLocation ?a ?l) (inReceptacle ?ot ?r)))"
            f" (exists (?o - object ?a - agent) (and (objectType ?o {obj}) (holds ?a ?o))))"
        )
    if goal.task_type == TaskType.pick_two_obj_and_place:
        return (
            "(and (exists (?r - receptacle) (exists (?o1 - object) (and"
            f" (objectType ?o1 {obj}) (receptacleType ?r {rec}) (inReceptacle ?o1 ?r)"
            " (exists (?o2 - object) (and (not (= ?o1 ?o2))"
            f" (objectType ?o2 {obj}) (receptacleType ?r {rec}) (inReceptacle ?o2 ?r)))))))"
        )
    state = {
        TaskType.pick_clean_then_place_in_recep: "(cleanable ?o) (isClean ?o)",
        TaskType.pick_heat_then_place_in_recep: "(heatable ?o) (isHot ?o)",
        TaskType.pick_cool_then_place_in_recep: "(coolable ?o) (isCool ?o)",
    }.get(goal.task_type, "")
    return (
        "(and (exists (?r - receptacle) (exists (?o - object) (and"
        f" (inReceptacle ?o ?r) (objectType ?o {obj}) (receptacleType ?r {rec}) {state}))))"
    )


def problem_text(task: Task) -> str:
    """The ALFRED-style PDDL problem of ``task``."""
    ids = {e.name: e.pddl_id for e in task.receptacles + task.objects}
    loc_of = {r.name: _location(i) for i, r in enumerate(task.receptacles)}
    rtypes = sorted({r.type_name for r in task.receptacles} | {task.goal.receptacle_type} - {""})
    otypes = sorted({o.type_name for o in task.objects})
    declared = ["agent1 - agent"]
    declared += [f"{o.pddl_id} - object" for o in task.objects]
    declared += [f"{r.pddl_id} - receptacle" for r in task.receptacles]
    declared += [f"{t}Type - otype" for t in otypes] + [f"{t}Type - rtype" for t in rtypes]
    declared += [f"{START_LOCATION} - location"] + [f"{loc} - location" for loc in loc_of.values()]
    facts = [f"(atLocation agent1 {START_LOCATION})"]
    for rec in task.receptacles:
        facts.append(f"(receptacleType {rec.pddl_id} {rec.type_name}Type)")
        facts.append(f"(receptacleAtLocation {rec.pddl_id} {loc_of[rec.name]})")
        if rec.type_name in OPENABLE:
            facts.append(f"(openable {rec.pddl_id})")
    starts = dict(task.start)
    for obj in task.objects:
        kind = OBJECT_KINDS[obj.type_name]
        facts.append(f"(objectType {obj.pddl_id} {obj.type_name}Type)")
        flags = {
            "pickupable": kind.pickupable,
            "heatable": kind.heatable,
            "coolable": kind.coolable,
            "cleanable": kind.cleanable,
            "sliceable": kind.sliceable,
            "toggleable": kind.toggleable,
            "isReceptacleObject": kind.receptacle_object,
        }
        facts += [f"({flag} {obj.pddl_id})" for flag, on in flags.items() if on]
        rec_name = starts[obj.name]
        facts.append(f"(inReceptacle {obj.pddl_id} {ids[rec_name]})")
        facts.append(f"(objectAtLocation {obj.pddl_id} {loc_of[rec_name]})")
    for rtype in rtypes:
        for otype in otypes:
            if rtype in OBJECT_KINDS[otype].containers:
                facts.append(f"(canContain {rtype}Type {otype}Type)")
    return (
        "(define (problem t2po_household)\n(:domain alfred)\n(:objects\n"
        + "\n".join(declared)
        + "\n)\n(:init\n"
        + "\n".join(facts)
        + f"\n)\n(:goal {goal_formula(task)})\n)\n"
    )


def traj_data(task: Task) -> dict[str, Any]:
    """The parts of ALFRED's ``traj_data.json`` that ALFWorld's tools read."""
    goal = task.goal
    return {
        "task_type": goal.task_type.value,
        "pddl_params": {
            "object_target": goal.object_type,
            "parent_target": goal.receptacle_type,
            "toggle_target": goal.toggle_type,
            "mrecep_target": "",
            "object_sliced": False,
        },
        "turk_annotations": {"anns": [{"task_desc": task.description}]},
    }


def write_game(task: Task, folder: Path, domain: str, grammar: str) -> Path:
    """Write ``game.tw-pddl`` and ``traj_data.json`` for ``task`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    game = {
        "pddl_domain": domain,
        "grammar": grammar.replace("UNKNOWN GOAL", task.description),
        "pddl_problem": problem_text(task),
        "solvable": True,
    }
    path = folder / "game.tw-pddl"
    path.write_text(json.dumps(game))
    (folder / "traj_data.json").write_text(json.dumps(traj_data(task)))
    return path


# -- facts back to a state -------------------------------------------------------------------

Fact = tuple[str, tuple[str, ...]]  # (predicate, argument names), lower case as TextWorld has


def state_from_facts(facts: Iterable[Fact]) -> WorldState:
    """The ``WorldState`` that TextWorld's current facts describe (names already demangled)."""
    facts = list(facts)
    rec_at: dict[str, str] = {}
    agent_at = None
    for name, args in facts:
        if name == "receptacleatlocation":
            rec_at[args[1]] = args[0]
        elif name == "atlocation":
            agent_at = args[1]
    state = WorldState(location=rec_at.get(agent_at or ""), holding=None, inside={})
    sets = {
        "opened": state.opened,
        "ishot": state.hot,
        "iscool": state.cool,
        "isclean": state.clean,
        "issliced": state.sliced,
        "istoggled": state.toggled,
    }
    for name, args in facts:
        if name == "holds":
            state.holding = args[1]
        elif name == "inreceptacle":
            state.inside[args[0]] = args[1]
        elif name in sets:
            sets[name].add(args[0])
    return state
