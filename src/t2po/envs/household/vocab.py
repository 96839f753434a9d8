"""The household world's vocabulary: receptacle and object types, what holds what, room kinds.

Type names are ALFRED's (``CounterTop``, ``SinkBasin``, ...): the ``alfworld`` engine writes
them into PDDL problems, and ALFWorld's demangler turns ``CounterTop_bar_...`` into the
display name ``countertop``. The facts below (which types open, which objects can be heated,
cooled, cleaned, sliced or switched on, and which receptacle types can contain which object
types) are a hand-made subset chosen to be consistent with the ALFRED domain: heating needs a
``Microwave``, cooling a ``Fridge``, cleaning a ``SinkBasin`` and looking at something in
the light a ``DeskLamp`` (``alfred.pddl`` actions HeatObject, CoolObject, CleanObject,
ToggleObject).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TaskType(StrEnum):
    """ALFWorld's six task types (ALFWorld ``TASK_TYPES`` 1-6)."""

    pick_and_place_simple = "pick_and_place_simple"
    look_at_obj_in_light = "look_at_obj_in_light"
    pick_clean_then_place_in_recep = "pick_clean_then_place_in_recep"
    pick_heat_then_place_in_recep = "pick_heat_then_place_in_recep"
    pick_cool_then_place_in_recep = "pick_cool_then_place_in_recep"
    pick_two_obj_and_place = "pick_two_obj_and_place"


class RoomKind(StrEnum):
    kitchen = "kitchen"
    livingroom = "livingroom"
    bedroom = "bedroom"
    bathroom = "bathroom"


# Receptacle types that open and close (contents hidden and unreachable while closed).
OPENABLE: frozenset[str] = frozenset({"Cabinet", "Drawer", "Fridge", "Microwave", "Safe"})

# The appliance each state-changing task type needs, and the type whose objects it changes.
HEATER, COOLER, CLEANER, LAMP = "Microwave", "Fridge", "SinkBasin", "DeskLamp"
KNIVES: frozenset[str] = frozenset({"Knife", "ButterKnife"})


@dataclass(frozen=True)
class ObjectKind:
    """What an object type can do and where it can be put (``canContain`` facts)."""

    name: str
    containers: tuple[str, ...]  # receptacle types that can contain it, most likely first
    heatable: bool = False
    coolable: bool = False
    cleanable: bool = False
    sliceable: bool = False
    toggleable: bool = False
    pickupable: bool = True
    receptacle_object: bool = False  # ALFRED's isReceptacleObject (mugs, bowls, ...)


_FOOD = ("CounterTop", "DiningTable", "Fridge", "Microwave", "SinkBasin", "GarbageCan")
_DISH = ("Cabinet", "CounterTop", "DiningTable", "Shelf", "Fridge", "Microwave", "SinkBasin")
_UTENSIL = ("Drawer", "CounterTop", "DiningTable", "SinkBasin")
_COOKWARE = ("StoveBurner", "Cabinet", "CounterTop", "DiningTable", "Fridge", "SinkBasin")
_DESK_SMALL = ("Desk", "SideTable", "Dresser", "Drawer", "Shelf", "CoffeeTable")
_BATH = ("CounterTop", "Cabinet", "Toilet", "Shelf", "GarbageCan")

