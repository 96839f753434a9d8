"""What an evaluation suite plays: task families × splits × seeded episodes.

Every model sees the same tasks: episode ``i`` of a (family, split) cell is the task with
seed ``eval.seed_offset + i`` in that split, whatever the sampler. A cell's tasks are cut
into fixed chunks of ``eval.batch_size``; each chunk's sampling seed is derived from the
run seed and the chunk's place, so a resumed suite plays the missing chunks exactly as an
uninterrupted one would have.

Families come from the registry (``eval.families``: names, or ``all``), so families that
register themselves later join the suite with no change here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from t2po.config import Config
from t2po.envs.registry import get_family, list_families
from t2po.rollout.engine import Task, derive_seed


@dataclass(frozen=True)
class EvalCell:
    """The episodes of one (family, split): ``split`` None for families without named splits."""

    family: str
    split: str | None
    tasks: tuple[Task, ...]

    @property
    def label(self) -> str:
        return f"{self.family}/{self.split}" if self.split else self.family


@dataclass(frozen=True)
class EvalChunk:
    """Tasks played together in one rollout call, and that call's sampling seed."""

    cell: EvalCell
    tasks: tuple[Task, ...]
    seed: int


def episode_key(family: str, split: str | None, seed: int) -> str:
    """The identity of one finished episode in the results file (what resume skips)."""
    return f"{family}/{split or '-'}/{seed}"


def suite_families(cfg: Config) -> list[str]:
    """``eval.families`` resolved: [] = env.family, 'all' = every registered family."""
    names = list(cfg.eval.families) or [cfg.env.family]
    if "all" in names:
        return list_families()
    return [get_family(name).name for name in names]  # unknown names raise, listing the valid


def family_splits(cfg: Config, family_name: str) -> list[str | None]:
    """The splits of one family the suite plays (see ``EvalConfig.splits``)."""
    family = get_family(family_name)
    if not family.splits:
        return [None]  # the seed alone picks the task
    wanted = list(cfg.eval.splits) or [cfg.eval.split or family.eval_split or family.splits[0]]
    chosen = [s for s in wanted if s in family.splits]
    if not chosen:
        raise ValueError(
            f"{family.name} has none of the splits {', '.join(wanted)}; "
            f"its splits: {', '.join(family.splits)} (set eval.splits)"
        )
    return list(dict.fromkeys(chosen))


def plan_suite(cfg: Config) -> list[EvalCell]:
    """Every (family, split) cell with its ``eval.episodes`` tasks, in a stable order."""
    cells: list[EvalCell] = []
    for name in suite_families(cfg):
        for split in family_splits(cfg, name):
            seeds = [cfg.eval.seed_offset + i for i in range(cfg.eval.episodes)]
            prefix = f"{name}-{split}" if split else name
            tasks = tuple(Task(f"{prefix}-{s}", s, split) for s in seeds)
            cells.append(EvalCell(name, split, tasks))
    return cells


def plan_chunks(cfg: Config, cells: list[EvalCell], finished: set[str]) -> list[EvalChunk]:
    """Fixed chunks of each cell, holding only the tasks not in ``finished``."""
    size = cfg.eval.batch_size
    chunks: list[EvalChunk] = []
    for cell in cells:
        for start in range(0, len(cell.tasks), size):
            todo = tuple(
                t
                for t in cell.tasks[start : start + size]
                if episode_key(cell.family, cell.split, t.seed) not in finished
            )
            if todo:
                seed = derive_seed(cfg.seed, "eval-suite", cell.family, cell.split or "-", start)
                chunks.append(EvalChunk(cell, todo, seed))
    return chunks


def family_config(cfg: Config, family: str) -> Config:
    """``cfg`` with ``env.family`` set to ``family``.

    ``env.kwargs`` (room size and the like), ``env.max_turns`` and ``env.memory_window`` belong
    to ``env.family``; the other families are played with their own defaults, so a suite over
    several families gives each the turn budget and memory its tasks need.
    """
    own = get_family(family)
    if own.name == get_family(cfg.env.family).name:  # names or Gymnasium ids
        return cfg
    env = dataclasses.replace(
        cfg.env, family=own.name, kwargs={}, max_turns=own.max_turns, memory_window=-1
    )
    return dataclasses.replace(cfg, env=env)
