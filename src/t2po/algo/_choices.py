"""Reading a closed-set option (a ``StrEnum``) with an error that lists the valid values."""

from __future__ import annotations

from enum import StrEnum


def parse_choice(enum: type[StrEnum], value: str, field: str) -> StrEnum:
    """``enum(value)``, or a ``ValueError`` naming ``field`` and every valid value."""
    try:
        return enum(value)
    except ValueError:
        valid = ", ".join(repr(m.value) for m in enum)
        raise ValueError(f"unknown {field} {value!r}; valid values: {valid}") from None
