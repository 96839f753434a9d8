"""The words the household engines print, matching ALFWorld's grammar (``alfred.twl2``).

Pure functions of a ``Task`` and a ``WorldState``. Wording, list punctuation
("a x, a y, and a z"; "nothing" when empty) and list order (sorted PDDL ids) were checked
against the real ``alfworld`` engine; ``tests/envs/household`` keeps them in parity.
"""

from __future__ import annotations

from collections.abc import Iterable

from t2po.envs.household.world import Task, WorldState

WELCOME = "-= Welcome to TextWorld, ALFRED! =-"
NOTHING_HAPPENS = "Nothing happens."

HELP_TEXT = (
    "Available commands:\n"
    "  look:                             look around your current location\n"
    "  inventory:                        check your current inventory\n"
    "  go to (receptacle):               move to a receptacle\n"
    "  open (receptacle):                open a receptacle\n"
    "  close (receptacle):               close a receptacle\n"
    "  take (object) from (receptacle):  take an object from a receptacle\n"
    "  move (object) to (receptacle):  place an object in or on a receptacle\n"
    "  examine (something):              examine a receptacle or an object\n"
    "  use (object):                     use an object\n"
    "  heat (object) with (receptacle):  heat an object using a receptacle\n"
    "  clean (object) with (receptacle): clean an object using a receptacle\n"
    "  cool (object) with (receptacle):  cool an object using a receptacle\n"
    "  slice (object) with (object):     slice an object using a sharp object\n"
)


def listing(names: Iterable[str]) -> str:
    """TextWorld's list: "nothing", "a x", "a x, and a y", "a x, a y, and a z"."""
    items = [f"a {n}" for n in names]
    if not items:
        return "nothing"
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + ", and " + items[-1]


def contents(task: Task, state: WorldState, receptacle: str) -> list[str]:
    """Objects in ``receptacle``, in sorted-id order."""
    return [o.name for o in task.objects if state.inside.get(o.name) == receptacle]


def describe_receptacle(task: Task, state: WorldState, receptacle: str) -> str:
    """ALFWorld's examineReceptacle feedback."""
    if task.openable(receptacle):
        if receptacle in state.opened:
            seen = listing(contents(task, state, receptacle))
            return f"The {receptacle} is open. In it, you see {seen}."
        return f"The {receptacle} is closed."
    return f"On the {receptacle}, you see {listing(contents(task, state, receptacle))}."


def describe_object(task: Task, state: WorldState, obj: str) -> str:
    """ALFWorld's examineObject feedback (its conditions, in its order)."""
    kind = task.kind(obj)
    if kind.receptacle_object:
        # Nothing is ever put inside another object here (those actions are off in ALFWorld).
        return f"This is a normal {obj}. In it, you see nothing."
    clean, hot, cool, sliced = (
        obj in s for s in (state.clean, state.hot, state.cool, state.sliced)
    )
    if clean and hot and sliced:
        return f"This is a hot and clean sliced {obj}."
    if clean and cool and sliced:
        return f"This is a cool and clean sliced {obj}."
    if clean and sliced:
        return f"This is a clean sliced {obj}."
    if hot and sliced:
        return f"This is a hot sliced {obj}."
    if cool and sliced:
        return f"This is a cool sliced {obj}."
    if clean and hot:
        return f"This is a hot and clean {obj}."
    if clean and cool:
        return f"This is a cool and clean {obj}."
    if hot:
        return f"This is a hot {obj}."
    if clean:
        return f"This is a clean {obj}."
    if cool:
        return f"This is a cold {obj}."
    if kind.toggleable:
        return f"This {obj} is {'on' if obj in state.toggled else 'off'}."
    if kind.sliceable and sliced:
        return f"This is a sliced {obj}."
    return f"There's nothing special about {obj}."


def look(task: Task, state: WorldState, intro: bool = False) -> str:
    """ALFWorld's look feedback (no object ever lies on the floor here).

    In the middle of the room the grammar lists the receptacles *at the agent's location*:
    the intro (no location bound yet) lists them all, a later ``look`` lists none.
    """
    if state.location is None:
        overview = listing(r.name for r in task.receptacles) if intro else "nothing"
        return f"You are in the middle of a room. Looking quickly around you, you see {overview}."
    return f"You are facing the {state.location}. Next to it, you see nothing."


def inventory(state: WorldState) -> str:
    if state.holding is None:
        return "You are not carrying anything."
    return f"You are carrying: a {state.holding}."


def intro(task: Task, state: WorldState) -> str:
    """The first observation: welcome banner, the room, the task."""
    return f"{WELCOME}\n\n{look(task, state, intro=True)}\n\nYour task is to: {task.description}."
