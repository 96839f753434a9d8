"""Registry of task families, and ``make_env`` by family name or Gymnasium id.

Families register themselves when ``t2po.envs`` is imported (see ``__init__.py``); a new
family adds one ``gymnasium.register`` call and one ``register_family`` call there.
"""

from __future__ import annotations

from typing import Any

import gymnasium

from t2po.envs.base import TaskFamily

_FAMILIES: dict[str, TaskFamily] = {}


def register_family(family: TaskFamily) -> None:
    """Add ``family``; registering the same object twice is a no-op, another one is an error."""
    existing = _FAMILIES.get(family.name)
    if existing is not None and existing is not family:
        raise ValueError(f"a different task family is already registered as {family.name!r}")
    _FAMILIES[family.name] = family


def list_families() -> list[str]:
    """Registered family names, sorted."""
    return sorted(_FAMILIES)


def get_family(name: str) -> TaskFamily:
    """The family called ``name`` (or whose Gymnasium id is ``name``)."""
    if name in _FAMILIES:
        return _FAMILIES[name]
    for family in _FAMILIES.values():
        if family.env_id == name:
            return family
    raise ValueError(
        f"unknown task family {name!r}; registered families: {', '.join(list_families())}"
    )


def make_env(name_or_id: str, **kwargs: Any) -> gymnasium.Env[Any, Any]:
    """``gymnasium.make`` for a family name (``"sokoban"``) or a Gymnasium id."""
    if name_or_id in _FAMILIES:
        env_id = _FAMILIES[name_or_id].env_id
    elif name_or_id in gymnasium.registry:
        env_id = name_or_id
    else:
        raise ValueError(
            f"unknown task family or environment id {name_or_id!r}; "
            f"registered families: {', '.join(list_families())}"
        )
    return gymnasium.make(env_id, **kwargs)
