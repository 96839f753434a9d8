"""Sokoban: generator, environment (text and image observations), expert solver, task family."""

from t2po.envs.sokoban.env import SokobanEnv
from t2po.envs.sokoban.expert import SokobanExpert
from t2po.envs.sokoban.family import SOKOBAN
from t2po.envs.sokoban.generator import GeneratedRoom, RoomSpec, generate_room
from t2po.envs.sokoban.render import parse_text, render_rgb, render_text
from t2po.envs.sokoban.room import Direction, Room, parse_sokoban_action
from t2po.envs.sokoban.solver import solve

__all__ = [
    "SOKOBAN",
    "Direction",
    "GeneratedRoom",
    "Room",
    "RoomSpec",
    "SokobanEnv",
    "SokobanExpert",
    "generate_room",
    "parse_sokoban_action",
    "parse_text",
    "render_rgb",
    "render_text",
    "solve",
]
