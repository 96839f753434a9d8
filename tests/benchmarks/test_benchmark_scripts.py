"""The benchmark scripts run end to end in ``--quick`` mode and keep their output contract.

Contract (every script in ``benchmarks/``): exit code 0, a JSON file at ``--out`` whose
``result`` holds the headline numbers, and a last stdout line ``RESULT <name> key=value ...``
with the same numbers. No timing is asserted: only that the numbers exist and parse. Without
``--out`` the JSON goes to the untracked ``runs/benchmarks/<name>/``: a run leaves the
checkout clean.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ignored_by_git

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "benchmarks"

CASES = {
    "ddp_update": ("max_abs_diff", "ratio"),
    "decode_overhead": ("ratio", "ratio_v152k"),
    "env_workers": ("speedup", "ceiling"),
    "gpu_decode": ("ratio", "ratio_v152k", "vs_generate"),
    "rollout_throughput": ("speedup",),
    "train_speed": (
        "sft_speedup",
        "update_speedup",
        "rollout_speedup",
        "sft_seqs_per_s",
        "update_turns_per_s",
    ),
    "vision_turns": tuple(
        f"{game}_{mode}_{stage}"
        for game in ("sokoban", "numberline")
        for mode in ("image", "text_image")
        for stage in ("rollout", "update")
    ),
}


# The one quick run in the default test run; the others (20-200 s each on 2 cores) are
# `heavy`: `python -m pytest -m heavy`. They share the code this one checks (_common).
DEFAULT_RUN = {"rollout_throughput"}
HEAVY = pytest.mark.heavy

# Scripts that need optional extras: skipped, with the reason, where those are not installed.
NEEDS = {"env_workers": ("alfworld", "ray")}


def _run(name: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    # one thread: quick mode must stay fast on a busy machine (2 threads fighting other
    # processes for 2 cores run many times slower); full runs keep torch's default
    cmd = [sys.executable, str(BENCHMARKS / f"{name}.py"), "--quick", "--threads", "1"]
    return subprocess.run(
        [*cmd, "--out", str(out), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def _parse_result(line: str, name: str) -> dict[str, float]:
    prefix = f"RESULT {name} "
    assert line.startswith(prefix), line
    values = {}
    for pair in line[len(prefix) :].split():
        key, _, value = pair.partition("=")
        values[key] = float(value)
    return values


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=() if n in DEFAULT_RUN else HEAVY) for n in sorted(CASES)]
)
def test_quick_run_keeps_the_contract(name: str, tmp_path: Path) -> None:
    missing = [m for m in NEEDS.get(name, ()) if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(
            f"{name} plays the real ALFWorld engine in Ray actors and needs "
            f"{', '.join(missing)}: pip install -e '.[alfworld,ray]' (CI installs both)"
        )
    out = tmp_path / f"{name}.json"
    proc = _run(name, out)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"

    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr
    assert sum(line.startswith("RESULT ") for line in lines) == 1, proc.stdout
    values = _parse_result(lines[-1], name)
    assert set(values) == set(CASES[name])
    assert all(math.isfinite(v) and v > 0 for v in values.values()), values

    assert out.is_file()
    payload = json.loads(out.read_text())
    assert payload["benchmark"] == name
    assert payload["quick"] is True
    assert payload["result"] == values
    machine = payload["machine"]
    for key in ("cpu_model", "cpu_cores", "torch_version", "torch_threads"):
        assert machine[key], key
    assert machine["torch_threads"] == 1
    CHECKS[name](payload)


def _check_decode_overhead(payload: dict[str, Any]) -> None:
    """Both arms emitted identical tokens, so the ratio compares equal work."""
    for model in ("tiny", "v152k"):
        run = payload[model]
        assert run["identical_tokens"] is True
        assert run["tti_fired_rows"] == 0
        assert run["generated_tokens_on"] == run["generated_tokens_off"] > 0
    assert payload["v152k"]["vocab_size"] == 151_936
    assert payload["sampling_step_v152k"]["vocab_size"] == 151_936


def _check_ddp_update(payload: dict[str, Any]) -> None:
    """Both arms timed every repeat and ended with the same weights (to float error)."""
    repeats = payload["settings"]["repeats"]
    assert len(payload["seconds_one_process"]) == len(payload["seconds_two_processes"]) == repeats
    assert payload["max_abs_diff_weights"] < 1e-5


def _check_env_workers(payload: dict[str, Any]) -> None:
    """Every arm played the same episodes to the same observations, without a failure."""
    assert [arm["arm"] for arm in payload["arms"]] == ["in_process", "ray_2", "processes_2"]
    assert payload["steps"] > 0
    assert payload["mismatched_episodes"] == 0
    assert payload["failures"] == 0


def _check_gpu_decode(payload: dict[str, Any]) -> None:
    """Both backends did equal work on and off; the three decode arms produced tokens."""
    for run in payload["overhead"].values():
        assert run["identical_tokens"] is True
        assert run["tti_fired_rows"] == 0
    vs = payload["versus_generate"]
    assert set(vs["arms"]) == {"ours_graph", "ours_eager", "hf_generate_batched"}
    assert all(n > 0 for arm in vs["arms"].values() for n in arm["generated_tokens"])
    assert vs["rows_graph_equal_eager"] == vs["batch"]  # float32 on CPU: the same tokens


def _check_rollout_throughput(payload: dict[str, Any]) -> None:
    arms = payload["arms"]
    assert set(arms) == {"ours", "hf_generate_per_episode", "hf_generate_batched"}
    for arm in arms.values():
        assert all(n > 0 for n in arm["generated_tokens"])
        assert arm["median_tokens_per_s"] > 0


def _check_train_speed(payload: dict[str, Any]) -> None:
    """Both arms of every stage did the same work to the same result (to float rounding)."""
    assert [stage["stage"] for stage in payload["stages"]] == ["sft", "update", "rollout"]
    agreement = payload["agreement"]
    assert agreement["sft_loss_abs_diff"] < 1e-4
    assert agreement["update_weights_max_abs_diff"] < 1e-4
    assert agreement["rollout_same_tokens"] is True


def _check_vision_turns(payload: dict[str, Any]) -> None:
    """Every arm played the same turns; the picture arms' prompts hold vision tokens, the text
    arm's none, the text+image arm the image arm's."""
    for game, arms in payload["arms"].items():
        assert set(arms) == {"text", "image", "text+image"}, game
        assert len({tuple(arm["turns"]) for arm in arms.values()}) == 1, game
        text, image, both = arms["text"], arms["image"], arms["text+image"]
        assert text["vision_tokens_per_turn"] == 0
        assert image["vision_tokens_per_turn"] > 0
        assert both["vision_tokens_per_turn"] == image["vision_tokens_per_turn"]
        for arm in arms.values():
            assert arm["update_tokens_per_s"] > 0 and arm["rollout_turns_per_s"] > 0


CHECKS = {
    "ddp_update": _check_ddp_update,
    "decode_overhead": _check_decode_overhead,
    "env_workers": _check_env_workers,
    "gpu_decode": _check_gpu_decode,
    "rollout_throughput": _check_rollout_throughput,
    "train_speed": _check_train_speed,
    "vision_turns": _check_vision_turns,
}


def test_every_benchmark_writes_to_an_untracked_run_folder_by_default() -> None:
    spec = importlib.util.spec_from_file_location("bench_common", BENCHMARKS / "_common.py")
    assert spec is not None and spec.loader is not None
    common = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(common)
    names = sorted(p.stem for p in BENCHMARKS.glob("[!_]*.py"))
    assert names == [
        "ddp_update",
        "decode_overhead",
        "env_workers",
        "gpu_decode",
        "household_env_speed",
        "retriever_load",
        "rollout_throughput",
        "serve_fuzz",
        "serve_load",
        "shop_speed",
        "train_speed",
        "vision_turns",
    ]
    for name in names:
        assert "common.base_parser(NAME" in (BENCHMARKS / f"{name}.py").read_text()
        out = common.base_parser(name, "", 1).parse_args([]).out
        assert out == REPO / "runs" / "benchmarks" / name / f"{name}.json"
        assert ignored_by_git(out), out
        # asked for: the committed result is one --out away
        asked = common.base_parser(name, "", 1).parse_args(["--out", str(common.RESULTS_DIR)])
        assert asked.out == BENCHMARKS / "results"


def test_a_run_without_out_leaves_the_checkout_clean(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    script = BENCHMARKS / "household_env_speed.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--quick", "--threads", "1"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # any working directory: the run folder is the checkout's runs/
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    wrote = next(line for line in proc.stdout.splitlines() if line.startswith("wrote "))
    out = Path(wrote.removeprefix("wrote "))
    assert out == REPO / "runs" / "benchmarks" / "household_env_speed" / "household_env_speed.json"
    payload = json.loads(out.read_text())
    assert payload["result"] == _parse_result(proc.stdout.splitlines()[-1], "household_env_speed")
    assert ignored_by_git(out)
    assert not list(tmp_path.iterdir())  # nothing written where it ran either
