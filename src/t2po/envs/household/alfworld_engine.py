"""The ``alfworld`` engine: the real ALFWorld text game (TextWorld + the ALFRED PDDL domain).

Generated tasks are written as ALFRED-style PDDL problems (``pddl.py``) into game files
that the package's TextWorld wrappers load and play (``AlfredDemangler`` names entities as
ALFWorld does, ``AlfredInfos`` adds the game file). Nothing is downloaded. Official ALFWorld
games (a ``game.tw-pddl`` from the ``json_2.1.1`` data tree) load through ``load_game``.

Optional: needs ``pip install -e ".[alfworld]"`` (imported lazily, so the native engine and
everything else work without it).
"""

from __future__ import annotations

import hashlib
import tempfile
import warnings
from pathlib import Path
from typing import Any

from t2po.envs.household.pddl import Fact, state_from_facts, write_game
from t2po.envs.household.world import Task, WorldState

INSTALL_HINT = 'the alfworld engine needs the alfworld extra: pip install -e ".[alfworld]"'


def _import_alfworld() -> tuple[Any, Any, Any, Any]:
    try:
        import textworld
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos
        from alfworld.info import ALFRED_PDDL_PATH, ALFRED_TWL2_PATH
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(f"{INSTALL_HINT} ({exc})") from exc
    logic = (Path(ALFRED_PDDL_PATH).read_text(), Path(ALFRED_TWL2_PATH).read_text())
    return textworld, AlfredDemangler, AlfredInfos, logic


class AlfworldEngine:
    """One episode at a time on the real engine; same interface as ``NativeEngine``."""

    name = "alfworld"

    def __init__(self, games_dir: str | Path | None = None) -> None:
        self._textworld, self._demangler, self._infos, (self._domain, self._grammar) = (
            _import_alfworld()
        )
        # Generated game files go to ``games_dir`` (kept) or a temporary folder (removed).
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if games_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="t2po_household_")
            games_dir = self._tmp.name
        self._games_dir = Path(games_dir)
        self._env: Any = None
        self._game_state: Any = None
        self.won = False

    def reset(self, task: Task) -> str:
        """Write ``task`` as a game file (once per distinct task) and start it."""
        key = hashlib.sha256(task.signature().encode()).hexdigest()[:16]
        folder = self._games_dir / key
        path = folder / "game.tw-pddl"
        if not path.exists():
            write_game(task, folder, self._domain, self._grammar)
        return self.load_game(path)

    def load_game(self, path: str | Path) -> str:
        """Start the game file ``path`` (generated, or an official ALFWorld game)."""
        self.close()
        infos = self._textworld.EnvInfos(
            won=True, admissible_commands=True, facts=True, feedback=True, extras=["gamefile"]
        )
        with warnings.catch_warnings():
            # TextWorld reads the game file without closing it; the warning is not ours to fix.
            warnings.simplefilter("ignore", ResourceWarning)
            self._env = self._textworld.start(
                str(path), request_infos=infos, wrappers=[self._demangler(), self._infos]
            )
            self._game_state = self._env.reset()
        self.won = bool(self._game_state["won"])
        return str(self._game_state["feedback"])

    def step(self, command: str) -> str:
        if self._env is None:
            raise RuntimeError("call reset() first")
        self._game_state, _, _ = self._env.step(command)
        self.won = bool(self._game_state["won"])
        return str(self._game_state["feedback"])

    def admissible(self) -> list[str]:
        return sorted(str(c) for c in self._game_state["admissible_commands"])

    def facts(self) -> list[Fact]:
        return [(f.name, tuple(a.name for a in f.arguments)) for f in self._game_state["facts"]]

    @property
    def state(self) -> WorldState:
        return state_from_facts(self.facts())

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None

    def __del__(self) -> None:
        self.close()
        if self._tmp is not None:
            self._tmp.cleanup()
