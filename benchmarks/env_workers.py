"""env_workers: the real ALFWorld engine stepped in process vs in 2 Ray env actors.

What ``rollout.env_workers`` is for: an engine that costs real time per step. Both arms play
the same 32 household episodes (``t2po/Household-v0``, ``engine=alfworld``) with the same
scripted actions, through the env backend the rollout engine uses (``t2po.rollout.envs``):
one ``reset`` of the whole batch, then one ``step`` call per turn for every live episode, as
the engine does after sampling. The actions (a seeded random walk of admissible actions, then
the expert's plan to the goal) are recorded once on the native engine.

1. ``in_process``: ``InProcessEnvs`` (every env in this process, stepped one after another);
2. ``ray_2``: ``RayEnvs`` with 2 actors, each holding half the episodes, stepped in parallel;
3. ``processes_2``: no Ray, the machine's ceiling: 2 plain processes (``multiprocessing``),
   each playing half the episodes in process from start to end, with no message per turn.
   Two processes on two cores are not twice one process when the cores share caches or
   memory bandwidth; this arm measures what the machine gives, so ``speedup`` can be read
   against it (``ceiling``).

Both arms are warmed up first (the actors started and ALFWorld imported in every process),
so the timings are resets and steps only, and the repeats alternate the arms. The ratio is
steps per second over the whole play, resets included (an iteration pays both): the median
over repeats of (in-process seconds / Ray seconds). The table also shows steps alone and each
arm's CPU share (CPU seconds of its processes per wall second), which says how much of the
machine the arm actually got. The observations of the two arms are compared (expected:
identical). Usage::

    python benchmarks/env_workers.py           # 32 episodes, 2 repeats
    python benchmarks/env_workers.py --quick   # 4 episodes, short walks, 1 repeat

Last line: ``RESULT env_workers speedup=<ray / in-process> ceiling=<2 processes / in-process>``
(steps per second, resets included).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import random
import time
from pathlib import Path
from typing import Any

import _common as common

from t2po.envs.household import HouseholdEnv, HouseholdExpert
from t2po.rollout.envs import EnvBackend, EnvFailure, InProcessEnvs, Reset, Step
from t2po.rollout.ray_envs import slices

NAME = "env_workers"
DEFAULT_REPEATS = 2
FULL = {"episodes": 32, "walk": 10, "max_actions": 40, "workers": 2}
QUICK = {"episodes": 4, "walk": 3, "max_actions": 8, "workers": 2}
ENV_ID = "t2po/Household-v0"
SPLIT = "train"


def action_script(seed: int, walk: int, max_actions: int) -> list[str]:
    """``walk`` random admissible actions, then the expert's plan (native engine)."""
    env = HouseholdEnv(max_steps=10_000)
    obs, info = env.reset(seed=seed, options={"split": SPLIT})
    expert = HouseholdExpert(env)
    rng = random.Random(seed)
    actions: list[str] = []
    while len(actions) < max_actions and not info["won"]:
        if len(actions) < walk:
            action = rng.choice(info["admissible_actions"])
        else:
            action = expert.act(obs, info).action
        actions.append(action)
        obs, _, _, _, info = env.step(action)
    return actions


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes ``pids`` have used (Linux /proc; else NaN)."""
    total = 0.0
    try:
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return math.nan
    return total


def play(
    envs: EnvBackend, pids: list[int], seeds: list[int], scripts: list[list[str]]
) -> dict[str, Any]:
    """Reset every episode, then step every live one per turn, as the rollout engine does.
    ``pids``: the processes whose CPU time the arm spends (this one, and its actors)."""
    cpu0 = cpu_seconds(pids)
    start = time.perf_counter()
    answers = envs.reset(seeds, [{"split": SPLIT}] * len(seeds))
    reset_s = time.perf_counter() - start
    failures = [a.error for a in answers if isinstance(a, EnvFailure)]
    texts: list[list[str]] = [[a.obs["text"]] if isinstance(a, Reset) else [] for a in answers]
    live = [i for i, a in enumerate(answers) if isinstance(a, Reset)]
    steps, turn = 0, 0
    start = time.perf_counter()
    while live:
        live = [i for i in live if turn < len(scripts[i])]
        if not live:
            break
        stepped = envs.step(live, [scripts[i][turn] for i in live])
        steps += len(live)
        still = []
        for i, answer in zip(live, stepped, strict=True):
            if isinstance(answer, EnvFailure):
                failures.append(answer.error)
                continue
            assert isinstance(answer, Step)
            texts[i].append(answer.obs["text"])
            if not (answer.terminated or answer.truncated):
                still.append(i)
        live, turn = still, turn + 1
    step_s = time.perf_counter() - start
    cpu_s = cpu_seconds(pids) - cpu0
    envs.close()
    return {
        "reset_s": reset_s,
        "step_s": step_s,
        "seconds": reset_s + step_s,
        "cpu_s": cpu_s,
        "steps": steps,
        "texts": texts,
        "failures": failures,
    }


_PROCESS_ENVS: InProcessEnvs | None = None  # the envs of one ``processes_N`` worker


def _start_process_worker(kwargs: dict[str, Any], seed: int, script: list[str]) -> None:
    """Pool initializer: this process's envs, ALFWorld imported and a first game played."""
    global _PROCESS_ENVS
    _PROCESS_ENVS = InProcessEnvs(ENV_ID, kwargs)
    play(_PROCESS_ENVS, [os.getpid()], [seed], [script[:1]])


