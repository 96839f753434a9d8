"""Task-family registry and make_env."""

from __future__ import annotations

import dataclasses

import pytest

from t2po.envs import get_family, list_families, make_env, register_family
from t2po.envs.sokoban import SOKOBAN


def test_sokoban_is_registered() -> None:
    assert "sokoban" in list_families()
    assert get_family("sokoban") is SOKOBAN
    assert get_family("t2po/Sokoban-v0") is SOKOBAN


def test_unknown_family_lists_registered_names() -> None:
    with pytest.raises(ValueError, match=r"unknown task family 'nope'.*sokoban"):
        get_family("nope")
    with pytest.raises(ValueError, match=r"registered families: .*sokoban"):
        make_env("nope")


def test_make_env_by_name_or_id_passes_kwargs() -> None:
    for name in ("sokoban", "t2po/Sokoban-v0"):
        env = make_env(name, dim_room=(7, 7), num_boxes=2, max_steps=5)
        obs, info = env.reset(seed=0)
        assert env.unwrapped.spec is not None and env.unwrapped.spec.id == "t2po/Sokoban-v0"
        assert len(obs["text"].split("\n")) == 7 + 1 and info["num_boxes"] == 2
        env.close()


def test_register_family_is_idempotent_but_rejects_a_different_family() -> None:
    register_family(SOKOBAN)
    assert list_families().count("sokoban") == 1
    with pytest.raises(ValueError, match="already registered"):
        register_family(dataclasses.replace(SOKOBAN, memory_window=4))
