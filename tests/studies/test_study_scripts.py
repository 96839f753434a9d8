"""The study scripts run end to end in ``--quick`` mode and keep their output contract.

Contract (every script in ``studies/``, as in ``benchmarks/``): exit code 0, a JSON file at
``--out`` whose ``result`` holds the headline numbers, and a last stdout line
``RESULT <name> key=value ...`` with the same numbers. Without ``--out`` a study writes to
the untracked ``runs/studies/<name>/``: a run leaves the checkout clean.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import ignored_by_git, run_quick_study

from t2po.telemetry.jsonl import read_jsonl

REPO = Path(__file__).resolve().parents[2]
STUDIES = REPO / "studies"


def _run(name: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    # one thread: quick mode must stay fast on a busy machine
    cmd = [sys.executable, str(STUDIES / f"{name}.py"), "--quick", "--threads", "1"]
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
    ("name", "keys"),
    [
        ("learning_sokoban", {"cold_start", "gigpo", "t2po"}),
        # ~50 s each on 2 cores: `python -m pytest -m heavy` (Sokoban runs the shared code)
        pytest.param(
            "learning_household", {"cold_start", "gigpo", "t2po"}, marks=pytest.mark.heavy
        ),
        pytest.param(
            "learning_shop",
            {"cold_start", "gigpo", "t2po", "cold_start_score", "gigpo_score", "t2po_score"},
            marks=pytest.mark.heavy,
        ),
    ],
)
def test_family_learning_study_quick(tmp_path: Path, name: str, keys: set[str]) -> None:
    out = tmp_path / f"{name}.json"
    proc = run_quick_study(name, out, "--expert-slip", "0.2", "--work", str(tmp_path / "runs"))
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    values = _parse_result(proc.stdout.strip().splitlines()[-1], name)
    assert set(values) == keys
    assert all(0.0 <= v <= 1.0 for v in values.values())
    payload = json.loads(out.read_text())
    assert payload["methods"]["cold_start"]["success"] == pytest.approx(
        values["cold_start"], abs=1e-3
    )
    t2po = payload["methods"]["t2po"]
    assert set(t2po) >= {"turns", "tokens_per_turn", "invalid", "per_seed", "paired_vs_cold_start"}
    (paired,) = t2po["paired_vs_cold_start"]  # one seed in quick mode, against the cold start
    assert paired["tasks"] == 4 and paired["only_after"] + paired["only_before"] <= 4
    assert "sign test p" in proc.stdout
    # The held-out evaluation is a `t2po eval` folder (what `t2po compare` reads).
    episodes = (tmp_path / "runs" / "t2po_seed0" / "heldout" / "episodes.jsonl").read_text()
    assert len(episodes.splitlines()) == 4
    cold_start = json.loads((tmp_path / "runs" / "cold_start" / "cold_start.json").read_text())
    assert cold_start["expert_slip"] == 0.2  # the study's teacher setting reached the cold start
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
@pytest.mark.heavy  # over a minute: `python -m pytest -m heavy`
def test_family_study_shards_then_aggregates_without_retraining(tmp_path: Path) -> None:
    """Two ``--shard`` processes split the runs; ``--reuse`` then only reads them back."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    work, out = tmp_path / "runs", tmp_path / "household.json"
    cmd = [sys.executable, str(STUDIES / "learning_household.py"), "--quick"]
    cmd += ["--work", str(work), "--out", str(out), "--reuse"]

    def run(*extra: str) -> str:
        proc = subprocess.run(
            [*cmd, *extra], capture_output=True, text=True, env=env, timeout=600, check=False
        )
        assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        return proc.stdout

    assert "shard 0/2 done" in run("--shard", "0/2")
    assert sorted(p.name for p in work.iterdir()) == ["cold_start", "gigpo_seed0"]
    assert "shard 1/2 done" in run("--shard", "1/2")
    trained = {p: p.stat().st_mtime_ns for p in work.glob("*_seed0/metrics.jsonl")}
    evaluated = {p: p.stat().st_mtime_ns for p in work.glob("*_seed0/heldout/episodes.jsonl")}
    assert len(trained) == 2 and len(evaluated) == 2
    last = run().strip().splitlines()[-1]
    assert set(_parse_result(last, "learning_household")) == {"cold_start", "gigpo", "t2po"}
    assert {p: p.stat().st_mtime_ns for p in trained} == trained  # nothing retrained
    assert {p: p.stat().st_mtime_ns for p in evaluated} == evaluated  # nor played again
    payload = json.loads(out.read_text())
    for method in ("gigpo", "t2po"):
        saved = json.loads((work / f"{method}_seed0" / "heldout" / "summary.json").read_text())
        assert payload["methods"][method]["per_seed"] == [saved["total"]["success"]]


