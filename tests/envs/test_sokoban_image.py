"""Sokoban as pictures: tiles, determinism, ``obs_mode`` and the Gymnasium contract."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import warnings
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from t2po.envs.checker import check_family
from t2po.envs.registry import make_env
from t2po.envs.sokoban import SokobanEnv, SokobanExpert, parse_text, render_rgb
from t2po.envs.sokoban import render as R

# Two rooms that hold all seven cell types between them (the player is on a target in the
# second one only).
ROOM_A = "# # # # # #\n# P X O _ #\n# _ * # _ #\n# # # # # #"
ROOM_B = "# # # # #\n# S X _ #\n# _ O _ #\n# # # # #"
# The colours each cell type may be painted with, and the one that tells it apart.
PALETTE = {
    R.WALL: {R.BRICK_RGB, R.MORTAR_RGB},
    R.FLOOR: {R.FLOOR_RGB},
    R.TARGET: {R.FLOOR_RGB, R.TARGET_RGB},
    R.BOX: {R.FLOOR_RGB, R.BOX_RGB, R.BOX_EDGE_RGB},
    R.BOX_ON_TARGET: {R.FLOOR_RGB, R.BOX_ON_TARGET_RGB, R.BOX_ON_TARGET_EDGE_RGB},
    R.PLAYER: {R.FLOOR_RGB, R.PLAYER_RGB},
    R.PLAYER_ON_TARGET: {R.FLOOR_RGB, R.TARGET_RGB, R.PLAYER_ON_TARGET_RGB},
}
KEY_COLOUR = {
    R.WALL: R.BRICK_RGB,
    R.FLOOR: R.FLOOR_RGB,
    R.TARGET: R.TARGET_RGB,
    R.BOX: R.BOX_RGB,
    R.BOX_ON_TARGET: R.BOX_ON_TARGET_RGB,
    R.PLAYER: R.PLAYER_RGB,
    R.PLAYER_ON_TARGET: R.PLAYER_ON_TARGET_RGB,
}


def colours(block: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(int(v) for v in px) for px in block.reshape(-1, 3)}


@pytest.mark.parametrize("cell", [8, 16])
def test_every_cell_block_is_its_tile_and_painted_as_its_type(cell: int) -> None:
    seen = set()
    for text in (ROOM_A, ROOM_B):
        room = parse_text(text)
        image = render_rgb(room, cell)
        assert image.shape == (room.height * cell, room.width * cell, 3)
        assert image.dtype == np.uint8
        for r in range(room.height):
            for c in range(room.width):
                symbol = R.cell_symbol(room, (r, c))
                block = image[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell]
                np.testing.assert_array_equal(block, R.tile(symbol, cell))
                assert colours(block) <= PALETTE[symbol], symbol
                assert KEY_COLOUR[symbol] in colours(block), symbol
                seen.add(symbol)
    assert seen == set(R.SYMBOLS)
    tiles = {s: R.tile(s, cell).tobytes() for s in R.SYMBOLS}
    assert all(tiles[a] != tiles[b] for a, b in combinations(R.SYMBOLS, 2))


def test_tile_shapes_differ_from_plain_floor_where_expected() -> None:
    # A box covers the cell's middle; a target ring leaves the middle as floor; the player
    # disc covers the middle as well.
    mid = 8
    assert tuple(R.tile(R.FLOOR)[mid, mid]) == R.FLOOR_RGB
    assert tuple(R.tile(R.TARGET)[mid, mid]) == R.FLOOR_RGB
    assert tuple(R.tile(R.TARGET)[mid, 3]) == R.TARGET_RGB  # on the left point of the ring
    assert tuple(R.tile(R.BOX)[mid, 4]) == R.BOX_RGB
    assert tuple(R.tile(R.PLAYER)[6, mid]) == R.PLAYER_RGB


def _image_digest() -> str:
    env = SokobanEnv(obs_mode="image", num_boxes=2, cell_size=12)
    digest = hashlib.sha256()
    obs, _ = env.reset(seed=5)
    digest.update(obs["image"].tobytes())
    for action in ("up", "left", "down", "right"):
        obs, *_ = env.step(action)
        digest.update(obs["image"].tobytes())
    return digest.hexdigest()


def test_render_is_byte_identical_across_runs_and_processes() -> None:
    room = parse_text(ROOM_A)
    assert render_rgb(room, 16).tobytes() == render_rgb(room, 16).tobytes()
    here = _image_digest()
    assert here == _image_digest()
    code = (
        "import sys; sys.path.insert(0, 'tests/envs'); "
        "from test_sokoban_image import _image_digest; print(_image_digest())"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "123"},
        cwd=Path(__file__).resolve().parents[2],
    )
    assert other.stdout.strip() == here


@pytest.mark.parametrize("mode", ["image", "text+image"])
@pytest.mark.parametrize("kwargs", [{}, {"num_boxes": 2, "cell_size": 10}])
def test_gymnasium_check_env_passes_with_images(mode: str, kwargs: dict) -> None:
    env = make_env("sokoban", obs_mode=mode, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    obs, _ = env.reset(seed=0)
    cell = kwargs.get("cell_size", 16)
    assert obs["image"].shape == (6 * cell, 6 * cell, 3) and obs["image"].dtype == np.uint8
    assert env.observation_space.contains(obs)


def test_text_by_mode_and_the_feedback_line() -> None:
    text_env, image_env, both_env = (
        SokobanEnv(obs_mode=m) for m in ("text", "image", "text+image")
    )
    room = "# # # # #\n# P _ # #\n# _ X O #\n# _ _ _ #\n# # # # #"
    obs_t, info_t = text_env.reset(options={"room": room})
    obs_i, info_i = image_env.reset(options={"room": room})
    obs_b, info_b = both_env.reset(options={"room": room})
    assert set(obs_t) == {"text"} and obs_t["text"].startswith(room)
    assert obs_i["text"] == R.IMAGE_LEGEND  # the picture holds the state
    assert obs_b["text"] == obs_t["text"]
    assert info_t["anchor"] == info_i["anchor"] == info_b["anchor"] == obs_t["text"]
    np.testing.assert_array_equal(obs_i["image"], render_rgb(parse_text(room)))
    # A blocked move changes nothing in the picture, so the text says so.
    obs_i, *_ = image_env.step("up")
    obs_b, *_ = both_env.step("up")
    obs_t, *_ = text_env.step("up")
    assert obs_i["text"] == f"{R.IMAGE_LEGEND}\nYour last move (up) was blocked."
    assert obs_b["text"] == f"{obs_t['text']}\nYour last move (up) was blocked."
    obs_i, *_ = image_env.step("jump")
    assert obs_i["text"].endswith("not one of up, down, left, right.")
    obs_i, *_ = image_env.step("down")  # a real move: no feedback line
    assert obs_i["text"] == R.IMAGE_LEGEND


def test_expert_wins_from_the_image_observation() -> None:
    env = SokobanEnv(obs_mode="image")
    obs, info = env.reset(seed=3)
    expert = SokobanExpert(env)
    for _ in range(30):
        obs, _, terminated, truncated, info = env.step(expert.act(obs, info).action)
        if terminated or truncated:
            break
    assert info["won"]


def test_bad_obs_mode_and_cell_size_are_named() -> None:
    with pytest.raises(
        ValueError, match=r"obs_mode 'pixels' is not one of text, image, text\+image"
    ):
        SokobanEnv(obs_mode="pixels")
    with pytest.raises(ValueError, match="cell_size must be an integer >= 4"):
        SokobanEnv(obs_mode="image", cell_size=2)
    env = SokobanEnv(render_mode="rgb_array", cell_size=5)
    env.reset(seed=0)
    assert env.render().shape == (30, 30, 3)  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", ["image", "text+image"])
def test_t2po_check_env_passes_in_image_modes(mode: str) -> None:
    # The legend is the same text for every room: the checker tells rooms apart by pixels.
    assert check_family("sokoban", seeds=(0, 1, 2, 3), env_kwargs={"obs_mode": mode}) == []
