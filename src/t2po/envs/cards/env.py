"""The card games of gym_cards (RL4VLM) as one text Gymnasium environment, ``t2po/Cards-v0``.

``CardsEnv(game=...)`` plays one of ``numberline``, ``ezpoints``, ``points24``, ``blackjack``
(rules in each game's module). Observation ``{"text": ...}``: the state as the agent reads
it (a dict, so the vision issue can add the gym_cards picture as ``image``). ``info`` carries
the family contract (``t2po.envs.base``): ``anchor`` (the observation text), ``won``,
``task_type`` (the game), ``task`` (goal and rules, in every prompt), ``admissible_actions``,
``action_is_valid`` after a step, plus ``split``, ``seed``, ``steps`` and the game's own keys
(``score`` for NumberLine progress and Blackjack's outcome).

Actions are text tokens: ``+``/``-`` (NumberLine), a card number or an operator and ``=``
(EZPoints, Points24), ``hit``/``stand`` (Blackjack). Any other text, or a token the game
does not take now, is an *invalid* action: nothing changes, the reward is 0 and
``info["action_is_valid"]`` is False (the rollout engine applies the penalty, method.md §5).
Every step counts toward the game's step budget (``max_steps`` overrides it).

``reset(seed=s, options={"split": "train" | "test"})`` deals task ``s`` of that split
(default ``train``); held-out deals never occur in training (``splits.py``).

``obs_mode`` (``t2po.envs.obs_mode``): ``text`` (default) as above; ``image`` and
``text+image`` add ``obs["image"]``, the table as gym_cards draws it (``render.py``). In
``image`` mode the text is a line on how to read the picture plus, after a rejected action,
a line naming the admissible ones.
"""

from __future__ import annotations

import string
from typing import Any

from gymnasium import Env, spaces

from t2po.envs.cards.blackjack import Blackjack
from t2po.envs.cards.game import INVALID, Game
from t2po.envs.cards.numberline import NumberLine
from t2po.envs.cards.points import ezpoints, points24
from t2po.envs.cards.render import image_note, image_shape, render_game
from t2po.envs.cards.splits import TRAIN, check_split
from t2po.envs.cards.tokens import TOKENS, parse_cards_action
from t2po.envs.obs_mode import ObsMode, observation_space, observation_text, parse_obs_mode

GAMES = ("numberline", "ezpoints", "points24", "blackjack")

# Which env keyword arguments each game takes (None = not given, the game's default).
GAME_OPTIONS: dict[str, tuple[str, ...]] = {
    "numberline": ("max_pos", "wrong_step_reward"),
    "ezpoints": ("wrong_answer_reward",),
    "points24": ("solvable_only", "wrong_answer_reward"),
    "blackjack": ("natural", "sab"),
}

TEXT_CHARSET = string.ascii_letters + string.digits + string.punctuation + " \n"
MAX_TEXT = 2048
MAX_ACTION_LENGTH = 32
INVALID_FEEDBACK = "Your last action was not valid now; valid were: {}."
# Longest feedback: every token listed (an upper bound on any game's admissible list).
MAX_FEEDBACK = len(INVALID_FEEDBACK.format(", ".join(sorted(TOKENS))))


def make_game(game: str, options: dict[str, Any]) -> Game:
    """The game called ``game`` with ``options`` (those left None take the defaults)."""
    if game not in GAMES:
        raise ValueError(f"unknown card game {game!r}; env.kwargs.game is one of {GAMES}")
    given = {k: v for k, v in options.items() if v is not None}
    for key in given:
        if key not in GAME_OPTIONS[game]:
            owner = [g for g, keys in GAME_OPTIONS.items() if key in keys]
            takes = ", ".join(GAME_OPTIONS[game]) or "no options"
            raise ValueError(
                f"cards: {key} is an option of game {owner[0] if owner else '?'}; "
                f"game {game!r} takes {takes} (clear it with env.kwargs.{key}=null)"
            )
    if game == "numberline":
        return NumberLine(**given)
    if game == "ezpoints":
        return ezpoints(**given)
    if game == "points24":
        return points24(**given)
    return Blackjack(**given)


class CardsEnv(Env[dict[str, Any], str]):
    """One of the gym_cards games: text (and optionally image) observations, text actions."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        game: str = "numberline",
        max_pos: int | None = None,
        wrong_step_reward: float | None = None,
        wrong_answer_reward: float | None = None,
        solvable_only: bool | None = None,
        natural: bool | None = None,
        sab: bool | None = None,
        max_steps: int | None = None,
        render_mode: str | None = None,
        obs_mode: str = ObsMode.text,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        options = {
            "max_pos": max_pos,
            "wrong_step_reward": wrong_step_reward,
            "wrong_answer_reward": wrong_answer_reward,
            "solvable_only": solvable_only,
            "natural": natural,
            "sab": sab,
        }
        self.game: Game = make_game(game, options)
        if max_steps is not None and int(max_steps) < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        self.max_steps = int(max_steps) if max_steps is not None else self.game.max_steps
        self.render_mode = render_mode
        self.obs_mode = parse_obs_mode(obs_mode)
        self.observation_space = observation_space(
            self.obs_mode,
            MAX_TEXT,
            TEXT_CHARSET,
            note=image_note(self.game.name),
            feedback_max_length=MAX_FEEDBACK,
            image_shape=image_shape(self.game),
        )
        # step() takes any text; the space only says what sample() draws.
        self.action_space = spaces.Text(
            max_length=MAX_ACTION_LENGTH, charset="0123456789+-*/()= " + string.ascii_lowercase
        )
        self._split = TRAIN
        self._seed = 0
        self._steps = 0
        self._dealt = False
        self._feedback = ""  # the image-mode line about the last step ("" = nothing to say)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        self._split = check_split(str((options or {}).get("split") or TRAIN))
        # A given seed names the deal; without one, draw it from the env's generator.
        self._seed = int(seed) if seed is not None else int(self.np_random.integers(2**31))
        self.game.deal(self._split, self._seed)
        self._steps = 0
        self._dealt = True
        self._feedback = ""
        return self._observation(), self._info()

    def step(self, action: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if not self._dealt:
            raise RuntimeError("call reset() before step()")
        self._steps += 1
        token = parse_cards_action(action) if isinstance(action, str) else None
        outcome = self.game.play(token) if token is not None else INVALID
        terminated = self.game.over
        truncated = not terminated and self._steps >= self.max_steps
        info = self._info()
        info["action_is_valid"] = outcome.valid
        self._feedback = ""
        if not outcome.valid:
            allowed = ", ".join(self.game.admissible()) or "none, the game is over"
            info["error"] = f"{action!r} is not an action of {self.game.name} now ({allowed})"
            # Not the error itself: it quotes the action, which may hold any characters.
            self._feedback = INVALID_FEEDBACK.format(allowed)
        return self._observation(), outcome.reward, terminated, truncated, info

    def render(self) -> str | None:
        return self.game.text() if self.render_mode == "ansi" else None

    def _observation(self) -> dict[str, Any]:
        state = self.game.text()
        if not self.obs_mode.has_image:
            return {"text": state}
        note = image_note(self.game.name)
        return {
            "text": observation_text(self.obs_mode, state, note, self._feedback),
            "image": render_game(self.game),
        }

    def _info(self) -> dict[str, Any]:
        return {
            "anchor": self.game.text(),
            "won": self.game.won,
            "task_type": self.game.name,
            "task": self.game.task(),
            "admissible_actions": self.game.admissible(),
            "split": self._split,
            "seed": self._seed,
            "steps": self._steps,
            **self.game.info(),
        }