OBJECT_KINDS: dict[str, ObjectKind] = {
    k.name: k
    for k in (
        ObjectKind("Apple", _FOOD, heatable=True, coolable=True, cleanable=True, sliceable=True),
        ObjectKind(
            "Bread", _FOOD[:4] + ("GarbageCan",), heatable=True, coolable=True, sliceable=True
        ),
        ObjectKind("Egg", _FOOD, heatable=True, coolable=True, cleanable=True),
        ObjectKind("Potato", _FOOD, heatable=True, coolable=True, cleanable=True, sliceable=True),
        ObjectKind("Tomato", _FOOD, heatable=True, coolable=True, cleanable=True, sliceable=True),
        ObjectKind(
            "Lettuce",
            ("CounterTop", "DiningTable", "Fridge", "SinkBasin", "GarbageCan"),
            coolable=True,
            cleanable=True,
            sliceable=True,
        ),
        ObjectKind(
            "Mug",
            _DISH + ("CoffeeMachine", "Desk", "SideTable"),
            heatable=True,
            coolable=True,
            cleanable=True,
            receptacle_object=True,
        ),
        ObjectKind(
            "Cup", _DISH, heatable=True, coolable=True, cleanable=True, receptacle_object=True
        ),
        ObjectKind(
            "Bowl",
            _DISH + ("Desk", "SideTable"),
            coolable=True,
            cleanable=True,
            receptacle_object=True,
        ),
        ObjectKind(
            "Plate", _DISH, heatable=True, coolable=True, cleanable=True, receptacle_object=True
        ),
        ObjectKind("Pan", _COOKWARE, coolable=True, cleanable=True, receptacle_object=True),
        ObjectKind("Pot", _COOKWARE, coolable=True, cleanable=True, receptacle_object=True),
        ObjectKind("Kettle", ("StoveBurner", "Cabinet", "CounterTop", "SinkBasin"), cleanable=True),
        ObjectKind("Knife", _UTENSIL, cleanable=True),
        ObjectKind("ButterKnife", _UTENSIL, cleanable=True),
        ObjectKind("Fork", _UTENSIL, cleanable=True),
        ObjectKind("Spoon", _UTENSIL, cleanable=True),
        ObjectKind("Spatula", _UTENSIL, cleanable=True),
        ObjectKind("Ladle", _UTENSIL, cleanable=True),
        ObjectKind("SaltShaker", ("CounterTop", "DiningTable", "Cabinet", "Drawer", "Shelf")),
        ObjectKind("PepperShaker", ("CounterTop", "DiningTable", "Cabinet", "Drawer", "Shelf")),
        ObjectKind(
            "WineBottle",
            ("CounterTop", "DiningTable", "Fridge", "Cabinet", "Shelf", "GarbageCan"),
            coolable=True,
        ),
        ObjectKind(
            "DishSponge", ("SinkBasin", "CounterTop", "Cabinet", "Drawer", "Shelf"), cleanable=True
        ),
        ObjectKind(
            "Book",
            (
                "Desk",
                "SideTable",
                "Shelf",
                "Bed",
                "Sofa",
                "CoffeeTable",
                "Dresser",
                "Drawer",
                "ArmChair",
                "TVStand",
            ),
        ),
        ObjectKind(
            "CellPhone",
            (
                "Desk",
                "SideTable",
                "Bed",
                "Sofa",
                "ArmChair",
                "CoffeeTable",
                "Dresser",
                "Drawer",
                "Shelf",
            ),
        ),
        ObjectKind("CreditCard", _DESK_SMALL + ("Sofa", "ArmChair")),
        ObjectKind("KeyChain", _DESK_SMALL + ("Sofa", "ArmChair", "Safe")),
        ObjectKind(
            "RemoteControl",
            ("CoffeeTable", "Sofa", "ArmChair", "SideTable", "TVStand", "Dresser", "Drawer"),
        ),
        ObjectKind("Pillow", ("Sofa", "ArmChair", "Bed")),
        ObjectKind(
            "Laptop",
            ("Desk", "Bed", "Sofa", "ArmChair", "CoffeeTable", "SideTable", "Dresser", "TVStand"),
        ),
        ObjectKind("AlarmClock", ("Desk", "SideTable", "Dresser", "Shelf")),
        ObjectKind("Pen", _DESK_SMALL),
        ObjectKind("Pencil", _DESK_SMALL),
        ObjectKind("CD", _DESK_SMALL + ("Safe", "TVStand")),
        ObjectKind("Watch", _DESK_SMALL + ("Safe",)),
        ObjectKind("Vase", ("Shelf", "CoffeeTable", "SideTable", "Dresser", "TVStand", "Desk")),
        ObjectKind("Statue", ("Shelf", "CoffeeTable", "SideTable", "Dresser", "TVStand", "Desk")),
        ObjectKind("Box", ("CoffeeTable", "SideTable", "Sofa", "ArmChair", "Dresser", "TVStand")),
        ObjectKind("Newspaper", ("CoffeeTable", "Sofa", "ArmChair", "SideTable", "GarbageCan")),
        ObjectKind(
            "TissueBox",
            (
                "CoffeeTable",
                "SideTable",
                "Dresser",
                "Shelf",
                "TVStand",
                "Desk",
                "Toilet",
                "CounterTop",
            ),
        ),
        ObjectKind("DeskLamp", ("Desk", "SideTable", "Dresser"), toggleable=True, pickupable=False),
        ObjectKind("SoapBar", ("SinkBasin", "BathtubBasin") + _BATH, cleanable=True),
        ObjectKind("SoapBottle", _BATH),
        ObjectKind(
            "ToiletPaper",
            (
                "ToiletPaperHanger",
                "Toilet",
                "CounterTop",
                "Cabinet",
                "Drawer",
                "Shelf",
                "GarbageCan",
            ),
        ),
        ObjectKind("Towel", ("TowelHolder", "Cabinet", "CounterTop")),
        ObjectKind("HandTowel", ("HandTowelHolder", "CounterTop", "Cabinet")),
        ObjectKind(
            "Cloth",
            (
                "SinkBasin",
                "BathtubBasin",
                "CounterTop",
                "Cabinet",
                "Drawer",
                "Toilet",
                "GarbageCan",
            ),
            cleanable=True,
        ),
        ObjectKind("SprayBottle", _BATH),
        ObjectKind("Candle", ("CounterTop", "Cabinet", "Toilet", "Shelf", "Drawer")),
        ObjectKind("ScrubBrush", ("CounterTop", "Cabinet", "Toilet", "GarbageCan")),
        ObjectKind("Plunger", ("CounterTop", "Cabinet", "Toilet")),
    )
}


