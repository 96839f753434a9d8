"""ALFWorld-like household tasks: generator, native and alfworld engines, expert, family."""

from t2po.envs.household.env import HouseholdEnv
from t2po.envs.household.expert import HouseholdExpert
from t2po.envs.household.family import HOUSEHOLD, parse_household_action
from t2po.envs.household.generator import SPLITS, generate_task
from t2po.envs.household.native import NativeEngine
from t2po.envs.household.vocab import RoomKind, TaskType
from t2po.envs.household.world import Goal, Task, WorldState, goal_met

__all__ = [
    "HOUSEHOLD",
    "SPLITS",
    "Goal",
    "HouseholdEnv",
    "HouseholdExpert",
    "NativeEngine",
    "RoomKind",
    "Task",
    "TaskType",
    "WorldState",
    "generate_task",
    "goal_met",
    "parse_household_action",
]
