"""Shared helpers for the scripts in ``benchmarks/`` (not a benchmark itself).

Every benchmark compares against a baseline *in the same run*, prints a table, writes a JSON
(with the machine it ran on) and ends with exactly one line ``RESULT <name> key=value ...``.
Nothing here asserts on a timing. The JSON goes to ``runs/benchmarks/<name>/`` (``runs/`` is
gitignored, so a run leaves the checkout clean); the committed ``benchmarks/results/`` files
change only when asked, with ``--out benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from t2po.types import Message

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"  # committed: written only via --out
RUNS_DIR = REPO / "runs" / "benchmarks"  # untracked: where a run writes by default


def set_offline() -> None:
    """Never reach a hub: every model here is local (architecture.md, Decision 7)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def base_parser(name: str, description: str, default_repeats: int) -> argparse.ArgumentParser:
    """The flags every benchmark takes: ``--quick``, ``--repeats``, ``--out``, ``--device``."""
    parser = argparse.ArgumentParser(prog=f"benchmarks/{name}.py", description=description)
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes and 1 repeat (seconds; for tests)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help=f"timed repeats per arm, medians reported (default {default_repeats}; 1 with --quick)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RUNS_DIR / name / f"{name}.json",
        help=f"where to write the JSON results (default: runs/benchmarks/{name}/{name}.json, "
        f"untracked; --out benchmarks/results/{name}.json updates the committed result)",
    )
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: torch's own default, left as is)",
    )
    parser.add_argument("--seed", type=int, default=0, help="base seed of the sampled tokens")
    return parser


def setup(args: argparse.Namespace, default_repeats: int) -> int:
    """Apply ``--threads`` (if given) and return the number of repeats to run."""
    if args.threads is not None:
        if args.threads < 1:
            raise SystemExit("--threads must be >= 1")
        import torch

        torch.set_num_threads(args.threads)
    if args.repeats is not None:
        if args.repeats < 1:
            raise SystemExit("--repeats must be >= 1")
        return int(args.repeats)
    return 1 if args.quick else default_repeats


def cpu_model() -> str:
    """The ``model name`` line of ``/proc/cpuinfo`` (falls back to ``platform``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: str) -> dict[str, Any]:
    """What the numbers depend on: CPU, cores, thread counts, library versions, device."""
    import torch
    import transformers

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 0
    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": usable,
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "transformers_version": transformers.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    with contextlib.suppress(OSError):
        info["load_average_at_start"] = list(os.getloadavg())
    return info


def print_header(
    name: str, machine: dict[str, Any], device: str, repeats: int, quick: bool
) -> None:
    """One line saying what ran where."""
    print(
        f"{name}: {machine['cpu_model']}, {machine['cpu_cores']} cores, "
        f"torch {machine['torch_version']} with {machine['torch_threads']} threads, "
        f"device {device}, repeats {repeats}{' (quick)' if quick else ''}"
    )


def start(
    args: argparse.Namespace, name: str, default_repeats: int, device: str = "cpu"
) -> tuple[int, dict[str, Any]]:
    """A benchmark's first steps: ``setup`` (threads, repeats), the machine record, and the
    header line. Returns the repeats and the machine record."""
    repeats = setup(args, default_repeats)
    machine = machine_info(device)
    print_header(name, machine, device, repeats, args.quick)
    return repeats, machine


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(torch.device(device))


def timed(fn: Callable[[], T], device: str = "cpu") -> tuple[float, T]:
    """Wall-clock seconds of ``fn()`` (device work included) and its result."""
    synchronize(device)
    start = time.perf_counter()
    out = fn()
    synchronize(device)
    return time.perf_counter() - start, out


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain fixed-width table on stdout."""
    cells = [[str(h) for h in headers]] + [[fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    # text columns (judged by the first row) read left-aligned, numbers right-aligned
    left = [bool(rows) and isinstance(c, str) for c in (rows[0] if rows else headers)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(
            "  ".join(
                c.ljust(w) if is_left else c.rjust(w)
                for c, w, is_left in zip(row, widths, left, strict=True)
            )
        )


def result_text(value: float) -> str:
    """4 decimals; a value below 1e-3 in 4 significant digits (a float error, not a zero)."""
    return f"{value:.3e}" if 0 < abs(value) < 1e-3 else f"{value:.4f}"


def result_values(values: dict[str, float]) -> dict[str, float]:
    """The headline numbers as printed on the RESULT line, so JSON == stdout."""
    return {k: float(result_text(v)) for k, v in values.items()}


def finish(name: str, out: Path, payload: dict[str, Any], result: dict[str, float]) -> None:
    """Write the JSON (``result`` included) and print the single ``RESULT`` line, last."""
    result = result_values(result)
    payload = {"benchmark": name, **payload, "result": result}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    print(f"\nwrote {out}")
    pairs = " ".join(f"{k}={result_text(v)}" for k, v in result.items())
    print(f"RESULT {name} {pairs}", flush=True)


def sokoban_prompts(n: int, seed0: int = 0) -> list[list[Message]]:
    """``n`` first-turn chat prompts of the Sokoban family, as the rollout engine builds them."""
    import gymnasium as gym

    from t2po.envs import get_family
    from t2po.rollout.prompts import build_messages

    family = get_family("sokoban")
    env = gym.make(family.env_id, disable_env_checker=True)
    prompts: list[list[Message]] = []
    try:
        for i in range(n):
            obs, info = env.reset(seed=seed0 + i)
            messages = build_messages(
                family.instructions,
                obs["text"],
                [],
                memory_window=family.memory_window,
                turn_index=0,
                task=info.get("task"),
            )
            prompts.append(list(messages))
    finally:
        env.close()
    return prompts
