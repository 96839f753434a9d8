"""`t2po report` pieces on hand-made runs: labels, grouping, counters, the written summary."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from t2po.telemetry.loggers import JsonlLogger
from t2po.telemetry.report import (
    ENV_STEPS,
    TOKENS,
    add_counters,
    group_runs,
    load_run,
    seed_label,
    write_report,
)


def make_run(
    folder: Path, rows: list[dict[str, Any]], config: dict[str, Any] | None = None
) -> Path:
    logger = JsonlLogger(folder / "metrics.jsonl")
    for row in rows:
        logger.log(int(row["step"]), {k: v for k, v in row.items() if k != "step"})
    logger.close()
    if config is not None:
        (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("gigpo_seed0", "gigpo"),
        ("t2po-seed12", "t2po"),
        ("ppo.seed_3", "ppo"),
        ("run", None),
        ("seed3", None),  # nothing left once the suffix is gone
    ],
)
def test_seed_label(name: str, label: str | None) -> None:
    assert seed_label(name) == label


def test_add_counters_sums_totals_and_falls_back_to_means() -> None:
    rows = [
        # out of order on purpose: counters follow `step`
        {"step": 2, "rollout/episodes": 4.0, "rollout/turns": 2.5, "rollout/tokens": 30.0},
        {"step": 0, "val/success": 0.5},
        {"step": 1, "rollout/env_steps": 7.0, "rollout/tokens_total": 90.0},
    ]
    out = add_counters(rows)
    assert [r["step"] for r in out] == [0, 1, 2]
    assert [r[ENV_STEPS] for r in out] == [0.0, 7.0, 7.0 + 4 * 2.5]
    assert [r[TOKENS] for r in out] == [0.0, 90.0, 90.0 + 4 * 30.0]
    assert ENV_STEPS not in rows[0]  # the input rows are not changed


def test_group_runs_by_name_then_by_config(tmp_path: Path) -> None:
    base = {"seed": 0, "run_dir": "x", "optim": {"lr": 1e-3}}
    folders = [
        make_run(tmp_path / "gigpo_seed0", [{"step": 1}]),
        make_run(tmp_path / "a", [{"step": 1}], {**base, "run_dir": "a"}),
        make_run(tmp_path / "gigpo_seed1", [{"step": 1}]),
        make_run(tmp_path / "b", [{"step": 1}], {**base, "seed": 1, "run_dir": "b"}),
        make_run(tmp_path / "c", [{"step": 1}], {**base, "optim": {"lr": 1e-4}}),
    ]
    groups = group_runs([load_run(f) for f in folders])
    assert {label: [r.name for r in runs] for label, runs in groups.items()} == {
        "gigpo": ["gigpo_seed0", "gigpo_seed1"],
        "a": ["a", "b"],  # same settings but the seed
        "c": ["c"],
    }


def test_missing_metrics_file_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no metrics.jsonl"):
        write_report([tmp_path], tmp_path / "out")


def test_write_report_tables_plots_and_notes(tmp_path: Path) -> None:
    def rows(success: list[float]) -> list[dict[str, Any]]:
        return [
            {"step": i + 1, "rollout/success": s, "rollout/env_steps": 10.0, "actor/entropy": 1.0}
            for i, s in enumerate(success)
        ]

    runs = [
        make_run(tmp_path / "x_seed0", rows([0.2, 0.4])),
        make_run(tmp_path / "x_seed1", rows([0.4, 0.8])),
        make_run(tmp_path / "y_seed0", rows([0.1])),
    ]
    out = write_report(runs, tmp_path / "report")
    summary = (out / "summary.md").read_text()
    # x: last success 0.4 and 0.8 -> 0.600 ± 0.200; env steps 20 and 20; y: one seed, no ±.
    assert "| x | 2 | 2 | 0.600 ± 0.200 | - | - | 20 ± 0 |" in summary
    assert "| y | 1 | 1 | 0.100 | - | - | 10 |" in summary
    # Figures with at least one logged key are drawn; the rest are noted, not errors.
    pngs = {p.name for p in out.glob("*.png")}
    assert pngs == {
        "success_vs_iterations.png",
        "success_vs_env_steps.png",
        "success_vs_tokens.png",
        "optimization.png",
    }
    assert "not logged by any run: tti/fire_rate, tti/forced_tokens" in summary
    assert "Episode shape: not logged by any run: rollout/tokens_per_turn" in summary
    assert "actor/kl, actor/approx_kl, actor/grad_norm" in summary
    page = (out / "summary.html").read_text()
    assert "<td>0.600 ± 0.200</td>" in page
    assert all(f"<img src='{name}'" in page for name in pngs)


# ---------------------------------------------------------------------- sample episodes


class _Images(HTMLParser):
    """The ``src`` of every ``<img>`` on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.srcs += [value or "" for name, value in attrs if name == "src"]


