"""One shop = a catalog and its search index, built once per process and shared.

Every ``ShopEnv`` (the rollout engine makes one per episode) and every website session read
the same immutable ``Shop``; building it is the only expensive step (about a second for
10,000 generated products), so it is cached by where the products come from.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from t2po.envs.shop.catalog import DEFAULT_PRODUCTS, Catalog, generate_catalog
from t2po.envs.shop.search import SearchIndex


@dataclass(frozen=True)
class Shop:
    catalog: Catalog
    index: SearchIndex


def generated_shop(seed: int = 0, n_products: int = DEFAULT_PRODUCTS) -> Shop:
    """The generated catalog with ``seed`` and ``n_products`` products, indexed (cached)."""
    return _generated_shop(int(seed), int(n_products))


@lru_cache(maxsize=4)
def _generated_shop(seed: int, n_products: int) -> Shop:
    catalog = generate_catalog(seed, n_products)
    return Shop(catalog, SearchIndex(catalog.products))


@lru_cache(maxsize=2)
def webshop_shop(data_dir: str, n_products: int | None = None) -> Shop:
    """The original WebShop files in ``data_dir``, indexed (cached; see ``webshop_files``)."""
    from t2po.envs.shop.webshop_files import load_webshop_dir

    catalog = load_webshop_dir(Path(data_dir), n_products=n_products)
    return Shop(catalog, SearchIndex(catalog.products))


def get_shop(seed: int = 0, n_products: int | None = None, webshop_dir: str | None = None) -> Shop:
    """The shop an environment asked for: WebShop files when a folder is given, else generated."""
    if webshop_dir:
        return webshop_shop(str(Path(webshop_dir).expanduser().resolve()), n_products)
    return generated_shop(seed, DEFAULT_PRODUCTS if n_products is None else n_products)
