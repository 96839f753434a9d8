"""The two server benchmarks run end to end at tiny sizes and keep the output contract.

Contract (as for every script in ``benchmarks/``): exit code 0, a JSON at ``--out`` whose
``result`` holds the headline numbers, and a last stdout line ``RESULT <name> key=value ...``
with the same numbers. No timing is asserted; the counts that are not timings are: no
request failed, no fuzz case got a 5xx, and the servers stopped with exit 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "benchmarks"

pytestmark = pytest.mark.slow


def _run(name: str, out: Path, *extra: str) -> tuple[dict[str, float], dict]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [sys.executable, str(BENCHMARKS / f"{name}.py"), "--quick", "--threads", "1"]
    done = subprocess.run(
        [*cmd, "--out", str(out), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    prefix = f"RESULT {name} "
    assert last.startswith(prefix), last
    values = {k: float(v) for k, v in (p.split("=") for p in last[len(prefix) :].split())}
    payload = json.loads(out.read_text())
    assert payload["result"] == values
    return values, payload


@pytest.mark.heavy  # ~50 s: `python -m pytest -m heavy`
def test_serve_load_quick(tmp_path: Path) -> None:
    values, payload = _run(
        "serve_load",
        tmp_path / "load.json",
        "--clients",
        "4",
        "--requests",
        "12",
        "--baseline-requests",
        "4",
        "--max-tokens",
        "4",
    )
    assert set(values) == {"rps", "speedup", "errors", "p99_ms"}
    assert values["errors"] == 0 and values["rps"] > 0 and values["speedup"] > 0
    assert payload["clean_exits"] == [0, 0]
    same, compared = payload["same_text_for_same_seed"]
    assert compared == 4 and same == 4  # a seeded request: the same text batched or alone
    assert payload["batched"]["answered"] == 12


def test_serve_fuzz_quick(tmp_path: Path) -> None:
    values, payload = _run("serve_fuzz", tmp_path / "fuzz.json", "--cases", "40")
    assert values == {"cases": 40.0, "server_errors": 0.0}
    assert payload["alive_after"] and payload["exit_code"] == 0
    assert not any(k.endswith("/bad") for k in payload["by_kind"])
