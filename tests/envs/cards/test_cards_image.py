"""The card games as pictures: ranks and suits on the cards, the number line, ``obs_mode``."""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from t2po.envs.cards import CardsEnv
from t2po.envs.cards import render as R
from t2po.envs.cards.deck import RANKS, SUITS, Card
from t2po.envs.checker import check_family
from t2po.envs.glyphs import text_mask, wrap
from t2po.envs.registry import make_env

GAMES: list[dict[str, Any]] = [
    {"game": "numberline"},
    {"game": "numberline", "max_pos": 50},
    {"game": "ezpoints"},
    {"game": "points24"},
    {"game": "blackjack"},
]


def rank_region(picture: np.ndarray, rank_name: str) -> np.ndarray:
    """Where the rank glyphs sit on a card picture."""
    h, w = text_mask(rank_name, R.RANK_SCALE).shape
    x, y = R.RANK_XY
    return picture[y : y + h, x : x + w]


def shows_rank(picture: np.ndarray, card: Card) -> bool:
    """The card picture carries exactly the rank's glyphs, in the suit's colour, on paper."""
    region = rank_region(picture, card.rank_name)
    ink = R.RED if card.suit in R.RED_SUITS else R.BLACK
    expected = np.where(text_mask(card.rank_name, R.RANK_SCALE)[..., None], ink, R.PAPER)
    return bool(np.array_equal(region, expected))


