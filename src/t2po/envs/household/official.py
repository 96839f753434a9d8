"""Official ALFWorld games (the ``json_2.1.1`` data tree) for the ``alfworld`` engine.

ALFWorld's data lives in ``$ALFWORLD_DATA/json_2.1.1/{train,valid_seen,valid_unseen}/
<task_type>-<object>-<mrecep>-<receptacle>-<scene>/<trial>/`` with a ``game.tw-pddl`` and a
``traj_data.json`` per game. Like ALFWorld, games of the "movable" and "Sliced" variants are
left out. The list is sorted, so a seed names the same game on every machine.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

DATA_VARIABLE = "ALFWORLD_DATA"
TREE = "json_2.1.1"

HOW_TO_GET = (
    "Get the official games with `alfworld-download` (installed by the alfworld extra; it "
    "needs internet and writes json_2.1.1 under $ALFWORLD_DATA, default ~/.cache/alfworld), "
    "or point data_dir= / $ALFWORLD_DATA at a folder that holds json_2.1.1. Without them, "
    "use the generated tasks (games='generated', the default), which need no download."
)


def data_root(data_dir: str | Path | None) -> Path:
    if data_dir is not None:
        return Path(data_dir).expanduser()
    return Path(os.environ.get(DATA_VARIABLE, "~/.cache/alfworld")).expanduser()


def task_type_of(game: Path) -> str:
    """The task type of an official game (from its ``traj_data.json``, else its folder)."""
    traj = game.parent / "traj_data.json"
    if traj.exists():
        return str(json.loads(traj.read_text())["task_type"])
    return game.parent.parent.name.split("-", 1)[0]


@lru_cache(maxsize=16)
def _games(folder: Path) -> tuple[Path, ...]:
    found = []
    for path in folder.rglob("game.tw-pddl"):
        text = str(path.relative_to(folder))
        if "movable" in text or "Sliced" in text:
            continue
        found.append(path)
    return tuple(sorted(found))


def official_games(
    split: str, data_dir: str | Path | None = None, task_types: Sequence[str] | None = None
) -> list[Path]:
    """Sorted game files of ``split``; raises ``FileNotFoundError`` saying how to get them."""
    folder = data_root(data_dir) / TREE / split
    games = list(_games(folder)) if folder.is_dir() else []
    if task_types:
        wanted = set(task_types)
        games = [g for g in games if task_type_of(g) in wanted]
    if not games:
        raise FileNotFoundError(f"no official ALFWorld games under {folder}. {HOW_TO_GET}")
    return games