@pytest.mark.slow
@pytest.mark.heavy  # ~45 s: `python -m pytest -m heavy`
def test_rl_sweep_runs_arms_in_parallel_then_reports_without_rerunning(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    work, out = tmp_path / "runs", tmp_path / "sweep.json"
    cmd = [sys.executable, str(STUDIES / "rl_sweep.py"), "--quick"]
    cmd += ["--work", str(work), "--out", str(out)]

    def run(*extra: str) -> str:
        proc = subprocess.run(
            [*cmd, *extra], capture_output=True, text=True, env=env, timeout=600, check=False
        )
        assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        return proc.stdout

    first = run()
    values = _parse_result(first.strip().splitlines()[-1], "rl_sweep")
    assert set(values) == {"start", "best_final", "best_peak", "arms"} and values["arms"] == 2
    payload = json.loads(out.read_text())
    for arm in payload["arms"].values():
        assert arm["status"] == "done" and arm["iterations_done"] == 2
        assert sorted(arm["val_success"]) == ["0", "1", "2"]  # JSON keys: steps as text
    assert payload["result"]["start"] == pytest.approx(values["start"], abs=1e-3)
    # --report-only tabulates the same folders again and trains nothing.
    mtimes = {p: p.stat().st_mtime for p in work.glob("*/metrics.jsonl")}
    again = run("--report-only")
    assert again.strip().splitlines()[-1] == first.strip().splitlines()[-1]
    assert {p: p.stat().st_mtime for p in work.glob("*/metrics.jsonl")} == mtimes


def test_sokoban_moves_grades_the_expert_and_eval_folders(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    script = str(STUDIES / "sokoban_moves.py")

    def run(*argv: str) -> dict[str, float]:
        proc = subprocess.run(
            [sys.executable, script, *argv], capture_output=True, text=True, env=env, timeout=300
        )
        assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        return _parse_result(proc.stdout.strip().splitlines()[-1], "sokoban_moves")

    # The optimal expert: every move on a shortest path, every action as its thought said.
    quick = run("--quick", "--out", str(tmp_path / "quick.json"))
    assert quick == {
        "expert_success": 1.0,
        "expert_bump": 0.0,
        "expert_deadlock": 0.0,
        "expert_agrees": 1.0,
    }
    # An eval folder's episodes.jsonl: one bump (thought said down, action right), one win.
    grid = "# # # # # #\n# _ _ P # #\n# _ _ X _ #\n# _ O _ _ #\n# _ # _ _ #\n# # # # # #"
    said = "<think>you (2,4): move down.</think><action>{}</action>"
    turns = [
        {"observation": grid, "response": said.format("right"), "action": "right"},
        {"observation": grid, "response": said.format("down"), "action": "down"},
    ]
    folder = tmp_path / "ev"
    folder.mkdir()
    row = {"key": "sokoban/0", "won": True, "turns": turns}
    (folder / "episodes.jsonl").write_text(json.dumps(row) + "\n")
    graded = run(f"agent={folder}", "--out", str(tmp_path / "ev.json"))
    assert graded == {
        "agent_success": 1.0,
        "agent_bump": 0.5,
        "agent_deadlock": 0.0,
        "agent_agrees": 0.5,
    }
    payload = json.loads((tmp_path / "ev.json").read_text())
    assert payload["rates"]["agent"]["optimal"] == 0.5 and payload["result"] == graded


@pytest.mark.slow
@pytest.mark.heavy  # over a minute: `python -m pytest -m heavy`
def test_credit_alignment_quick(tmp_path: Path) -> None:
    """A small cold start, two small batches, every credit's direction graded on held-out rooms."""
    out = tmp_path / "credit_alignment.json"
    proc = _run("credit_alignment", out, "--work", str(tmp_path / "work"))
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    values = _parse_result(proc.stdout.strip().splitlines()[-1], "credit_alignment")
    assert set(values) == {"gigpo", "gigpo_decision", "step", "oracle"}
    assert all(-1.0 <= v <= 1.0 for v in values.values())
    payload = json.loads(out.read_text())
    summary = payload["summary"]
    assert payload["result"] == {k: round(summary[k]["cos_held_out"][0], 4) for k in values}
    assert len(payload["repeats"]) == 2  # --quick: two independent batches
    for rep in payload["repeats"]:
        assert rep["held_out_decisions"] > 0 and rep["seen_decisions"] > 0
        assert 0.0 <= rep["p_opt_held_out"] <= 1.0
        assert sum(rep["grades"].values()) == pytest.approx(1.0)
        assert set(rep["credits"]) == set(summary)


@pytest.mark.slow
@pytest.mark.heavy  # ~40 s: `python -m pytest -m heavy`
def test_learning_cards_quick(tmp_path: Path) -> None:
    """One game, one cold start, GRPO/GiGPO/T2PO, evaluations on two sampling streams."""
    out = tmp_path / "learning_cards.json"
    proc = _run("learning_cards", out, "--work", str(tmp_path / "work"))
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    values = _parse_result(proc.stdout.strip().splitlines()[-1], "learning_cards")
    assert set(values) == {f"numberline_{m}" for m in ("cold", "grpo", "gigpo", "t2po")}
    arm = json.loads(out.read_text())["arms"]["numberline/weak"]
    assert set(arm["methods"]) == {"grpo", "gigpo", "t2po"}
    for method in arm["methods"].values():
        (paired,) = method["paired_vs_cold_start"]
        assert paired["tasks"] == 2 * 4  # 4 held-out tasks on 2 sampling streams
    streams = read_jsonl(
        tmp_path / "work" / "numberline_weak" / "cold_start" / "heldout" / "episodes.jsonl"
    )
    assert sorted({r["stream"] for r in streams}) == [0, 1]
    assert (tmp_path / "learning_cards_numberline_weak.png").is_file()


@pytest.mark.slow
@pytest.mark.heavy  # ~45 s: `python -m pytest -m heavy`
def test_coldstart_repro_quick(tmp_path: Path) -> None:
    """Two thread counts, one cold start each, both evaluated on the same held-out tasks."""
    out = tmp_path / "coldstart_repro.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [sys.executable, str(STUDIES / "coldstart_repro.py"), "--quick", "--threads", "1,2"]
    proc = subprocess.run(
        [*cmd, "--out", str(out), "--work", str(tmp_path / "work")],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    values = _parse_result(proc.stdout.strip().splitlines()[-1], "coldstart_repro")
    runs = json.loads(out.read_text())["runs"]
    assert [r["threads"] for r in runs] == [1, 2]
    success = [r["success"] for r in runs]
    assert values == {"spread": max(success) - min(success), "min_success": min(success)}
    for r in runs:
        assert (
            tmp_path / "work" / f"threads{r['threads']}_run0" / "eval" / "episodes.jsonl"
        ).is_file()
        assert 1 <= r["best_epoch"] <= 2 and r["val_loss_best"] is not None
        assert r["base_model_sha256"] == json.loads(out.read_text())["base_model"]["sha256"]


def test_coldstart_repro_reuses_only_a_cold_start_of_the_same_base_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(STUDIES))
    import coldstart_repro

    model = tmp_path / "cold_start"
    assert not coldstart_repro.reusable(model, "abc")  # nothing there yet
    model.mkdir()
    record = model / "cold_start.json"
    record.write_text(json.dumps({"epoch_losses": [1.0]}))  # made before base models were named
    assert not coldstart_repro.reusable(model, "abc")
    record.write_text(json.dumps({"base_model_sha256": "def"}))  # from another base model
    assert not coldstart_repro.reusable(model, "abc")
    record.write_text(json.dumps({"base_model_sha256": "abc"}))
    assert coldstart_repro.reusable(model, "abc")


def _rl_sweep(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(STUDIES))
    import rl_sweep

    return rl_sweep


# The grids that were Python literals in rl_sweep.py before they became YAML files.
GRIDS_BEFORE = [
    "adam_eps", "aligned", "big_batch", "bump", "eps_turn", "frozen_vocab", "kl_anchor", "long",
    "lr_batch", "mean_norm", "memory", "quick", "slip", "top_entropy", "turn_stats",
    "weak_start", "wide",
]  # fmt: skip


def test_rl_sweep_grids_resolve_to_the_arms_of_the_published_sweeps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every arm a committed ``rl_sweep_*.json`` ran still resolves to the same overrides."""
    rl_sweep = _rl_sweep(monkeypatch)
    assert rl_sweep.grid_names() == GRIDS_BEFORE
    checked = 0
    for path in sorted((STUDIES / "results").glob("rl_sweep_*.json")):
        payload = json.loads(path.read_text())
        arms = rl_sweep.load_grid(payload["args"]["grid"])
        for name, arm in payload["arms"].items():
            assert arms[name] == arm["overrides"], (path.name, name)
            checked += 1
    assert checked >= 50  # 53 published arms across 17 sweep files


def test_rl_sweep_grids_keep_their_order_and_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    rl_sweep = _rl_sweep(monkeypatch)
    # arms run (and are tabulated) in file order; overrides apply in order, a later one wins
    assert rl_sweep.load_grid("quick") == {
        "lr1e-4": [
            "optim.lr=0.0001",
            "rollout.tasks_per_iter=2",
            "optim.mini_batch_size=4096",
            "rollout.group_size=2",
        ],
        "lr2e-4": [
            "optim.lr=0.0002",
            "rollout.tasks_per_iter=2",
            "optim.mini_batch_size=4096",
            "rollout.group_size=2",
        ],
    }
    slip = rl_sweep.load_grid("slip")
    assert list(slip)[-1] == "lr1e-4_mb64_turn_eps"
    assert slip["lr1e-4_mb64_turn_eps"][-1] == "optim.mini_batch_size=64"  # after the 4096
    assert sum(len(rl_sweep.load_grid(g)) for g in GRIDS_BEFORE) == 57


def test_rl_sweep_grid_errors_name_the_choices(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rl_sweep = _rl_sweep(monkeypatch)
    with pytest.raises(SystemExit, match="unknown grid 'nope': choose one of adam_eps, aligned"):
        rl_sweep.load_grid("nope")
    mine = tmp_path / "mine.yaml"
    mine.write_text("a:\n  - optim.lr=0.001\nb: [optim.lr=0.002, rollout.group_size=4]\n")
    assert rl_sweep.load_grid(str(mine)) == {
        "a": ["optim.lr=0.001"],
        "b": ["optim.lr=0.002", "rollout.group_size=4"],
    }
    mine.write_text("a: optim.lr=0.001\n")
    with pytest.raises(SystemExit, match="arm 'a' must be a list of KEY=VALUE overrides"):
        rl_sweep.load_grid(str(mine))


def test_every_study_writes_to_an_untracked_run_folder_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(STUDIES))
    import _family_study
    import credit_alignment
    import rl_sweep

    runs = REPO / "runs" / "studies"
    defaults: dict[str, tuple[Path, Path]] = {}
    monkeypatch.setattr(sys, "argv", ["study"])
    for name in ("learning_sokoban", "learning_household", "learning_shop"):
        study = _family_study.Study(name=name, family="x", preset="quickstart.yaml", title="")
        args = _family_study.parse_args(study, "")
        defaults[name] = (Path(args.out), Path(args.work))
    for module in (rl_sweep, credit_alignment):
        args = module.parse_args()
        name = Path(module.__file__).stem
        defaults[name] = (args.out, args.work)
    for name, (out, work) in defaults.items():
        assert out == runs / name / f"{name}.json", name
        assert work == runs / name / "runs", name
        assert ignored_by_git(out) and ignored_by_git(work / "x" / "metrics.jsonl"), name
    # credit_alignment's default policy is the cold start learning_sokoban writes by default
    assert defaults["learning_sokoban"][1] / "cold_start" == credit_alignment.DEFAULT_INIT


def test_a_study_run_without_out_leaves_the_checkout_clean(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, str(STUDIES / "sokoban_moves.py"), "--quick"],
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
    assert out == REPO / "runs" / "studies" / "sokoban_moves" / "sokoban_moves.json"
    assert json.loads(out.read_text())["result"]["expert_success"] == 1.0
    assert ignored_by_git(out)
    assert not list(tmp_path.iterdir())
