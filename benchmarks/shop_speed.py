"""shop_speed: BM25 search (``bm25s``) of the shop vs a naive per-document BM25 loop.

The shop's goal is p50 <= 5 ms per query over 10,000 products. Queries are the expert's key
words and the full instruction texts of held-out tasks. Two arms answer the same queries:

1. ``bm25s``: :class:`t2po.envs.shop.search.SearchIndex` (sparse-matrix BM25, top 50);
2. ``naive``: the same BM25 (Lucene idf, k1 = 1.5, b = 0.75, the same tokens) scored in a
   Python loop over every product, then sorted: what one writes without an index library.

It also reports how often the two arms agree on the top-10 set (a check that the baseline
computes the same ranking), the time to build the catalog and the index, and the text
environment's speed (``steps_per_s``: ``env.step`` calls per second while the expert shops).

Usage::

    python benchmarks/shop_speed.py           # 10,000 products, 200 queries
    python benchmarks/shop_speed.py --quick   # 2,000 products, 20 queries

Last line: ``RESULT shop_speed search_p50_ms=<x> search_p99_ms=<x> naive_p50_ms=<x>
speedup=<x> steps_per_s=<n>``.
"""

from __future__ import annotations

import math
import time
from collections import Counter

import _common as common
import numpy as np

from t2po.envs.shop.catalog import generate_catalog
from t2po.envs.shop.env import ShopEnv
from t2po.envs.shop.expert import ShopExpert, key_words
from t2po.envs.shop.instructions import goal_for
from t2po.envs.shop.search import SEARCH_RETURN_N, SearchIndex, product_text, tokenize

NAME = "shop_speed"
DEFAULT_REPEATS = 3
FULL = {"products": 10_000, "queries": 200, "episodes": 100}
QUICK = {"products": 2_000, "queries": 20, "episodes": 10}
K1, B = 1.5, 0.75


class NaiveBM25:
    """BM25 scored document by document in Python (the baseline)."""

    def __init__(self, docs: list[list[str]]) -> None:
        self.tfs = [Counter(d) for d in docs]
        self.lengths = [len(d) for d in docs]
        self.avg_len = sum(self.lengths) / len(docs)
        df: Counter[str] = Counter()
        for tf in self.tfs:
            df.update(tf.keys())
        n = len(docs)
        self.idf = {w: math.log(1 + (n - c + 0.5) / (c + 0.5)) for w, c in df.items()}

    def search(self, query: str, k: int = SEARCH_RETURN_N) -> list[int]:
        words = [w for w in tokenize(query) if w in self.idf]
        scores = []
        for i, (tf, length) in enumerate(zip(self.tfs, self.lengths, strict=True)):
            norm = K1 * (1 - B + B * length / self.avg_len)
            s = sum(self.idf[w] * tf[w] / (tf[w] + norm) for w in words if w in tf)
            if s > 0:
                scores.append((-s, i))
        scores.sort()
        return [i for _, i in scores[:k]]


def percentile_ms(seconds: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(seconds) * 1000.0, q))


def time_queries(search: object, queries: list[str], repeats: int) -> list[float]:
    """Per-query seconds, the median over ``repeats`` of each query."""
    fn = search  # a bound method: query -> ranked list
    per_query = []
    for q in queries:
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn(q)  # type: ignore[operator]
            runs.append(time.perf_counter() - start)
        per_query.append(common.median(runs))
    return per_query


def env_steps_per_s(n_products: int, episodes: int) -> float:
    env = ShopEnv(num_products=n_products)
    steps, seconds = 0, 0.0
    for seed in range(episodes):
        obs, info = env.reset(seed=seed, options={"split": "test"})
        expert = ShopExpert(env)
        while True:
            action = expert.act(obs, info).action
            start = time.perf_counter()
            obs, _, terminated, truncated, info = env.step(action)
            seconds += time.perf_counter() - start
            steps += 1
            if terminated or truncated:
                break
    return steps / seconds


def main() -> None:
    parser = common.base_parser(NAME, __doc__.splitlines()[0], DEFAULT_REPEATS)
    args = parser.parse_args()
    repeats, machine = common.start(args, NAME, DEFAULT_REPEATS)
    sizes = QUICK if args.quick else FULL

    build_s, catalog = common.timed(lambda: generate_catalog(0, sizes["products"]))
    index_s, index = common.timed(lambda: SearchIndex(catalog.products))
    naive = NaiveBM25([tokenize(product_text(p)) for p in catalog.products])
    goals = [goal_for(catalog, "test", s) for s in range(sizes["queries"] // 2)]
    queries = [key_words(g) for g in goals] + [g.instruction for g in goals]

    ours = time_queries(index.search, queries, repeats)
    baseline = time_queries(naive.search, queries, repeats)
    agree = [
        set(index.search(q)[:10]) == {catalog.products[i].asin for i in naive.search(q)[:10]}
        for q in queries
    ]
    steps_per_s = env_steps_per_s(sizes["products"], sizes["episodes"])

    rows = [
        ["bm25s", percentile_ms(ours, 50), percentile_ms(ours, 99)],
        ["naive", percentile_ms(baseline, 50), percentile_ms(baseline, 99)],
    ]
    common.print_table(
        f"search over {len(catalog.products)} products, {len(queries)} queries",
        ["arm", "p50_ms", "p99_ms"],
        rows,
    )
    print(
        f"\ncatalog build {build_s:.2f} s, index build {index_s:.2f} s, "
        f"top-10 agreement {sum(agree) / len(agree):.2f}, env {steps_per_s:.0f} steps/s"
    )
    result = {
        "search_p50_ms": rows[0][1],
        "search_p99_ms": rows[0][2],
        "naive_p50_ms": rows[1][1],
        "speedup": rows[1][1] / rows[0][1],
        "steps_per_s": steps_per_s,
    }
    payload = {
        "machine": machine,
        "settings": {**sizes, "repeats": repeats, "quick": args.quick},
        "catalog_build_s": build_s,
        "index_build_s": index_s,
        "top10_agreement": sum(agree) / len(agree),
        "per_arm": {r[0]: {"p50_ms": r[1], "p99_ms": r[2]} for r in rows},
    }
    common.finish(NAME, args.out, payload, result)


if __name__ == "__main__":
    main()
