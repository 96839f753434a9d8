"""BM25 product search (the ``bm25s`` package), as WebShop's Lucene BM25 index does.

A product's searchable text is its title, category path, attributes, option values, feature
bullets and description. Text is lower-cased and split into words of two or more letters or
digits, without English stop words and shopping filler ("need", "price", "dollars"),
so a whole instruction works as a query; the same rule applies to documents and queries, so a
query word either is in the vocabulary or scores nothing. A search returns up to
``SEARCH_RETURN_N`` (50) product ids, best first; ties keep catalog order, so results are
deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from t2po.envs.shop.catalog import Product

SEARCH_RETURN_N = 50  # WebShop: results of one search (5 pages of 10)

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
STOP_WORDS = frozenset(
    """a an and are as at be but by for from has have i in into is it its me my of on or our
    so than that the their then there these they this to was we were what which while who
    will with you your need want looking find get buy can should lower price dollars""".split()  # noqa: SIM905
)


def tokenize(text: str) -> list[str]:
    """Lower-case search words of ``text`` (documents and queries alike)."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in STOP_WORDS]


def product_text(product: Product) -> str:
    """Everything about a product that search can match."""
    options = " ".join(v for values in product.options.values() for v in values)
    return " ".join(
        (
            product.title,
            product.product_category,
            " ".join(product.attributes),
            options,
            " ".join(product.bullet_points),
            product.description,
        )
    )


def _bm25(corpus_tokens: list[list[str]]) -> Any:
    try:
        import bm25s
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError('the shop search needs bm25s: pip install -e ".[shop]"') from exc
    retriever = bm25s.BM25()
    retriever.index(corpus_tokens, show_progress=False)
    return retriever


class SearchIndex:
    """BM25 over a fixed list of products; ``search`` returns product ids."""

    def __init__(self, products: Sequence[Product]) -> None:
        self.asins = [p.asin for p in products]
        self._retriever = _bm25([tokenize(product_text(p)) for p in products])
        self._vocab: dict[str, int] = dict(self._retriever.vocab_dict)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every product for ``query`` (unknown words add nothing)."""
        words = [w for w in tokenize(query) if w in self._vocab]
        if not words:
            return np.zeros(len(self.asins), dtype=np.float32)
        return np.asarray(self._retriever.get_scores(words))

    def search(self, query: str, k: int = SEARCH_RETURN_N) -> list[str]:
        """Ids of the ``k`` best-scoring products with a positive score, best first."""
        scores = self.scores(query)
        positive = int(np.count_nonzero(scores > 0))
        k = min(k, positive)
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        # sort by score descending, then by catalog position (stable, deterministic ties)
        order = np.lexsort((top, -scores[top]))
        ranked = top[order]
        # argpartition may cut inside a tie at the k-th score: refill that tie in catalog order
        kth = scores[ranked[-1]]
        tied = np.flatnonzero(scores == kth)
        head = [int(i) for i in ranked if scores[i] > kth]
        head += [int(i) for i in tied[: k - len(head)]]
        return [self.asins[i] for i in head]