@dataclass(frozen=True)
class RoomPlan:
    """How a room kind is furnished: receptacle types with (min, max) counts, and objects."""

    receptacles: tuple[tuple[str, int, int], ...]
    objects: tuple[str, ...]  # object types that may appear (DeskLamp: see ``lamp``)
    lamp: bool = False  # always has a desk lamp on a desk, side table or dresser


ROOM_PLANS: dict[RoomKind, RoomPlan] = {
    RoomKind.kitchen: RoomPlan(
        receptacles=(
            ("Cabinet", 2, 5),
            ("Drawer", 1, 3),
            ("CounterTop", 1, 2),
            ("DiningTable", 0, 1),
            ("Fridge", 1, 1),
            ("Microwave", 1, 1),
            ("SinkBasin", 1, 1),
            ("StoveBurner", 2, 4),
            ("CoffeeMachine", 1, 1),
            ("GarbageCan", 1, 1),
            ("Shelf", 0, 2),
        ),
        objects=(
            "Apple",
            "Bread",
            "Egg",
            "Potato",
            "Tomato",
            "Lettuce",
            "Mug",
            "Cup",
            "Bowl",
            "Plate",
            "Pan",
            "Pot",
            "Kettle",
            "Knife",
            "ButterKnife",
            "Fork",
            "Spoon",
            "Spatula",
            "Ladle",
            "SaltShaker",
            "PepperShaker",
            "WineBottle",
            "DishSponge",
            "SoapBottle",
        ),
    ),
    RoomKind.livingroom: RoomPlan(
        receptacles=(
            ("Sofa", 1, 1),
            ("ArmChair", 0, 2),
            ("CoffeeTable", 1, 1),
            ("SideTable", 1, 2),
            ("TVStand", 1, 1),
            ("Drawer", 0, 3),
            ("Cabinet", 0, 2),
            ("Shelf", 0, 3),
            ("Dresser", 0, 1),
            ("GarbageCan", 1, 1),
        ),
        objects=(
            "Book",
            "CellPhone",
            "CreditCard",
            "KeyChain",
            "RemoteControl",
            "Pillow",
            "Laptop",
            "Vase",
            "Statue",
            "Box",
            "Newspaper",
            "TissueBox",
            "Watch",
            "Bowl",
        ),
        lamp=True,
    ),
    RoomKind.bedroom: RoomPlan(
        receptacles=(
            ("Bed", 1, 1),
            ("Desk", 1, 1),
            ("SideTable", 0, 2),
            ("Dresser", 0, 1),
            ("Drawer", 1, 4),
            ("Shelf", 0, 3),
            ("Safe", 0, 1),
            ("ArmChair", 0, 1),
            ("GarbageCan", 1, 1),
        ),
        objects=(
            "Book",
            "CellPhone",
            "CreditCard",
            "KeyChain",
            "Pillow",
            "Laptop",
            "AlarmClock",
            "Pen",
            "Pencil",
            "CD",
            "Watch",
            "Mug",
            "Bowl",
            "Vase",
            "Statue",
            "TissueBox",
        ),
        lamp=True,
    ),
    RoomKind.bathroom: RoomPlan(
        receptacles=(
            ("Toilet", 1, 1),
            ("SinkBasin", 1, 2),
            ("BathtubBasin", 0, 1),
            ("CounterTop", 1, 1),
            ("Cabinet", 1, 4),
            ("Drawer", 0, 2),
            ("TowelHolder", 1, 1),
            ("HandTowelHolder", 0, 1),
            ("ToiletPaperHanger", 1, 1),
            ("Shelf", 0, 2),
            ("GarbageCan", 1, 1),
        ),
        objects=(
            "SoapBar",
            "SoapBottle",
            "ToiletPaper",
            "Towel",
            "HandTowel",
            "Cloth",
            "SprayBottle",
            "Candle",
            "ScrubBrush",
            "Plunger",
            "TissueBox",
            "DishSponge",
        ),
    ),
}


def display_type(type_name: str) -> str:
    """``CounterTop`` -> ``countertop``, as ALFWorld shows a type in text."""
    return type_name.lower()


def can_contain(receptacle_type: str, object_type: str) -> bool:
    return receptacle_type in OBJECT_KINDS[object_type].containers