@pytest.mark.parametrize("mode", ["image", "text+image"])
@pytest.mark.parametrize("kwargs", GAMES)
def test_gymnasium_check_env_passes_with_images(mode: str, kwargs: dict[str, Any]) -> None:
    env = make_env("cards", obs_mode=mode, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    obs, info = env.reset(seed=2)
    assert obs["image"].dtype == np.uint8 and obs["image"].ndim == 3
    assert env.observation_space.contains(obs)
    text_obs, text_info = make_env("cards", **kwargs).reset(seed=2)
    assert set(text_obs) == {"text"}  # text mode: no image, the same text as ever
    assert info["anchor"] == text_info["anchor"] == text_obs["text"]
    if mode == "text+image":
        assert obs["text"] == text_obs["text"]
    else:
        assert obs["text"] == R.image_note(kwargs["game"])


def test_each_rank_has_its_own_glyphs_and_each_card_shows_its_rank() -> None:
    regions = {}
    for rank in RANKS:
        for suit in SUITS:
            card = Card(rank, suit)
            assert shows_rank(R.card_face(card), card)
            # No other rank's glyphs are on the card where that rank would be.
            for other in RANKS:
                if other != rank:
                    assert not shows_rank(R.card_face(card), Card(other, suit))
        regions[rank] = rank_region(R.card_face(Card(rank, "spades")), "10").tobytes()
    assert len(set(regions.values())) == len(RANKS)


def test_suits_are_coloured_and_shaped_apart() -> None:
    masks = {suit: R.suit_mask(suit).tobytes() for suit in SUITS}
    assert len(set(masks.values())) == 4
    for suit in SUITS:
        face = R.card_face(Card(5, suit))
        middle = face[R.SUIT_TOP + R.SUIT_SIZE // 2, R.CARD_W // 2]
        assert tuple(middle) == (R.RED if suit in R.RED_SUITS else R.BLACK)


@pytest.mark.parametrize("game", ["ezpoints", "points24"])
def test_points_picture_shows_the_dealt_cards_and_the_formula(game: str) -> None:
    env = CardsEnv(game=game, obs_mode="image")
    for seed in range(5):
        obs, info = env.reset(seed=seed)
        cards = env.game.cards  # type: ignore[attr-defined]
        xs = R.card_row_xs(len(cards))
        y = R._POINTS_CARDS_Y
        for card, x in zip(cards, xs, strict=True):
            picture = obs["image"][y : y + R.CARD_H, x : x + R.CARD_W]
            np.testing.assert_array_equal(picture, R.card_face(card))
        before = obs["image"]
        token = info["admissible_actions"][0]
        obs, *_ = env.step(token)
        formula_rows = slice(R._POINTS_FORMULA_Y + R.LABEL_H, R._POINTS_FORMULA_Y + 2 * R.LABEL_H)
        assert not np.array_equal(before[formula_rows], obs["image"][formula_rows])
        np.testing.assert_array_equal(
            before[: R._POINTS_FORMULA_Y], obs["image"][: R._POINTS_FORMULA_Y]
        )


@pytest.mark.parametrize("max_pos", [5, 50])
def test_numberline_markers_sit_on_the_position_and_the_target(max_pos: int) -> None:
    env = CardsEnv(game="numberline", max_pos=max_pos, obs_mode="image")
    obs, _ = env.reset(seed=4)
    game = env.game
    for _ in range(3):
        image = obs["image"]
        blue = np.argwhere(np.all(image == R.POSITION_MARK, axis=-1))
        red = np.argwhere(np.all(image == R.TARGET_MARK, axis=-1))
        assert blue[:, 1].min() + blue[:, 1].max() == 2 * R.numberline_x(max_pos, game.position)  # type: ignore[attr-defined]
        assert red[:, 1].min() + red[:, 1].max() == 2 * R.numberline_x(max_pos, game.target)  # type: ignore[attr-defined]
        if env.game.over:
            break
        obs, *_ = env.step("+" if game.target > game.position else "-")  # type: ignore[attr-defined]
    step = R.numberline_step(max_pos)
    assert R.numberline_x(max_pos, 3) - R.numberline_x(max_pos, 2) == step


def test_blackjack_hides_the_hole_card_until_the_hand_is_over() -> None:
    env = CardsEnv(game="blackjack", obs_mode="image")
    obs, _ = env.reset(seed=1)
    back = np.all(obs["image"] == R.BACK, axis=-1)
    assert back.any()
    game = env.game
    x0 = R.card_row_xs(2)[0]
    up = obs["image"][R._DEALER_CARDS_Y : R._DEALER_CARDS_Y + R.CARD_H, x0 : x0 + R.CARD_W]
    np.testing.assert_array_equal(up, R.card_face(game.dealer_cards[0]))  # type: ignore[attr-defined]
    obs, _, terminated, _, _ = env.step("stand")
    assert terminated and not np.all(obs["image"] == R.BACK, axis=-1).any()


def test_long_hands_overlap_but_keep_every_rank_readable() -> None:
    xs = R.card_row_xs(22)
    assert all(b - a >= R.MIN_CARD_OFFSET for a, b in zip(xs, xs[1:], strict=False))
    assert R.card_row_xs(2) == [
        R.TABLE_W // 2 - R.CARD_W - R.MARGIN // 2,
        R.TABLE_W // 2 + R.MARGIN // 2,
    ]


def test_pictures_are_byte_identical_for_the_same_play() -> None:
    def digest() -> str:
        h = hashlib.sha256()
        for kwargs in GAMES:
            env = CardsEnv(obs_mode="image", **kwargs)
            obs, info = env.reset(seed=7)
            h.update(obs["image"].tobytes())
            while info["admissible_actions"]:
                obs, _, terminated, truncated, info = env.step(info["admissible_actions"][-1])
                h.update(obs["image"].tobytes())
                if terminated or truncated:
                    break
        return h.hexdigest()

    assert digest() == digest()


def test_invalid_action_feedback_in_image_mode() -> None:
    env = CardsEnv(game="numberline", obs_mode="image")
    env.reset(seed=0)
    obs, _, _, _, info = env.step("hit")
    assert info["action_is_valid"] is False
    assert (
        obs["text"]
        == f"{R.image_note('numberline')}\nYour last action was not valid now; valid were: +, -."
    )
    assert env.observation_space.contains(obs)
    with pytest.raises(ValueError, match="obs_mode 'rgb' is not one of text, image, text"):
        CardsEnv(obs_mode="rgb")


def test_font_refuses_unknown_characters_and_wraps() -> None:
    with pytest.raises(ValueError, match="cannot draw"):
        text_mask("24 ÷ 2")
    assert wrap("10 + ( 5 * 2 ) = 20", 8) == ["10 + ( 5", "* 2 ) =", "20"]
    assert wrap("ABCDEFGHIJ KL", 4) == ["ABCD", "EFGH", "IJ", "KL"]
    assert text_mask("a").shape == (7, 5) and np.array_equal(text_mask("a"), text_mask("A"))


@pytest.mark.parametrize("mode", ["image", "text+image"])
@pytest.mark.parametrize(
    "kwargs",
    [{"game": "numberline"}, {"game": "ezpoints"}, {"game": "points24", "solvable_only": True}],
)
def test_t2po_check_env_passes_in_image_modes(mode: str, kwargs: dict[str, Any]) -> None:
    # The image note is the same text for every deal: the checker tells deals apart by pixels.
    assert check_family("cards", seeds=(0, 1, 2), env_kwargs={**kwargs, "obs_mode": mode}) == []
