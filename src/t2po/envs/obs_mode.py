"""What an environment shows the agent: text, an image, or both (``env.kwargs.obs_mode``).

* ``text`` (default): ``{"text": state}``, the text environments as they always were.
* ``image``: ``{"text": note [+ feedback], "image": uint8 (H, W, 3)}``. The state is in the
  picture only; the text holds what the picture cannot: a one-line note on how to read it
  (the instructions for the image) and, after a step, a feedback line about that step
  (e.g. a blocked move, a rejected action) when there is one.
* ``text+image``: ``{"text": state [+ feedback], "image": ...}``: the state both ways.

``info["anchor"]`` stays the state text in every mode: GiGPO groups turns by the state, and
the scripted experts read it, whatever the agent is shown.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

import numpy as np
from gymnasium import spaces


class ObsMode(StrEnum):
    text = "text"
    image = "image"
    text_image = "text+image"

    @property
    def has_image(self) -> bool:
        return self is not ObsMode.text

    @property
    def has_state_text(self) -> bool:
        return self is not ObsMode.image


OBS_MODES = tuple(m.value for m in ObsMode)

# Characters the note and feedback lines may use (plain ASCII prose).
PROSE_CHARSET = frozenset(string.ascii_letters + string.digits + string.punctuation + " \n")


def parse_obs_mode(value: Any) -> ObsMode:
    """``value`` as an ``ObsMode``; anything else is an error naming the valid ones."""
    try:
        return ObsMode(str(value))
    except ValueError:
        raise ValueError(
            f"obs_mode {value!r} is not one of {', '.join(OBS_MODES)} (env.kwargs.obs_mode)"
        ) from None


def observation_text(mode: ObsMode, state: str, note: str, feedback: str = "") -> str:
    """The ``text`` entry of the observation in ``mode`` (module docstring)."""
    if mode is ObsMode.text:
        return state
    head = state if mode is ObsMode.text_image else note
    return f"{head}\n{feedback}" if feedback else head


def observation_space(
    mode: ObsMode,
    state_max_length: int,
    state_charset: Iterable[str],
    note: str,
    feedback_max_length: int,
    image_shape: tuple[int, int, int],
) -> spaces.Dict:
    """The Gymnasium space of the observations ``observation_text`` and the renderer make."""
    if mode is ObsMode.text:
        return spaces.Dict(
            {"text": spaces.Text(max_length=state_max_length, charset=frozenset(state_charset))}
        )
    head = state_max_length if mode is ObsMode.text_image else len(note)
    text = spaces.Text(
        max_length=head + 1 + feedback_max_length,
        charset=frozenset(state_charset) | PROSE_CHARSET,
    )
    image = spaces.Box(low=0, high=255, shape=image_shape, dtype=np.uint8)
    return spaces.Dict({"text": text, "image": image})
