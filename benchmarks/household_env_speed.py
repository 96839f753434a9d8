"""household_env_speed: t2po/Household-v0 steps/s and resets/s, native vs the real ALFWorld engine.

Both arms play the same generated tasks (all six types, all three splits) with the same
action sequences: for each task, the expert's plan on the native engine followed by a
seeded random walk of admissible actions, recorded once and replayed on each arm through
``HouseholdEnv`` (what a rollout sees: the step, the admissible list, the state anchor).

1. ``native``: the pure-Python engine (goal: >= 5,000 steps/s on one core);
2. ``alfworld``: the real ALFWorld TextWorld game built from the same task (needs
   ``pip install -e ".[alfworld]"``).

It also counts the replayed steps whose observation text differs between the arms (parity:
expected 0). Usage::

    python benchmarks/household_env_speed.py           # 30 tasks x 40 actions, 3 repeats
    python benchmarks/household_env_speed.py --quick   # 4 tasks x 15 actions, 1 repeat

Last line: ``RESULT household_env_speed native_steps_per_s=<n> ratio=<native/alfworld>
native_resets_per_s=<n> alfworld_steps_per_s=<n> alfworld_resets_per_s=<n> mismatches=<n>``.
"""

from __future__ import annotations

import random
import time

import _common as common

from t2po.envs.household import SPLITS, HouseholdEnv, HouseholdExpert, Task, generate_task

NAME = "household_env_speed"
DEFAULT_REPEATS = 3
FULL = {"tasks": 30, "actions": 40}
QUICK = {"tasks": 4, "actions": 15}


def action_script(task: Task, n_actions: int, seed: int) -> list[str]:
    """The expert's plan, then random admissible actions, ``n_actions`` in all (native)."""
    env = HouseholdEnv(max_steps=10_000)
    obs, info = env.reset(options={"task": task})
    expert = HouseholdExpert(env)
    rng = random.Random(seed)
    actions: list[str] = []
    while len(actions) < n_actions:
        action = expert.act(obs, info).action if not info["won"] else ""
        if info["won"] or not action:
            action = rng.choice(info["admissible_actions"])
        actions.append(action)
        obs, _, _, _, info = env.step(action)
    return actions


def play(engine: str, tasks: list[Task], scripts: list[list[str]]) -> tuple[float, float, list]:
    """Seconds spent in reset and in step over all tasks, and every observation text."""
    env = HouseholdEnv(engine=engine, max_steps=10_000)
    reset_s = step_s = 0.0
    texts: list[str] = []
    try:
        for task, script in zip(tasks, scripts, strict=True):
            start = time.perf_counter()
            obs, _ = env.reset(options={"task": task})
            reset_s += time.perf_counter() - start
            texts.append(obs["text"])
            start = time.perf_counter()
            for action in script:
                obs, _, _, _, _ = env.step(action)
                texts.append(obs["text"])
            step_s += time.perf_counter() - start
    finally:
        env.close()
    return reset_s, step_s, texts


def main() -> None:
    parser = common.base_parser(NAME, __doc__.splitlines()[0], DEFAULT_REPEATS)
    args = parser.parse_args()
    repeats, machine = common.start(args, NAME, DEFAULT_REPEATS)
    sizes = QUICK if args.quick else FULL
    try:
        import alfworld  # noqa: F401
    except ImportError:
        raise SystemExit('the alfworld arm needs the extra: pip install -e ".[alfworld]"') from None

    tasks = [generate_task(SPLITS[i % len(SPLITS)], args.seed + i) for i in range(sizes["tasks"])]
    scripts = [action_script(t, sizes["actions"], args.seed + i) for i, t in enumerate(tasks)]
    n_steps = sum(len(s) for s in scripts)

    rows, texts = [], {}
    for engine in ("native", "alfworld"):
        runs = [play(engine, tasks, scripts) for _ in range(repeats)]
        reset_s = common.median([r[0] for r in runs])
        step_s = common.median([r[1] for r in runs])
        texts[engine] = runs[0][2]
        rows.append([engine, n_steps / step_s, len(tasks) / reset_s, 1000 * step_s / n_steps])
    mismatches = sum(a != b for a, b in zip(texts["native"], texts["alfworld"], strict=True))

    common.print_table(
        f"{len(tasks)} tasks, {n_steps} replayed actions",
        ["engine", "steps_per_s", "resets_per_s", "ms_per_step"],
        rows,
    )
    print(f"\nobservations that differ between the engines: {mismatches} of {len(texts['native'])}")
    result = {
        "native_steps_per_s": rows[0][1],
        "ratio": rows[0][1] / rows[1][1],
        "native_resets_per_s": rows[0][2],
        "alfworld_steps_per_s": rows[1][1],
        "alfworld_resets_per_s": rows[1][2],
        "mismatches": float(mismatches),
    }
    payload = {
        "machine": machine,
        "settings": {**sizes, "repeats": repeats, "quick": args.quick, "seed": args.seed},
        "arms": [
            dict(zip(["engine", "steps_per_s", "resets_per_s", "ms_per_step"], r, strict=True))
            for r in rows
        ],
    }
    common.finish(NAME, args.out, payload, result)


if __name__ == "__main__":
    main()
