"""The shop task family: instructions, action parsing, expert and tokenizer corpus."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from t2po.envs.base import TaskFamily
from t2po.envs.shop.corpus import shop_corpus
from t2po.envs.shop.expert import ShopExpert
from t2po.envs.shop.session import parse_shop_action

ENV_ID = "t2po/Shop-v0"
SPLITS = ("train", "test")

INSTRUCTIONS = (
    "Web shop. Buy the item the task asks for. You see one page at a time; its parts are "
    "separated by [SEP]. Actions: search[query] on the search page; click[x] where x is a "
    "button, a product id or an option value on the page. Choose the wanted options on the "
    "item page, then click[buy now]. Reply <think>reasoning</think><action>action</action>"
)


def make_expert(env: Any) -> ShopExpert:
    return ShopExpert(env)


def corpus(n: int) -> Iterator[str]:
    """``n`` short deterministic texts for tokenizer training (see ``shop.corpus``)."""
    return shop_corpus(n)


SHOP = TaskFamily(
    name="shop",
    env_id=ENV_ID,
    instructions=INSTRUCTIONS,
    parse_action=parse_shop_action,
    make_expert=make_expert,
    memory_window=2,
    max_turns=15,  # the env's own max_steps default
    list_admissible=True,
    corpus=corpus,
    splits=SPLITS,
    train_split="train",
    eval_split="test",
)
