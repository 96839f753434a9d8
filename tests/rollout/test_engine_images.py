"""The rollout engine and the expert pass image observations on: the prompt's user message
carries the pictures of the last ``image_history`` steps it shows, and each turn keeps them
(``Turn.prompt_images``) for the trainer and the cold start."""

from __future__ import annotations

import dataclasses

import numpy as np
from conftest import default_rollout, default_sampling

from t2po.envs import get_family
from t2po.inference.scripted import ScriptedSampler
from t2po.rollout.engine import Task, rollout
from t2po.rollout.expert import expert_rollout

SOKOBAN = get_family("sokoban")
MOVES = ["<think>go</think><action>up</action>", "<think>go</think><action>left</action>"]


def image_settings(**changes):
    return dataclasses.replace(
        default_rollout(max_turns=3, env_kwargs={"obs_mode": "image"}), **changes
    )


def test_prompts_carry_the_current_picture_by_default() -> None:
    sampler = ScriptedSampler(MOVES)
    settings = image_settings(memory_window=2)
    (group,) = rollout(sampler, SOKOBAN, [Task("t", 3)], 1, default_sampling(), settings)
    turns = group.trajectories[0].turns
    assert len(turns) == 3
    for turn, prompt in zip(turns, sampler.prompts, strict=True):
        assert turn.image is not None and turn.image.shape == (96, 96, 3)
        (picture,) = prompt[-1]["images"]
        assert picture is turn.image
        assert len(turn.prompt_images) == 1 and turn.prompt_images[0] is turn.image
        assert "images" not in prompt[0]  # the system message has none


def test_image_history_keeps_the_pictures_of_the_steps_shown() -> None:
    sampler = ScriptedSampler(MOVES)
    settings = image_settings(memory_window=1, image_history=3)
    (group,) = rollout(sampler, SOKOBAN, [Task("t", 3)], 1, default_sampling(), settings)
    turns = group.trajectories[0].turns
    # memory_window 1 shows one earlier step, so at most two pictures despite k = 3.
    assert [len(t.prompt_images) for t in turns] == [1, 2, 2]
    assert turns[1].prompt_images[0] is turns[0].image
    assert turns[2].prompt_images[0] is turns[1].image
    assert all(t.prompt_images[-1] is t.image for t in turns)


def test_text_observations_give_text_prompts() -> None:
    sampler = ScriptedSampler(MOVES)
    settings = dataclasses.replace(default_rollout(max_turns=2), image_history=2)
    (group,) = rollout(sampler, SOKOBAN, [Task("t", 3)], 1, default_sampling(), settings)
    assert all("images" not in m for p in sampler.prompts for m in p)
    assert all(t.prompt_images == [] and t.image is None for t in group.trajectories[0].turns)


def test_expert_turns_carry_their_frames() -> None:
    (trajectory,) = expert_rollout(SOKOBAN, [Task("t", 3)], image_settings(max_turns=10))
    assert trajectory.won and trajectory.turns
    frames = [t.image for t in trajectory.turns]
    assert all(t.prompt_images == [t.image] for t in trajectory.turns)
    # The board changes as the expert pushes: not one picture repeated.
    assert any(not np.array_equal(a, b) for a, b in zip(frames, frames[1:], strict=False))
