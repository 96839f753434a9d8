"""The card games as pictures, after RL4VLM's gym_cards: cards on a table, the formula, the target.

* EZPoints / Points24: ``TARGET: 12`` on top, the cards in a row (white faces, the rank in the
  corner, a large suit in the middle, red hearts and diamonds, black clubs and spades), then
  ``FORMULA:`` and the formula written so far (with ``= result`` once ``=`` was played).
* Blackjack: the dealer's cards (the second face down until the hand is over) and the
  player's, each with its total as the text shows it, and the verdict at the end.
* NumberLine: ``TARGET`` and ``CURRENT`` as gym_cards writes them, above a number line
  ``0..max_pos`` with the target marked by a red triangle and the position by a blue disc.

Everything is drawn with numpy on a fixed-size canvas per game configuration (the Gymnasium
space needs one shape): suits are analytic shapes sampled at pixel centres and text uses the
project's bitmap font (``t2po.envs.glyphs``), so the same state gives the same bytes on every
machine. Hands too long for the row overlap, keeping each card's rank corner visible.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from t2po.envs.cards.blackjack import Blackjack
from t2po.envs.cards.deck import Card
from t2po.envs.cards.game import Game
from t2po.envs.cards.numberline import NumberLine
from t2po.envs.cards.points import PointsGame
from t2po.envs.glyphs import ADVANCE_X, ADVANCE_Y, draw_text, text_size, wrap

RGB = tuple[int, int, int]

FELT: RGB = (20, 110, 60)
INK: RGB = (255, 255, 255)  # text on the felt
PAPER: RGB = (255, 255, 255)
CARD_EDGE: RGB = (40, 40, 40)
RED: RGB = (200, 30, 30)
BLACK: RGB = (20, 20, 20)
BACK: RGB = (40, 60, 160)
LINE: RGB = (20, 20, 20)
TARGET_MARK: RGB = (220, 40, 40)
POSITION_MARK: RGB = (40, 80, 210)

CARD_W, CARD_H = 40, 56
RANK_SCALE = 2
RANK_XY = (3, 4)  # top-left of the rank glyphs inside a card
SUIT_SIZE = 22
SUIT_TOP = 26  # the large suit's top row inside a card
TABLE_W = 320
MARGIN = 8
LABEL_SCALE = 2
FORMULA_LINES = 6  # Points24's longest formula and a failure note fit in six lines
MIN_CARD_OFFSET = RANK_SCALE * 2 * ADVANCE_X + 2  # "10" stays readable under the next card

RED_SUITS = ("hearts", "diamonds")

IMAGE_NOTES = {
    "numberline": "The image shows the number line: Target, Current, and the line with the "
    "target (red triangle) and your position (blue disc).",
    "ezpoints": "The image shows the target, your cards and the formula written so far.",
    "points24": "The image shows the target, your cards and the formula written so far.",
    "blackjack": "The image shows the dealer's cards (one face down) and yours, with totals.",
}


def image_note(game_name: str) -> str:
    """The image-mode text line that says how to read the picture of ``game_name``."""
    return IMAGE_NOTES[game_name]


# --- suits --------------------------------------------------------------------------------


def _heart(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r2 = 0.5**2
    lobes = ((x - 0.45) ** 2 + (y + 0.4) ** 2 <= r2) | ((x + 0.45) ** 2 + (y + 0.4) ** 2 <= r2)
    point = (y >= -0.3) & (y <= 0.95) & (np.abs(x) <= 0.93 * (0.95 - y) / 1.25)
    return lobes | point


def _stem(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (y >= 0.2) & (y <= 0.95) & (np.abs(x) <= 0.08 + 0.4 * (y - 0.2))


@lru_cache(maxsize=16)
def suit_mask(suit: str, size: int = SUIT_SIZE) -> np.ndarray:
    """Ink of one suit symbol as a bool ``(size, size)`` array (coordinates in [-1, 1])."""
    centres = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    y, x = np.meshgrid(centres, centres, indexing="ij")
    if suit == "diamonds":
        mask = np.abs(x) / 0.72 + np.abs(y) <= 0.98
    elif suit == "hearts":
        mask = _heart(x, y)
    elif suit == "spades":
        # An upside-down heart, squeezed into the upper part, on a stem.
        mask = _heart(x, -(y + 0.2) / 0.8) & (y <= 0.65) | _stem(x, y)
    elif suit == "clubs":
        lobes = [(0.0, -0.45), (-0.45, 0.12), (0.45, 0.12)]
        mask = np.zeros_like(x, dtype=bool)
        for cx, cy in lobes:
            mask |= (x - cx) ** 2 + (y - cy) ** 2 <= 0.37**2
        mask |= x**2 + (y + 0.05) ** 2 <= 0.25**2
        mask |= _stem(x, y)
    else:
        raise ValueError(f"no suit {suit!r}")
    mask.flags.writeable = False
    return mask


# --- cards ----------------------------------------------------------------------------------


def _blank_card(fill: RGB) -> np.ndarray:
    card = np.empty((CARD_H, CARD_W, 3), dtype=np.uint8)
    card[:] = fill
    card[[0, -1], :] = CARD_EDGE
    card[:, [0, -1]] = CARD_EDGE
    return card


@lru_cache(maxsize=64)
def card_face(card: Card) -> np.ndarray:
    """A ``(CARD_H, CARD_W, 3)`` card: white face, rank top-left, large suit in the middle."""
    face = _blank_card(PAPER)
    colour = RED if card.suit in RED_SUITS else BLACK
    draw_text(face, RANK_XY[0], RANK_XY[1], card.rank_name, colour, RANK_SCALE)
    left = (CARD_W - SUIT_SIZE) // 2
    face[SUIT_TOP : SUIT_TOP + SUIT_SIZE, left : left + SUIT_SIZE][suit_mask(card.suit)] = colour
    face.flags.writeable = False
    return face


@lru_cache(maxsize=1)
def card_back() -> np.ndarray:
    """A face-down card: a blue lattice inside a white border."""
    back = _blank_card(PAPER)
    y, x = np.meshgrid(np.arange(CARD_H), np.arange(CARD_W), indexing="ij")
    inner = (y >= 3) & (y < CARD_H - 3) & (x >= 3) & (x < CARD_W - 3)
    back[inner] = BACK
    back[inner & (((x + y) % 6 == 0) | ((x - y) % 6 == 0))] = PAPER
    back.flags.writeable = False
    return back


def _paste(canvas: np.ndarray, picture: np.ndarray, x: int, y: int) -> None:
    h, w = picture.shape[:2]
    canvas[y : y + h, x : x + w] = picture


def card_row_xs(n: int, width: int = TABLE_W) -> list[int]:
    """Left edges of ``n`` cards in a centred row; overlapping when they do not fit."""
    if n <= 0:
        return []
    span = width - 2 * MARGIN - CARD_W
    step = CARD_W + MARGIN if n == 1 else min(CARD_W + MARGIN, span // (n - 1))
    if n > 1 and step < MIN_CARD_OFFSET:
        step = MIN_CARD_OFFSET  # past this the row is clipped at the right edge
    total = CARD_W + step * (n - 1)
    left = max(MARGIN, (width - total) // 2)
    return [left + i * step for i in range(n)]


def _draw_cards(canvas: np.ndarray, cards: list[np.ndarray], y: int) -> None:
    width = canvas.shape[1]
    for picture, x in zip(cards, card_row_xs(len(cards), width), strict=True):
        if x + CARD_W <= width:
            _paste(canvas, picture, x, y)


def _canvas(height: int, width: int, fill: RGB) -> np.ndarray:
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[:] = fill
    return canvas


def _label(canvas: np.ndarray, y: int, text: str, colour: RGB = INK) -> None:
    draw_text(canvas, MARGIN, y, text, colour, LABEL_SCALE)


LABEL_H = ADVANCE_Y * LABEL_SCALE  # one label line, spacing included


# --- EZPoints and Points24 ------------------------------------------------------------------

_POINTS_CARDS_Y = MARGIN + LABEL_H + 4
_POINTS_FORMULA_Y = _POINTS_CARDS_Y + CARD_H + 8
POINTS_SHAPE = (_POINTS_FORMULA_Y + LABEL_H * (1 + FORMULA_LINES) + MARGIN, TABLE_W, 3)


def render_points(game: PointsGame) -> np.ndarray:
    canvas = _canvas(POINTS_SHAPE[0], POINTS_SHAPE[1], FELT)
    _label(canvas, MARGIN, f"TARGET: {game.target}")
    _draw_cards(canvas, [card_face(c) for c in game.cards], _POINTS_CARDS_Y)
    _label(canvas, _POINTS_FORMULA_Y, "FORMULA:")
    per_line = (TABLE_W - 2 * MARGIN + LABEL_SCALE) // (ADVANCE_X * LABEL_SCALE)
    lines = wrap(game.formula_text(), per_line) if game.formula or game.over else []
    if len(lines) > FORMULA_LINES:
        lines = [*lines[: FORMULA_LINES - 1], lines[FORMULA_LINES - 1][: per_line - 3] + "..."]
    for i, line in enumerate(lines):
        _label(canvas, _POINTS_FORMULA_Y + LABEL_H * (i + 1), line)
    return canvas


# --- Blackjack ------------------------------------------------------------------------------

_DEALER_CARDS_Y = MARGIN + LABEL_H + 4
_PLAYER_LABEL_Y = _DEALER_CARDS_Y + CARD_H + 8
_PLAYER_CARDS_Y = _PLAYER_LABEL_Y + LABEL_H + 4
_VERDICT_Y = _PLAYER_CARDS_Y + CARD_H + 8
BLACKJACK_SHAPE = (_VERDICT_Y + LABEL_H + MARGIN, TABLE_W, 3)


def _hand_label(total: int, usable: bool) -> str:
    note = " BUST" if total > 21 else (" USABLE ACE" if usable else "")
    return f"{total}{note}"


def render_blackjack(game: Blackjack) -> np.ndarray:
    from gymnasium.envs.toy_text.blackjack import sum_hand, usable_ace

    canvas = _canvas(BLACKJACK_SHAPE[0], BLACKJACK_SHAPE[1], FELT)
    if game.over:
        dealer = game.dealer
        total = int(sum_hand(dealer))
        _label(canvas, MARGIN, f"DEALER: {_hand_label(total, bool(usable_ace(dealer)))}")
        dealer_cards = [card_face(c) for c in game.dealer_cards]
    else:
        _label(canvas, MARGIN, "DEALER:")
        dealer_cards = [card_face(game.dealer_cards[0]), card_back()]
    _draw_cards(canvas, dealer_cards, _DEALER_CARDS_Y)
    you = _hand_label(game.player_sum, game.usable_ace)
    _label(canvas, _PLAYER_LABEL_Y, f"YOU: {you}")
    _draw_cards(canvas, [card_face(c) for c in game.player_cards], _PLAYER_CARDS_Y)
    if game.over:
        verdict = "YOU WIN." if game.result > 0 else ("DRAW." if game.result == 0 else "YOU LOSE.")
        _label(canvas, _VERDICT_Y, verdict)
    return canvas


# --- NumberLine -----------------------------------------------------------------------------

NUMBERLINE_WIDTH = 320  # the line's length in pixels (before margins), for any max_pos
_LINE_MARGIN = 24
_LINE_Y = MARGIN + 2 * LABEL_H + 30
_TICK = 5
_MARK = 7  # half-size of the markers


def numberline_step(max_pos: int) -> int:
    """Pixels between two consecutive integers on the line."""
    return max(6, NUMBERLINE_WIDTH // max_pos)


def numberline_x(max_pos: int, position: int) -> int:
    """The column of ``position`` on the line (the markers are centred on it)."""
    return _LINE_MARGIN + position * numberline_step(max_pos)


def numberline_shape(max_pos: int) -> tuple[int, int, int]:
    width = 2 * _LINE_MARGIN + max_pos * numberline_step(max_pos)
    return (_LINE_Y + _TICK + 4 + ADVANCE_Y + MARGIN, width, 3)


def render_numberline(game: NumberLine) -> np.ndarray:
    height, width, _ = numberline_shape(game.max_pos)
    canvas = _canvas(height, width, PAPER)
    _label(canvas, MARGIN, f"TARGET: {game.target}", BLACK)
    _label(canvas, MARGIN + LABEL_H, f"CURRENT: {game.position}", BLACK)
    x0, x1 = numberline_x(game.max_pos, 0), numberline_x(game.max_pos, game.max_pos)
    canvas[_LINE_Y : _LINE_Y + 2, x0 : x1 + 1] = LINE
    step = numberline_step(game.max_pos)
    # Label every integer where two digits fit between ticks, else every tenth and the ends.
    every = 1 if step >= text_size("50")[0] + 3 else 10
    for pos in range(game.max_pos + 1):
        x = numberline_x(game.max_pos, pos)
        canvas[_LINE_Y - _TICK : _LINE_Y + _TICK + 2, x] = LINE
        if pos % every == 0 or pos == game.max_pos:
            w, _ = text_size(str(pos))
            draw_text(canvas, x - w // 2, _LINE_Y + _TICK + 4, str(pos), BLACK)
    ys, xs = np.mgrid[0:height, 0:width]
    tx = numberline_x(game.max_pos, game.target)
    # The target: a downward triangle above the line, its tip on the target's tick.
    tip = _LINE_Y - _TICK - 2
    depth = tip - ys
    canvas[(depth >= 0) & (depth <= 2 * _MARK) & (np.abs(xs - tx) <= depth // 2 + 1)] = TARGET_MARK
    px = numberline_x(game.max_pos, game.position)
    canvas[(xs - px) ** 2 + (ys - _LINE_Y) ** 2 <= _MARK**2] = POSITION_MARK
    return canvas


# --- dispatch -------------------------------------------------------------------------------


def image_shape(game: Game) -> tuple[int, int, int]:
    """The fixed ``(H, W, 3)`` shape of every picture of ``game`` (its configuration fixes it)."""
    if isinstance(game, NumberLine):
        return numberline_shape(game.max_pos)
    if isinstance(game, PointsGame):
        return POINTS_SHAPE
    if isinstance(game, Blackjack):
        return BLACKJACK_SHAPE
    raise TypeError(f"no picture for a {type(game).__name__}")


def render_game(game: Game) -> np.ndarray:
    """The current state of ``game`` as a uint8 ``(H, W, 3)`` picture (``image_shape``)."""
    if isinstance(game, NumberLine):
        return render_numberline(game)
    if isinstance(game, PointsGame):
        return render_points(game)
    if isinstance(game, Blackjack):
        return render_blackjack(game)
    raise TypeError(f"no picture for a {type(game).__name__}")
