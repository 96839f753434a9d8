"""Task families as Gymnasium environments; importing this package registers them.

Registered Gymnasium ids: ``t2po/Sokoban-v0``, ``t2po/Shop-v0``, ``t2po/Household-v0``.
Registered families: ``sokoban``, ``shop``, ``household``.
"""

import gymnasium

from t2po.envs.base import Expert, ExpertStep, TaskFamily
from t2po.envs.household.family import HOUSEHOLD
from t2po.envs.registry import get_family, list_families, make_env, register_family
from t2po.envs.shop.family import SHOP
from t2po.envs.sokoban.family import SOKOBAN

_GYM_IDS = {
    "t2po/Sokoban-v0": "t2po.envs.sokoban.env:SokobanEnv",
    "t2po/Shop-v0": "t2po.envs.shop.env:ShopEnv",
    "t2po/Household-v0": "t2po.envs.household.env:HouseholdEnv",
}

for _env_id, _entry_point in _GYM_IDS.items():
    if _env_id not in gymnasium.registry:
        gymnasium.register(id=_env_id, entry_point=_entry_point)

register_family(SOKOBAN)
register_family(SHOP)
register_family(HOUSEHOLD)

__all__ = [
    "Expert",
    "ExpertStep",
    "TaskFamily",
    "get_family",
    "list_families",
    "make_env",
    "register_family",
]