def _play_slice(job: tuple[list[int], list[list[str]]]) -> dict[str, Any]:
    assert _PROCESS_ENVS is not None, "the pool initializer did not run"
    return play(_PROCESS_ENVS, [os.getpid()], *job)


def play_in_processes(
    pool: Any, workers: int, seeds: list[int], scripts: list[list[str]]
) -> dict[str, Any]:
    """Every process plays its slice of the episodes to the end: no per-turn messages."""
    jobs = [(seeds[a:b], scripts[a:b]) for a, b in slices(len(seeds), workers)]
    start = time.perf_counter()
    parts = pool.map(_play_slice, jobs, chunksize=1)
    seconds = time.perf_counter() - start
    return {
        "reset_s": max(p["reset_s"] for p in parts),
        "step_s": max(p["step_s"] for p in parts),
        "seconds": seconds,
        "cpu_s": sum(p["cpu_s"] for p in parts),
        "steps": sum(p["steps"] for p in parts),
        "texts": [t for p in parts for t in p["texts"]],
        "failures": [f for p in parts for f in p["failures"]],
    }


HEADERS = ["arm", "steps_per_s", "steps_per_s_no_reset", "resets_per_s", "seconds", "cpu_share"]


def main() -> None:
    parser = common.base_parser(NAME, __doc__.splitlines()[0], DEFAULT_REPEATS)
    args = parser.parse_args()
    repeats, machine = common.start(args, NAME, DEFAULT_REPEATS)
    sizes = QUICK if args.quick else FULL
    try:
        import alfworld  # noqa: F401
        import ray
    except ImportError as exc:
        raise SystemExit(
            f"this benchmark needs the alfworld and ray extras ({exc.name} is missing): "
            'pip install -e ".[alfworld,ray]"'
        ) from None
    from t2po.rollout.ray_envs import RayEnvs

    seeds = [args.seed + i for i in range(sizes["episodes"])]
    scripts = [action_script(s, sizes["walk"], sizes["max_actions"]) for s in seeds]
    kwargs = {"engine": "alfworld", "max_steps": 10_000}
    ray_envs = RayEnvs(ENV_ID, kwargs, sizes["workers"])
    actor_pids = ray.get([a.pid.remote() for a in ray_envs.actors])
    ray_arm = f"ray_{sizes['workers']}"
    arms: dict[str, tuple[EnvBackend, list[int]]] = {
        "in_process": (InProcessEnvs(ENV_ID, kwargs), [os.getpid()]),
        ray_arm: (ray_envs, [os.getpid(), *actor_pids]),
    }
    n = sizes["workers"]
    processes_arm = f"processes_{n}"
    # spawn: a fresh interpreter per process (forking a process that runs Ray is unsafe)
    pool = multiprocessing.get_context("spawn").Pool(
        n, initializer=_start_process_worker, initargs=(kwargs, seeds[0], scripts[0])
    )
    runs: dict[str, list[dict[str, Any]]] = {arm: [] for arm in [*arms, processes_arm]}
    try:
        for envs, pids in arms.values():  # ALFWorld imported, first games built, everywhere
            play(envs, pids, seeds[:n], [s[:1] for s in scripts[:n]])
        # Repeats alternate the arms, so a change in the machine's load hits all alike.
        for _ in range(repeats):
            for arm, (envs, pids) in arms.items():
                runs[arm].append(play(envs, pids, seeds, scripts))
            runs[processes_arm].append(play_in_processes(pool, n, seeds, scripts))
    finally:
        ray_envs.shutdown()
        pool.close()
        pool.join()

    rows = []
    for arm, arm_runs in runs.items():
        steps = arm_runs[0]["steps"]
        rows.append(
            [
                arm,
                steps / common.median([r["seconds"] for r in arm_runs]),
                steps / common.median([r["step_s"] for r in arm_runs]),
                len(seeds) / common.median([r["reset_s"] for r in arm_runs]),
                common.median([r["seconds"] for r in arm_runs]),
                common.median([r["cpu_s"] / r["seconds"] for r in arm_runs]),
            ]
        )
    steps = runs["in_process"][0]["steps"]
    common.print_table(f"{len(seeds)} ALFWorld episodes, {steps} scripted steps", HEADERS, rows)
    print(
        "cpu_share: CPU seconds of the arm's processes per wall second (2 = both cores busy);\n"
        "well below 1 means other jobs held the cores, and the ratio is theirs as much as ours"
    )
    texts = [arm_runs[0]["texts"] for arm_runs in runs.values()]
    mismatches = sum(
        any(other[i] != texts[0][i] for other in texts[1:]) for i in range(len(texts[0]))
    )
    failures = sum(len(r["failures"]) for arm_runs in runs.values() for r in arm_runs)
    print(
        f"\nepisodes whose observations differ between the arms: {mismatches}; failures: {failures}"
    )

    def ratios_to(arm: str) -> list[float]:
        """Per repeat, in-process seconds / the arm's seconds (the arms ran back to back)."""
        pairs = zip(runs[arm], runs["in_process"], strict=True)
        return [base["seconds"] / other["seconds"] for other, base in pairs]

    ratios, ceilings = ratios_to(ray_arm), ratios_to(processes_arm)
    result = {"speedup": common.median(ratios), "ceiling": common.median(ceilings)}
    print(
        f"Ray env actors: {result['speedup']:.2f}x in-process steps/s; the machine's ceiling "
        f"({n} plain processes, no Ray): {result['ceiling']:.2f}x"
    )
    payload = {
        "machine": machine,
        "quick": bool(args.quick),
        "settings": {**sizes, "repeats": repeats, "quick": args.quick, "seed": args.seed},
        "arms": [dict(zip(HEADERS, r, strict=True)) for r in rows],
        "steps": steps,
        "speedup_per_repeat": ratios,
        "ceiling_per_repeat": ceilings,
        "step_speedup": rows[1][2] / rows[0][2],
        "reset_speedup": rows[1][3] / rows[0][3],
        "mismatched_episodes": mismatches,
        "failures": failures,
    }
    common.finish(NAME, args.out, payload, result)


if __name__ == "__main__":
    main()
