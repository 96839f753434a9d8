"""A 5x7 bitmap font and text drawing on numpy RGB images, for the rendered observations.

Why our own glyphs rather than a font file or Pillow's ``ImageFont``: pixels the agent trains
on must be the same on every machine and every Pillow version (FreeType hinting and Pillow's
default font have changed between releases), and nothing may be downloaded. A glyph is 7 rows
of 5 columns (``#`` ink, ``.`` paper); a character advances 6 columns and a line 9 rows, both
times the integer ``scale``. Text is drawn in upper case (the font has no lower case).
"""

from __future__ import annotations

import numpy as np

GLYPH_W, GLYPH_H = 5, 7
ADVANCE_X, ADVANCE_Y = GLYPH_W + 1, GLYPH_H + 2

_FONT_ROWS: dict[str, tuple[str, ...]] = {
    " ": (".....", ".....", ".....", ".....", ".....", ".....", "....."),
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "C": (".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."),
    "D": ("###..", "#..#.", "#...#", "#...#", "#...#", "#..#.", "###.."),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "F": ("#####", "#....", "#....", "####.", "#....", "#....", "#...."),
    "G": (".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"),
    "H": ("#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "I": (".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "J": ("..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."),
    "K": ("#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"),
    "L": ("#....", "#....", "#....", "#....", "#....", "#....", "#####"),
    "M": ("#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"),
    "N": ("#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"),
    "O": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "P": ("####.", "#...#", "#...#", "####.", "#....", "#....", "#...."),
    "Q": (".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"),
    "R": ("####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"),
    "S": (".####", "#....", "#....", ".###.", "....#", "....#", "####."),
    "T": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."),
    "U": ("#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "V": ("#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."),
    "W": ("#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."),
    "X": ("#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"),
    "Y": ("#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."),
    "Z": ("#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"),
    "+": (".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."),
    "-": (".....", ".....", ".....", "#####", ".....", ".....", "....."),
    "*": (".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "....."),
    "/": (".....", "....#", "...#.", "..#..", ".#...", "#....", "....."),
    "=": (".....", ".....", "#####", ".....", "#####", ".....", "....."),
    "(": ("...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."),
    ")": (".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."),
    ":": (".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."),
    ",": (".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."),
    ".": (".....", ".....", ".....", ".....", ".....", ".##..", ".##.."),
    "?": (".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."),
    "!": ("..#..", "..#..", "..#..", "..#..", "..#..", ".....", "..#.."),
    "'": ("..#..", "..#..", ".#...", ".....", ".....", ".....", "....."),
}
CHARSET = frozenset(_FONT_ROWS)

GLYPHS: dict[str, np.ndarray] = {
    ch: np.array([[c == "#" for c in row] for row in rows], dtype=bool)
    for ch, rows in _FONT_ROWS.items()
}


def text_size(text: str, scale: int = 1) -> tuple[int, int]:
    """``(width, height)`` in pixels of one line of ``text`` (no trailing spacing column)."""
    if not text:
        return 0, GLYPH_H * scale
    return (len(text) * ADVANCE_X - 1) * scale, GLYPH_H * scale


def text_mask(text: str, scale: int = 1) -> np.ndarray:
    """Ink of one line of ``text`` as a bool ``(7*scale, width)`` array.

    Lower case is drawn as upper case; a character the font lacks raises ``ValueError``.
    """
    text = text.upper()
    missing = sorted(set(text) - CHARSET)
    if missing:
        raise ValueError(f"the bitmap font cannot draw {missing}")
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    width, height = text_size(text, 1)
    mask = np.zeros((height, max(width, 0)), dtype=bool)
    for i, ch in enumerate(text):
        mask[:, i * ADVANCE_X : i * ADVANCE_X + GLYPH_W] = GLYPHS[ch]
    return np.kron(mask, np.ones((scale, scale), dtype=bool)).astype(bool)


def draw_text(
    image: np.ndarray,
    x: int,
    y: int,
    text: str,
    colour: tuple[int, int, int],
    scale: int = 1,
) -> None:
    """Paint ``text`` with its top-left corner at ``(x, y)``; ink outside the image is clipped.

    Mutates ``image`` (an ``(H, W, 3)`` uint8 canvas the caller is building).
    """
    mask = text_mask(text, scale)
    h, w = mask.shape
    y0, x0 = max(y, 0), max(x, 0)
    y1, x1 = min(y + h, image.shape[0]), min(x + w, image.shape[1])
    if y1 <= y0 or x1 <= x0:
        return
    region = mask[y0 - y : y1 - y, x0 - x : x1 - x]
    image[y0:y1, x0:x1][region] = colour


def wrap(text: str, max_chars: int) -> list[str]:
    """``text`` split at spaces into lines of at most ``max_chars`` (long words are cut)."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        while len(word) > max_chars:
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:max_chars])
            word = word[max_chars:]
        candidate = f"{line} {word}" if line else word
        if len(candidate) <= max_chars:
            line = candidate
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines
