"""``benchmarks/shop_speed.py --quick`` keeps the benchmark output contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "shop_speed.py"
KEYS = ("search_p50_ms", "search_p99_ms", "naive_p50_ms", "speedup", "steps_per_s")


@pytest.mark.slow
def test_quick_run_prints_and_writes_the_same_numbers(tmp_path: Path) -> None:
    out = tmp_path / "shop.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--threads", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT shop_speed ")
    printed = {k: float(v) for k, v in (p.split("=") for p in last.split()[2:])}
    written = json.loads(out.read_text())
    assert set(printed) == set(KEYS) and written["result"] == printed
    assert all(v > 0 for v in printed.values())
    assert written["top10_agreement"] >= 0.9  # the baseline ranks like the index
