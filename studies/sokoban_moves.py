"""sokoban_moves: how good is each move an agent made, not only whether it won?

Reads the ``episodes.jsonl`` of one or more ``t2po eval`` runs and grades every turn with the
optimal solver (:mod:`t2po.envs.sokoban.moves`): on a shortest path, a detour, a bump into a
wall or stuck box, a deadlocking push, or a move in an already unsolvable room; and whether
the action repeats the ``move X`` its thought named. This is how the RL-stability study
(``docs/studies/sokoban.md``) tells *what* RL changed (e.g. fewer deadlocks but actions that
stop following the thought).

Usage::

    t2po eval configs/sokoban_quickstart.yaml model.path=MODEL --episodes 256 \\
        --families sokoban --out ev
    python studies/sokoban_moves.py cold=ev_cold rl=ev_rl      # NAME=eval folder or file
    python studies/sokoban_moves.py --quick                    # the expert on 16 rooms

Last line: ``RESULT sokoban_moves <name>_<rate>=<x> ...`` for success, bump, deadlock and
agrees of every input.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import _common as common

from t2po.envs import get_family
from t2po.envs.sokoban.moves import MoveGrade, grade_episodes
from t2po.evaluation.store import ResultStore
from t2po.rollout.engine import RolloutSettings, Task
from t2po.rollout.expert import expert_rollout
from t2po.telemetry.jsonl import read_jsonl
from t2po.telemetry.transcripts import episode_record

HEADLINE = ("success", "bump", "deadlock", "agrees")


def expert_episodes(n: int) -> list[dict[str, Any]]:
    """``n`` expert episodes, played as cold start plays them, as episode records."""
    tasks = [Task(f"sokoban-{seed}", seed) for seed in range(n)]
    # 20 turns: room for every optimal solution of the quickstart rooms; the memory window
    # and invalid penalty shape prompts and rewards only, never the expert's moves
    settings = RolloutSettings(max_turns=20, memory_window=2, invalid_penalty=0.1)
    trajectories = expert_rollout(get_family("sokoban"), tasks, settings)
    return [episode_record(t, iteration=0, split="expert") for t in trajectories]


def load(path: Path) -> list[dict[str, Any]]:
    """An eval folder's finished episodes (de-duplicated as ``t2po eval`` resumes), or a file."""
    return ResultStore(path).episodes() if path.is_dir() else read_jsonl(path)


def main() -> None:
    p = argparse.ArgumentParser(prog="studies/sokoban_moves.py", description=__doc__.split("\n")[0])
    p.add_argument("inputs", nargs="*", help="NAME=PATH of a t2po eval folder or episodes.jsonl")
    p.add_argument("--quick", action="store_true", help="grade the expert on 16 rooms")
    p.add_argument(
        "--out",
        type=Path,
        default=common.run_folder("sokoban_moves") / "sokoban_moves.json",
        help="default runs/studies/sokoban_moves/sokoban_moves.json, untracked; "
        "--out studies/results/sokoban_moves_<name>.json updates a committed result",
    )
    args = p.parse_args()
    if args.quick:
        sources = {"expert": expert_episodes(16)}
    else:
        if not args.inputs:
            p.error("give NAME=PATH inputs (or --quick)")
        pairs = [item.split("=", 1) for item in args.inputs]
        if any(len(pair) != 2 for pair in pairs):
            p.error("inputs are NAME=PATH")
        sources = {name: load(Path(path)) for name, path in pairs}
    rates = {name: grade_episodes(episodes) for name, episodes in sources.items()}
    columns = ["success", "turns", *(g.value for g in MoveGrade), "agrees"]
    width = max(len("run"), *(len(name) for name in rates)) + 2
    print(f"{'run':<{width}}" + "".join(f"{c:>13}" for c in columns))
    for name, row in rates.items():
        print(f"{name:<{width}}" + "".join(f"{row[c]:>13.3f}" for c in columns))
    result = {f"{name}_{key}": rates[name][key] for name in rates for key in HEADLINE}
    payload = {
        "machine": common.machine_info("cpu"),
        "inputs": {name: len(eps) for name, eps in sources.items()},
        "rates": rates,
    }
    common.finish("sokoban_moves", args.out, payload, result)


if __name__ == "__main__":
    main()
