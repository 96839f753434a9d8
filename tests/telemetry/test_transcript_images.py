"""Image turns in transcripts and evaluation rows: PNG files referenced by path, never inlined."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from conftest import default_rollout, default_sampling
from PIL import Image

from t2po.envs.registry import get_family
from t2po.evaluation.runner import episode_row
from t2po.evaluation.suite import EvalCell
from t2po.inference.scripted import ScriptedSampler
from t2po.rollout.engine import Task, rollout
from t2po.telemetry.transcripts import (
    TranscriptWriter,
    read_transcripts,
    render_transcript_markdown,
)
from t2po.types import TrajectoryGroup

RESPONSES = [
    "<think>go</think><action>up</action>",
    "no tags",
    "<think>go</think><action>left</action>",
]


def sokoban_groups(**env_kwargs: object) -> list[TrajectoryGroup]:
    settings = default_rollout(max_turns=3, env_kwargs=env_kwargs)
    return rollout(
        ScriptedSampler(RESPONSES),
        get_family("sokoban"),
        [Task("t", 2)],
        2,
        default_sampling(),
        settings,
    )


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_transcript_lines_reference_one_png_per_image_turn(tmp_path: Path) -> None:
    groups = sokoban_groups(obs_mode="image", cell_size=6)
    writer = TranscriptWriter(tmp_path / "transcripts.jsonl")
    assert writer.write(3, groups) == 2
    lines = read_transcripts(tmp_path / "transcripts.jsonl")
    raw = (tmp_path / "transcripts.jsonl").read_text()
    assert len(raw) < 20_000  # no pixel arrays in the JSON
    for episode, trajectory in zip(lines, groups[0].trajectories, strict=True):
        assert len(episode["turns"]) == len(trajectory.turns) == 3
        paths = [turn["image"] for turn in episode["turns"]]
        assert len(set(paths)) == 3 and all(p.startswith("images/") for p in paths)
        for path, turn in zip(paths, trajectory.turns, strict=True):
            np.testing.assert_array_equal(read_png(tmp_path / path), turn.image)
    assert "](images/transcripts_it000003_train_g0_m1_t02.png)" in render_transcript_markdown(
        lines[1]
    )


def test_text_transcripts_have_no_image_key_and_no_folder(tmp_path: Path) -> None:
    writer = TranscriptWriter(tmp_path / "transcripts.jsonl")
    writer.write(0, sokoban_groups())
    (episode,) = read_transcripts(tmp_path / "transcripts.jsonl")[:1]
    assert all("image" not in turn for turn in episode["turns"])
    assert not (tmp_path / "images").exists()


def test_evaluation_rows_write_pngs_into_the_results_folder(tmp_path: Path) -> None:
    (trajectory, _) = sokoban_groups(obs_mode="text+image")[0].trajectories
    cell = EvalCell(family="sokoban", split=None, tasks=(Task("t", 2),))
    row = episode_row(trajectory, cell, token_signals=True, image_root=tmp_path)
    json.dumps(row)
    first = row["turns"][0]["image"]
    assert first == "images/sokoban_-_2_t01.png"
    np.testing.assert_array_equal(read_png(tmp_path / first), trajectory.turns[0].image)
    assert "image" not in episode_row(trajectory, cell, True)["turns"][0]  # no folder, no PNG
