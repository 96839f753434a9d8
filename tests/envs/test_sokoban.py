"""Sokoban task family: generator, env contract and rewards, expert, parsing, play, corpus."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import t2po.envs  # noqa: F401  (registers t2po/Sokoban-v0)
from t2po.envs import ExpertStep, get_family, make_env
from t2po.envs.checker import check_family
from t2po.envs.play import play
from t2po.envs.sokoban import (
    SOKOBAN,
    RoomSpec,
    SokobanEnv,
    SokobanExpert,
    generate_room,
    parse_sokoban_action,
    parse_text,
    render_rgb,
    render_text,
    solve,
)
from t2po.envs.sokoban.generator import count_pushes

# Two boxes, two targets; P at (1,1). Row 1: P X O, row 3: X O.
HAND_ROOM = "\n".join(
    [
        "# # # # # # #",
        "# P X O _ _ #",
        "# _ _ _ _ _ #",
        "# _ X O _ _ #",
        "# # # # # # #",
    ]
)


def run_expert(env: SokobanEnv, seed: int) -> tuple[bool, int, list[str]]:
    obs, info = env.reset(seed=seed)
    expert = SokobanExpert(env)
    thoughts = []
    for steps in range(1, 100):
        step = expert.act(obs, info)
        thoughts.append(step.thought)
        obs, _, terminated, truncated, info = env.step(step.action)
        assert info["action_is_valid"]
        if terminated or truncated:
            return bool(info["won"]), steps, thoughts
    return False, 100, thoughts


@pytest.mark.parametrize("kwargs", [{}, {"num_boxes": 2}, {"dim_room": (7, 8)}])
def test_gymnasium_check_env_passes(kwargs: dict) -> None:
    env = make_env("sokoban", **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    assert env.unwrapped.spec is not None and env.unwrapped.spec.id == "t2po/Sokoban-v0"


def test_check_family_finds_no_problems() -> None:
    assert check_family("sokoban", seeds=(0, 1, 2, 3)) == []
    assert check_family("sokoban", seeds=(5, 6), env_kwargs={"num_boxes": 2}) == []


def test_same_seed_same_room_and_seeds_differ() -> None:
    env = SokobanEnv()
    texts = []
    for seed in range(20):
        obs, info = env.reset(seed=seed)
        again, _ = SokobanEnv().reset(seed=seed)
        assert obs["text"] == again["text"] == info["anchor"]
        assert obs["text"].startswith(render_text(generate_room(env.room_spec, seed).room))
        texts.append(obs["text"])
    assert len(set(texts)) >= 18


def test_reset_info_contract() -> None:
    obs, info = SokobanEnv(num_boxes=2).reset(seed=4)
    assert set(obs) == {"text"}
    assert info["won"] is False
    assert info["task_type"] == "sokoban_2box"
    assert info["admissible_actions"] == ["up", "down", "left", "right"]
    assert info["num_boxes"] == 2 and info["seed"] == 4 and info["steps"] == 0
    # Default 6x6 grid: 6 lines of 6 space-separated cells.
    lines = SokobanEnv().reset(seed=0)[0]["text"].split("\n")
    assert len(lines) == 7 and all(len(line.split(" ")) == 6 for line in lines[:6])
    assert lines[6].startswith("you (") and "boxes (" in lines[6] and "targets (" in lines[6]


def test_generated_rooms_are_non_trivial_and_within_limits() -> None:
    spec = RoomSpec()
    lengths = []
    for seed in range(200):
        generated = generate_room(spec, seed)
        assert not generated.room.solved
        assert len(generated.room.boxes) == len(generated.room.targets) == 1
        assert 2 <= len(generated.solution) <= spec.max_solution_len
        assert count_pushes(generated.room, generated.solution) >= spec.min_pushes
        lengths.append(len(generated.solution))
    assert 2.5 <= float(np.mean(lengths)) <= 6.0  # "typically 2-8 moves"


def test_expert_wins_every_one_box_room_optimally() -> None:
    env = SokobanEnv()
    for seed in range(200):
        won, steps, thoughts = run_expert(env, seed)
        assert won, f"seed {seed}"
        assert steps == len(generate_room(env.room_spec, seed).solution)
        assert all(len(t.split()) <= 15 for t in thoughts)


def test_expert_wins_every_two_box_room() -> None:
    env = SokobanEnv(num_boxes=2, dim_room=(7, 7), max_steps=30, max_solution_len=16)
    for seed in range(30):
        won, _, _ = run_expert(env, seed)
        assert won, f"seed {seed}"


def test_expert_replans_after_off_plan_moves() -> None:
    env = SokobanEnv(max_steps=50)
    rng = np.random.default_rng(0)
    checked = 0
    for seed in range(40):
        obs, info = env.reset(seed=seed)
        expert = SokobanExpert(env)
        expert.act(obs, info)  # build a plan, then wander off it
        for _ in range(3):
            obs, _, terminated, _, info = env.step(str(rng.choice(["up", "down", "left", "right"])))
        if terminated or solve(env.room) is None:
            continue
        checked += 1
        while not (terminated or info["won"]):
            obs, _, terminated, truncated, info = env.step(expert.act(obs, info).action)
            assert not truncated
        assert info["won"]
    assert checked >= 20


def test_expert_thought_template() -> None:
    room = parse_text(HAND_ROOM)
    step = SokobanExpert().act({"text": HAND_ROOM}, {})
    assert solve(room) is not None
    assert step.action == "right"
    assert (
        step.thought == "box (2,3) to target (2,4): push right from (2,2). you (2,2): move right."
    )
    walk_room = HAND_ROOM.replace("# P X O _ _ #", "# _ X O _ _ #").replace(
        "# _ _ _ _ _ #", "# P _ _ _ _ #"
    )
    step = SokobanExpert().act({"text": walk_room}, {})
    assert step == ExpertStep(
        "box (2,3) to target (2,4): push right from (2,2). you (3,2): move up.", "up"
    )


def test_rewards_by_hand() -> None:
    env = SokobanEnv(max_steps=20)
    obs, info = env.reset(options={"room": HAND_ROOM})
    assert obs["text"].startswith(HAND_ROOM + "\nyou (") and info["optimal_moves"] == 5
    start = obs["text"]

    # Invalid action: state unchanged, reward 0, flagged.
    obs, reward, terminated, truncated, info = env.step("jump")
    assert (obs["text"], reward, terminated, truncated) == (start, 0.0, False, False)
    assert info["action_is_valid"] is False
    # Walking into a wall is a valid action that costs a step and moves nothing.
    obs, reward, _, _, info = env.step("up")
    assert obs["text"] == start and reward == pytest.approx(-0.1)
    assert info["action_is_valid"] is True and info["moved"] is False
    # Push box 1 onto its target (case and whitespace do not matter): -0.1 + 1.
    obs, reward, terminated, _, info = env.step("  RIGHT\n")
    assert reward == pytest.approx(0.9) and not terminated and info["boxes_on_target"] == 1
    # Walk around to box 2 (-0.1 each), then push it on: -0.1 + 1 + 10, episode won.
    for action in ["down", "left", "down"]:
        _, reward, terminated, _, _ = env.step(action)
        assert reward == pytest.approx(-0.1) and not terminated
    obs, reward, terminated, truncated, info = env.step("right")
    assert reward == pytest.approx(10.9)
    assert terminated and not truncated and info["won"] is True
    assert obs["text"].split("\n")[3] == "# _ P * _ _ #"


def test_bump_reward_prices_only_blocked_moves() -> None:
    env = SokobanEnv(bump_reward=-1.0)
    start, _ = env.reset(options={"room": HAND_ROOM})
    _, reward, _, _, info = env.step("up")  # into the wall
    assert reward == pytest.approx(-1.0) and info["moved"] is False
    _, reward, _, _, _ = env.step("jump")  # invalid stays the engine's business
    assert reward == 0.0
    _, reward, _, _, _ = env.step("right")  # a push onto a target is unchanged
    assert reward == pytest.approx(0.9)
    _, reward, _, _, info = env.step("down")
    assert reward == pytest.approx(-0.1) and info["moved"] is True


def test_push_off_target_costs_one() -> None:
    env = SokobanEnv()
    env.reset(options={"room": HAND_ROOM})
    env.step("right")
    obs, reward, terminated, _, info = env.step("right")
    assert reward == pytest.approx(-1.1) and not terminated
    assert info["boxes_on_target"] == 0
    assert obs["text"].split("\n")[1] == "# _ _ S X _ #"
    # A box against a wall cannot move: valid action, nothing changes.
    env.reset(options={"room": "# # # #\n# P X #\n# _ O #\n# # # #"})
    obs, reward, _, _, info = env.step("right")
    assert obs["text"].split("\n")[1] == "# P X #" and reward == pytest.approx(-0.1)


def test_truncation_at_max_steps_counts_invalid_actions() -> None:
    env = SokobanEnv(max_steps=3)
    env.reset(options={"room": HAND_ROOM})
    results = [env.step(a) for a in ["up", "nonsense", "left"]]
    assert [r[3] for r in results] == [False, False, True]
    assert not any(r[2] for r in results)
    assert results[-1][4]["steps"] == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("up", "up"),
        ("Down", "down"),
        ("  LEFT \n", "left"),
        ("right.", "right"),
        ('"left"', "left"),
        ("go left", None),
        ("l", None),
        ("", None),
        ("upward", None),
        ("left right", None),
        ("<action>left</action>", None),
    ],
)
def test_parse_sokoban_action(text: str, expected: str | None) -> None:
    assert parse_sokoban_action(text) == expected


def test_env_handles_non_string_actions() -> None:
    env = SokobanEnv()
    obs, _ = env.reset(seed=0)
    obs2, reward, _, _, info = env.step(3)  # type: ignore[arg-type]
    assert obs2 == obs and reward == 0.0 and info["action_is_valid"] is False


def test_render_round_trip_and_image() -> None:
    for seed in range(10):
        room = generate_room(RoomSpec(num_boxes=2), seed).room
        assert parse_text(render_text(room)) == room
    image = render_rgb(room, cell_px=4)
    assert image.shape == (24, 24, 3) and image.dtype == np.uint8
    env = SokobanEnv(render_mode="ansi")
    obs, _ = env.reset(seed=1)
    assert env.render() == obs["text"]
    with pytest.raises(ValueError, match="symbol"):
        parse_text("# # #\n# ? #\n# # #")


def test_play_scripted_game_wins() -> None:
    seed = 7
    solution = [d.value for d in generate_room(RoomSpec(), seed).solution]
    inputs = iter(["hint", "fly", *solution, "quit"])
    printed: list[str] = []
    total = play("sokoban", seed, input_fn=lambda _: next(inputs), print_fn=printed.append)
    n = len(solution)
    # Each push that lands the box on the target pays +1 and winning +10; with one box
    # an optimal plan pushes it onto the target exactly once.
    assert total == pytest.approx(-0.1 * n + 1 + 10)
    assert any(line.startswith("hint: box (") for line in printed)
    assert any("'fly' is not an action" in line for line in printed)
    assert printed[-1] == "You won!"
    assert next(inputs) == "quit"  # play stopped at the win, before reading "quit"


def test_play_quit_and_eof() -> None:
    assert play("sokoban", 0, input_fn=lambda _: "quit", print_fn=lambda _: None) == 0.0

    def eof(_: str) -> str:
        raise EOFError

    assert play("sokoban", 0, input_fn=eof, print_fn=lambda _: None) == 0.0


def test_family_and_corpus() -> None:
    family = get_family("sokoban")
    assert family is SOKOBAN and family.env_id == "t2po/Sokoban-v0"
    assert family.memory_window == 2
    assert "<think>" in family.instructions and "<action>" in family.instructions
    assert len(family.instructions) < 600
    assert family.corpus is not None
    texts = list(family.corpus(200))
    assert len(texts) == 200 and texts == list(family.corpus(200))
    responses = [t for t in texts if t != family.instructions]
    assert len(responses) >= 150
    assert any(t.endswith("<action>left</action>") for t in texts)
    assert family.instructions in texts
    for text in responses:
        grid, response = text.rsplit("\n", 1)
        parse_text(grid)
        match = re.fullmatch(r"<think>([^<]+)</think><action>([a-z]+)</action>", response)
        assert match is not None and parse_sokoban_action(match.group(2)) == match.group(2)


def test_room_spec_validation() -> None:
    with pytest.raises(ValueError, match="dim_room"):
        SokobanEnv(dim_room=(3, 6))
    with pytest.raises(ValueError, match="num_boxes"):
        RoomSpec(dim_room=(4, 4), num_boxes=3)
