"""A WebShop-like web shop: catalog, BM25 search, pages, WebShop's reward, expert and family.

One state machine (``session``) drives both the text environment (``t2po/Shop-v0``) and the
website (``t2po serve shop``); ``webshop_files`` loads the original WebShop catalog into it.
"""

from t2po.envs.shop.catalog import Catalog, Goal, Product, generate_catalog
from t2po.envs.shop.env import ShopEnv
from t2po.envs.shop.expert import ShopExpert
from t2po.envs.shop.family import SHOP
from t2po.envs.shop.reward import Score, score_purchase
from t2po.envs.shop.session import PageKind, PageView, ShopSession, parse_shop_action
from t2po.envs.shop.store import Shop, get_shop

__all__ = [
    "SHOP",
    "Catalog",
    "Goal",
    "PageKind",
    "PageView",
    "Product",
    "Score",
    "Shop",
    "ShopEnv",
    "ShopExpert",
    "ShopSession",
    "generate_catalog",
    "get_shop",
    "parse_shop_action",
    "score_purchase",
]
