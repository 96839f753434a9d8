"""Sokoban as a text Gymnasium environment (``t2po/Sokoban-v0``).

Observation: ``{"text": grid + positions}``: ``render.render_text`` of the room (one line
per row, cells separated by spaces; legend in ``render.py``) followed by one line with the
1-based positions of the player, boxes and targets. ``info["anchor"]`` is the same text: the raw
state text that GiGPO groups turns by (the observation itself: it has no history).

Action: a string, ``up``/``down``/``left``/``right`` (case-insensitive, surrounding
whitespace ignored; see ``room.parse_sokoban_action``). Any other string is an *invalid*
action: the state does not change, the reward is 0 and ``info["action_is_valid"]`` is
False. The rollout engine applies the -0.1 invalid-action penalty (method.md §5); the
environment does not, so the penalty is never counted twice.

Rewards (as gym-sokoban, Schrader 2018, used by GiGPO's Sokoban runs):

* -0.1 for every valid action, including a move blocked by a wall (``bump_reward`` changes
  the blocked move's reward; the default keeps gym-sokoban's);
* +1 for pushing a box onto a target, -1 for pushing one off a target;
* +10 when every box is on a target; the episode then terminates (``info["won"]``).

Every ``step`` call, invalid ones included, counts toward ``max_steps``; at ``max_steps``
the episode is truncated. ``reset(options={"room": grid_text})`` starts from a given room
instead of a generated one (tests, curricula, replays).

``obs_mode`` (``t2po.envs.obs_mode``): ``text`` (default) as above; ``image`` and
``text+image`` add ``obs["image"]``, the room drawn ``cell_size`` pixels per cell
(``render.render_rgb``). In ``image`` mode the text is the image legend plus, after a blocked
move or an invalid action, a line saying so (what the picture cannot show).
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np
from gymnasium import Env, spaces

from t2po.envs.obs_mode import ObsMode, observation_space, observation_text, parse_obs_mode
from t2po.envs.sokoban.generator import RoomSpec, generate_room
from t2po.envs.sokoban.render import (
    DEFAULT_CELL_SIZE,
    IMAGE_LEGEND,
    TEXT_CHARSET,
    check_cell_size,
    image_shape,
    max_text_length,
    parse_text,
    render_observation,
    render_rgb,
)
from t2po.envs.sokoban.room import ACTIONS, Direction, Room, move, parse_sokoban_action
from t2po.envs.sokoban.solver import solve

STEP_REWARD = -0.1
BOX_ON_REWARD = 1.0
BOX_OFF_REWARD = -1.0
WIN_REWARD = 10.0
MAX_ACTION_LENGTH = 64
INVALID_FEEDBACK = "Your last action was not one of up, down, left, right."
BLOCKED_FEEDBACK = "Your last move ({}) was blocked."


class SokobanEnv(Env[dict[str, Any], str]):
    """Push every box onto a target; text (and optionally image) observations, text actions."""

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        dim_room: tuple[int, int] | list[int] = (6, 6),
        num_boxes: int = 1,
        max_steps: int = 20,
        reverse_steps: int = 20,
        pull_prob: float = 0.75,
        max_inner_walls: int = 2,
        min_pushes: int = 2,
        max_solution_len: int = 10,
        render_mode: str | None = None,
        bump_reward: float = STEP_REWARD,
        obs_mode: str = ObsMode.text,
        cell_size: int = DEFAULT_CELL_SIZE,
    ) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode {render_mode!r} is not one of {self.metadata['render_modes']}"
            )
        height, width = int(dim_room[0]), int(dim_room[1])
        self.room_spec = RoomSpec(
            dim_room=(height, width),
            num_boxes=num_boxes,
            reverse_steps=reverse_steps,
            pull_prob=pull_prob,
            max_inner_walls=max_inner_walls,
            min_pushes=min_pushes,
            max_solution_len=max_solution_len,
        )
        self.max_steps = max_steps
        # A memoryless agent's blocked move is a free re-sample of the same state; a lower
        # reward than a step's makes it cost what it wastes (env.kwargs.bump_reward).
        self.bump_reward = float(bump_reward)
        self.render_mode = render_mode
        self.task_type = f"sokoban_{num_boxes}box"
        self.obs_mode = parse_obs_mode(obs_mode)
        self.cell_size = check_cell_size(cell_size)
        self.observation_space = observation_space(
            self.obs_mode,
            max_text_length(height, width, num_boxes),
            TEXT_CHARSET,
            note=IMAGE_LEGEND,
            feedback_max_length=max(len(INVALID_FEEDBACK), len(BLOCKED_FEEDBACK) + 5),
            image_shape=image_shape(height, width, self.cell_size),
        )
        # Any text is accepted by step(); the space only says what sample() draws.
        self.action_space = spaces.Text(
            max_length=MAX_ACTION_LENGTH, charset=string.ascii_letters + " "
        )
        self._room: Room | None = None
        self._steps = 0
        self._room_seed: int | None = None
        self._optimal_moves = -1
        self._feedback = ""  # the image-mode line about the last step ("" = nothing to say)

    @property
    def room(self) -> Room:
        """The current state (immutable)."""
        if self._room is None:
            raise RuntimeError("call reset() before using the environment")
        return self._room

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        if options and options.get("room") is not None:
            self._room = parse_text(str(options["room"]))
            self._room_seed = None
            plan = solve(self._room)
            self._optimal_moves = -1 if plan is None else len(plan)
        else:
            # A given seed names the room directly, so ``reset(seed=s)`` and
            # ``generate_room(spec, s)`` agree; without one, draw it from the env's generator.
            self._room_seed = int(seed) if seed is not None else int(self.np_random.integers(2**31))
            generated = generate_room(self.room_spec, self._room_seed)
            self._room = generated.room
            self._optimal_moves = len(generated.solution)
        self._steps = 0
        self._feedback = ""
        return self._observation(), self._info()

    def step(self, action: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        room = self.room
        self._steps += 1
        parsed = parse_sokoban_action(action) if isinstance(action, str) else None
        reward = 0.0
        moved = False
        if parsed is not None:
            result = move(room, Direction(parsed))
            moved = result.moved
            reward = STEP_REWARD if moved else self.bump_reward
            if result.pushed_from is not None:
                reward += BOX_OFF_REWARD * (result.pushed_from in room.targets)
                reward += BOX_ON_REWARD * (result.pushed_to in room.targets)
            self._room = room = result.room
            if room.solved:
                reward += WIN_REWARD
        if parsed is None:
            self._feedback = INVALID_FEEDBACK
        else:
            self._feedback = "" if moved else BLOCKED_FEEDBACK.format(parsed)
        terminated = room.solved
        truncated = not terminated and self._steps >= self.max_steps
        info = self._info()
        info["action_is_valid"] = parsed is not None
        info["moved"] = moved
        return self._observation(), float(reward), terminated, truncated, info

    def render(self) -> str | np.ndarray | None:
        if self.render_mode == "ansi":
            return render_observation(self.room)
        if self.render_mode == "rgb_array":
            return render_rgb(self.room, self.cell_size)
        return None

    def _observation(self) -> dict[str, Any]:
        state = render_observation(self.room)
        if not self.obs_mode.has_image:
            return {"text": state}
        return {
            "text": observation_text(self.obs_mode, state, IMAGE_LEGEND, self._feedback),
            "image": render_rgb(self.room, self.cell_size),
        }

    def _info(self) -> dict[str, Any]:
        room = self.room
        return {
            "anchor": render_observation(room),
            "won": room.solved,
            "task_type": self.task_type,
            "admissible_actions": list(ACTIONS),
            "boxes_on_target": room.boxes_on_target,
            "num_boxes": len(room.boxes),
            "steps": self._steps,
            "seed": self._room_seed,
            "optimal_moves": self._optimal_moves,
        }
