"""What an evaluation suite plays: task families × splits × seeded episodes.

This is the one seed rule of every held-out evaluation (``t2po eval``, validation during
training, the measure before the cold start, the studies), so the same weights on the same
tasks read the same numbers whichever way they are evaluated:

- episode ``i`` of a (family, split) cell is the task with seed ``eval.seed_offset + i`` in
  that split, whatever the sampler; its task id is its :func:`episode_key`;
- a cell's tasks are cut into fixed chunks of ``eval.batch_size``, and each chunk's sampling
  seed is ``derive_seed(seed, "eval", family, split, chunk start, stream)``: it depends on
  the run seed and the chunk's place only, never on the model or the training step, so two
  models (or two checkpoints of one run) are compared on the same sampling stream, and a
  resumed suite plays the missing chunks exactly as an uninterrupted one would have;
- ``eval.streams = K`` plays every task K times, stream ``s`` with its own seeds, so a gain
  can be told from a lucky stream (``t2po compare`` reports each stream).

Families come from the registry (``eval.families``: names, or ``all``), so families that
register themselves later join the suite with no change here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from t2po.config import Config
from t2po.envs.registry import get_family, list_families
from t2po.rollout.engine import Task, derive_seed
from t2po.settings import episode_key


@dataclass(frozen=True)
class EvalCell:
    """The episodes of one (family, split, stream): ``split`` None for families without
    named splits; ``stream`` numbers the sampling streams (0 unless ``eval.streams`` > 1)."""

    family: str
    split: str | None
    tasks: tuple[Task, ...]
    stream: int = 0

    @property
    def label(self) -> str:
        label = f"{self.family}/{self.split}" if self.split else self.family
        return f"{label} stream {self.stream}" if self.stream else label


@dataclass(frozen=True)
class EvalChunk:
    """Tasks played together in one rollout call, and that call's sampling seed.

    ``positions``: each task's place in its full chunk. A resumed chunk holds only the tasks
    not yet finished, and each keeps the random stream of its place, so a resumed
    evaluation plays exactly what an uninterrupted one would have.
    """

    cell: EvalCell
    tasks: tuple[Task, ...]
    seed: int
    positions: tuple[int, ...]


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
    """Every (family, split, stream) cell with its ``eval.episodes`` tasks, in a stable order."""
    cells: list[EvalCell] = []
    seeds = [cfg.eval.seed_offset + i for i in range(cfg.eval.episodes)]
    for stream in range(cfg.eval.streams):
        for name in suite_families(cfg):
            for split in family_splits(cfg, name):
                tasks = tuple(Task(episode_key(name, split, s, stream), s, split) for s in seeds)
                cells.append(EvalCell(name, split, tasks, stream))
    return cells


def chunk_seed(run_seed: int, family: str, split: str | None, start: int, stream: int) -> int:
    """The sampling seed of the chunk of held-out tasks that starts at index ``start``."""
    return derive_seed(run_seed, "eval", family, split or "-", start, stream)


def plan_chunks(cfg: Config, cells: list[EvalCell], finished: set[str]) -> list[EvalChunk]:
    """Fixed chunks of each cell, holding only the tasks not in ``finished``."""
    size = cfg.eval.batch_size
    chunks: list[EvalChunk] = []
    for cell in cells:
        for start in range(0, len(cell.tasks), size):
            window = cell.tasks[start : start + size]
            places = [i for i, t in enumerate(window) if t.task_id not in finished]
            if places:
                seed = chunk_seed(cfg.seed, cell.family, cell.split, start, cell.stream)
                todo = tuple(window[i] for i in places)
                chunks.append(EvalChunk(cell, todo, seed, tuple(places)))
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


def validation_config(cfg: Config, episodes: int) -> Config:
    """The suite that validation during training plays: ``episodes`` held-out tasks of
    ``env.family`` (in ``eval.splits``, or its held-out split), one sampling stream.

    Everything else (seed, chunking, sampling) is ``t2po eval``'s, so validating a
    checkpoint and evaluating it with ``t2po eval --episodes N`` give identical episodes.
    """
    evaluation = dataclasses.replace(
        cfg.eval, families=[cfg.env.family], episodes=episodes, streams=1
    )
    return dataclasses.replace(cfg, eval=evaluation)
