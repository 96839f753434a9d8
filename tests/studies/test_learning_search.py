"""``studies/learning_search.py --quick`` runs the shared study protocol end to end on
Search QA and keeps the output contract (JSON at --out, per-type EM, last line RESULT)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_quick_study

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.mark.heavy  # ~40 s: `python -m pytest -m heavy`
def test_learning_search_quick(tmp_path: Path) -> None:
    pytest.importorskip("bm25s")
    out = tmp_path / "learning_search.json"
    proc = run_quick_study("learning_search", out, "--work", str(tmp_path / "runs"))
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT learning_search ")
    values = dict(pair.split("=") for pair in last.split()[2:])
    keys = {"cold_start", "gigpo", "t2po", "cold_start_score", "gigpo_score", "t2po_score"}
    assert set(values) == keys and all(0.0 <= float(v) <= 1.0 for v in values.values())
    payload = json.loads(out.read_text())
    methods = payload["methods"]
    assert methods["cold_start"]["success"] == pytest.approx(float(values["cold_start"]), abs=1e-3)
    # EM per question type is reported for the models that met that type
    types = {"single_hop", "bridge", "comparison"}
    assert types & set(methods["cold_start"]) or types & set(methods["t2po"])
    cold = json.loads((tmp_path / "runs" / "cold_start" / "cold_start.json").read_text())
    assert cold["teacher_success"] == 1.0  # the expert answers its cold-start questions
    episodes = (tmp_path / "runs" / "t2po_seed0" / "heldout" / "episodes.jsonl").read_text()
    assert len(episodes.splitlines()) == 4
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