def page_images(page: Path) -> list[str]:
    parser = _Images()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.srcs


def run_with_transcripts(folder: Path, **env_kwargs: object) -> Path:
    """A run folder: metrics of 2 iterations and the transcripts of 2 scripted Sokoban
    episodes per iteration (pictures under images/ when env_kwargs ask for them)."""
    from conftest import default_rollout, default_sampling

    from t2po.envs.registry import get_family
    from t2po.inference.scripted import ScriptedSampler
    from t2po.rollout.engine import Task, rollout
    from t2po.telemetry.transcripts import TranscriptWriter

    make_run(folder, [{"step": 1, "rollout/success": 0.0}, {"step": 2, "rollout/success": 0.5}])
    writer = TranscriptWriter(folder / "transcripts.jsonl")
    for iteration in (1, 2):
        groups = rollout(
            ScriptedSampler(["<think>go</think><action>up</action>", "<action>left</action>"]),
            get_family("sokoban"),
            [Task("t", iteration)],
            2,
            default_sampling(),
            default_rollout(max_turns=2, env_kwargs=env_kwargs),
        )
        writer.write(iteration, groups)
    return folder


def test_report_shows_image_turns_with_pictures_copied_beside_the_page(tmp_path: Path) -> None:
    pictures = run_with_transcripts(tmp_path / "vision_seed0", obs_mode="image", cell_size=6)
    text = run_with_transcripts(tmp_path / "text_seed0")
    out = write_report([pictures, text], tmp_path / "report")
    srcs = page_images(out / "summary.html")
    frames = [s for s in srcs if s.startswith("episodes/")]
    # The last iteration's 2 episodes of the image run, 2 turns each; none for text turns.
    last = [json.loads(x) for x in (pictures / "transcripts.jsonl").read_text().splitlines()][2:]
    expected = [f"episodes/00_vision_seed0/{t['image']}" for e in last for t in e["turns"]]
    assert frames == expected and len(frames) == 4
    for src, name in zip(frames, [t["image"] for e in last for t in e["turns"]], strict=True):
        assert (out / src).read_bytes() == (pictures / name).read_bytes()
    page = (out / "summary.html").read_text()
    assert page.count("<details>") == 4  # 2 episodes per run
    assert "text_seed0: t (seed 2), iteration 2 train" in page
    assert "Sample episodes" in (out / "summary.md").read_text()
    # Relative paths: the page still finds every picture once the folder is moved.
    moved = Path(shutil.move(out, tmp_path / "elsewhere" / "report"))
    shutil.rmtree(pictures / "images")
    assert all((moved / src).is_file() for src in page_images(moved / "summary.html"))


def test_report_episode_pictures_missing_or_outside_the_run_are_not_shown(tmp_path: Path) -> None:
    run = run_with_transcripts(tmp_path / "run", obs_mode="image", cell_size=6)
    lines = [json.loads(x) for x in (run / "transcripts.jsonl").read_text().splitlines()]
    lines[-2]["turns"][0]["image"] = "../secret.png"  # a transcript must not reach other files
    (tmp_path / "secret.png").write_bytes((run / lines[-2]["turns"][1]["image"]).read_bytes())
    (run / lines[-1]["turns"][0]["image"]).unlink()
    (run / "transcripts.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = write_report([run], tmp_path / "report")
    page = (out / "summary.html").read_text()
    assert len([s for s in page_images(out / "summary.html") if "episodes/" in s]) == 2
    assert "picture ../secret.png is missing from the run" in page
    assert page.count("is missing from the run") == 2
    assert not list(out.rglob("secret.png"))
    assert write_report([run], tmp_path / "none", episodes_per_run=0)
    assert "Sample episodes" not in (tmp_path / "none" / "summary.html").read_text()
