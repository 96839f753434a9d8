"""``t2po play ... --image`` writes the frames the agent sees; the engine keeps them on turns."""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import default_rollout, default_sampling
from PIL import Image

from t2po.cli import main
from t2po.envs.cards import CardsEnv
from t2po.envs.play import play
from t2po.envs.registry import get_family
from t2po.envs.sokoban import RoomSpec, SokobanEnv, generate_room
from t2po.inference.scripted import ScriptedSampler
from t2po.rollout.engine import Task, rollout
from t2po.telemetry.transcripts import episode_record


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_play_sokoban_writes_one_png_per_observation(tmp_path: Path) -> None:
    seed = 7
    solution = [d.value for d in generate_room(RoomSpec(), seed).solution]
    inputs = iter(["hint", "fly", *solution])
    printed: list[str] = []
    total = play(
        "sokoban",
        seed,
        input_fn=lambda _: next(inputs),
        print_fn=printed.append,
        frames_dir=tmp_path / "frames",
    )
    assert printed[-1] == "You won!" and total > 0
    frames = sorted((tmp_path / "frames").glob("frame_*.png"))
    assert len(frames) == 1 + len(solution)  # the first observation, then one per step
    # Each frame is the picture the environment gave the agent at that point.
    env = SokobanEnv(obs_mode="image")
    obs, _ = env.reset(seed=seed)
    np.testing.assert_array_equal(read_png(frames[0]), obs["image"])
    for frame, action in zip(frames[1:], solution, strict=True):
        obs, *_ = env.step(action)
        np.testing.assert_array_equal(read_png(frame), obs["image"])
    assert f"frames: {tmp_path / 'frames'}" in printed
    assert sum(line.startswith("frame: ") for line in printed) == len(frames)
    assert "The image shows the room" in "\n".join(printed)  # obs_mode=image by default


def test_t2po_play_cards_image_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    answers = iter(["+", "-", "quit"])
    monkeypatch.setattr(builtins, "input", lambda prompt="": next(answers))
    out_dir = tmp_path / "cards"
    args = ["play", "cards", "--frames-dir", str(out_dir), "game=numberline", "obs_mode=text+image"]
    assert main(args) == 0
    frames = sorted(out_dir.glob("frame_*.png"))
    assert len(frames) == 3
    env = CardsEnv(game="numberline", obs_mode="image")
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(read_png(frames[0]), obs["image"])
    out = capsys.readouterr().out
    assert "Current: " in out  # text+image prints the state text as well


def test_t2po_play_image_without_a_folder_uses_a_new_temp_folder(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.setattr(builtins, "input", lambda prompt="": "quit")
    assert main(["play", "sokoban", "--image", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    folder = Path(out.split("frames: ", 1)[1].split("\n", 1)[0])
    assert folder.parent == tmp_path and folder.name.startswith("t2po-play-sokoban-")
    assert [p.name for p in folder.iterdir()] == ["frame_000.png"]


def test_play_image_errors_are_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(builtins, "input", lambda prompt="": "quit")
    args = ["play", "sokoban", "--frames-dir", str(tmp_path), "obs_mode=text"]
    assert main(args) == 2
    assert "obs_mode=text shows no image" in capsys.readouterr().err
    assert main(["play", "household", "--frames-dir", str(tmp_path)]) == 2
    assert "has no image observations" in capsys.readouterr().err


def test_engine_keeps_each_turns_image_and_records_stay_json(tmp_path: Path) -> None:
    family = get_family("sokoban")
    sampler = ScriptedSampler(["<think>go</think><action>up</action>"] * 3)
    settings = default_rollout(max_turns=3, env_kwargs={"obs_mode": "image", "cell_size": 8})
    groups = rollout(sampler, family, [Task("t", 11)], 1, default_sampling(), settings)
    turns = groups[0].trajectories[0].turns
    env = SokobanEnv(obs_mode="image", cell_size=8)
    obs, _ = env.reset(seed=11)
    for turn in turns:
        assert turn.image is not None
        np.testing.assert_array_equal(turn.image, obs["image"])  # what the agent acted on
        assert turn.observation == obs["text"]
        obs, *_ = env.step("up")
    record = episode_record(groups[0].trajectories[0], iteration=0)
    json.dumps(record)  # no pixels inside a transcript line
    text_groups = rollout(
        ScriptedSampler(["<think>go</think><action>up</action>"] * 3),
        family,
        [Task("t", 11)],
        1,
        default_sampling(),
        default_rollout(max_turns=3),
    )
    assert all(t.image is None for t in text_groups[0].trajectories[0].turns)
