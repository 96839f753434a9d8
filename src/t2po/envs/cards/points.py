"""EZPoints and Points24 (gym_cards ``EZPoints-v0``, ``Points24-v0``): write a formula.

The agent sees the cards and writes a formula one token per turn: a card's number (one
token per card; J, Q and K count as 10, A as 1), an operator, and finally ``=``.

* EZPoints: two cards, operators ``+ *``, target 12. Deals as gym_cards: the first card is
  2..K; the second makes 12 with it, by ``*`` (half of the time, when the first divides 12)
  or else by ``+``; the two are then swapped half of the time. Every deal is solvable.
* Points24: four uniform cards, operators ``+ - * / ( )``, target 24. Many deals have no
  solution (gym_cards keeps them); ``solvable_only`` deals only the solvable ones.

A number is valid only while an unused card shows it (a second ``10`` needs a second card
worth 10); any other text, or an operator the game lacks, is an invalid action that leaves
the formula alone (gym_cards appends a blank to it and gives -1; here the rollout engine
applies its invalid-action penalty). ``=`` ends the episode: it is won (reward 1) when every
card is used once and the formula is exactly the target (exact rationals; gym_cards gives 10,
and -1 on failure, which here is ``wrong_answer_reward``, default 0). With 0, typing ``=`` at
once (return 0) can beat trying and fumbling (invalid tokens cost the engine's penalty): from
the card-games study's weak cold start, episodes that begin with ``=`` returned 0 on average
and the others -0.05, and GiGPO-based runs learned to give up (docs/studies/cards.md).
The formula may hold ``max_formula`` tokens before ``=`` (gym_cards: 5 and 20), so the
episode is truncated after ``max_formula + 1`` steps, invalid ones included as in gym_cards.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from t2po.envs.cards.deck import SUITS, Card, random_card
from t2po.envs.cards.formula import FormulaError, evaluate, is_number
from t2po.envs.cards.game import INVALID, MAX_DEAL_ATTEMPTS, Outcome
from t2po.envs.cards.solver import solvable as solvable_deal
from t2po.envs.cards.splits import split_of, stable_int

EQUALS = "="

Dealer = Callable[[random.Random], list[Card]]


def deal_ezpoints(rng: random.Random) -> list[Card]:
    """Two cards that make 12 (gym_cards ``EZPointEnv._generate_cards``)."""
    first = random_card(rng, rng.randint(2, 13))
    if first.value in (2, 3, 4, 6) and rng.random() <= 0.5:
        second_value = 12 // first.value
    else:
        second_value = 12 - first.value
    cards = [first, Card(second_value, rng.choice(SUITS))]
    return cards[::-1] if rng.random() <= 0.5 else cards


def deal_points24(rng: random.Random) -> list[Card]:
    """Four uniform cards (gym_cards ``Point24Env._generate_cards``)."""
    return [random_card(rng) for _ in range(4)]


class PointsGame:
    """A formula game: ``target`` from every card once, with ``operators``."""

    def __init__(
        self,
        name: str,
        target: int,
        operators: tuple[str, ...],
        max_formula: int,
        dealer: Dealer,
        solvable_only: bool = False,
        wrong_answer_reward: float = 0.0,
    ) -> None:
        self.name = name
        self.target = target
        self.operators = operators
        self.max_formula = max_formula
        self.max_steps = max_formula + 1
        self.dealer = dealer
        self.solvable_only = bool(solvable_only)
        self.wrong_answer_reward = float(wrong_answer_reward)
        self.cards: list[Card] = []
        self.formula: list[str] = []
        self.result = ""  # what "=" found, shown once the game is over
        self.over = False
        self._won = False
        self.solvable = False

    # --- the deal -------------------------------------------------------------------------

    @property
    def numbers(self) -> list[int]:
        return [card.value for card in self.cards]

    @property
    def arithmetic(self) -> tuple[str, ...]:
        return tuple(op for op in self.operators if op not in "()")

    @property
    def parens(self) -> bool:
        return "(" in self.operators

    def deal(self, split: str, seed: int) -> None:
        rng = random.Random(stable_int(self.name, split, seed))
        for _ in range(MAX_DEAL_ATTEMPTS):
            cards = self.dealer(rng)
            key = ", ".join(card.name for card in cards)
            if split_of(self.name, key) != split:
                continue
            solvable = solvable_deal(
                [c.value for c in cards], self.arithmetic, self.target, self.parens
            )
            if solvable or not self.solvable_only:
                break
        else:  # pragma: no cover - each split holds a fifth or more of the deals
            raise RuntimeError(f"no {split} deal of {self.name} in {MAX_DEAL_ATTEMPTS} draws")
        self.cards, self.solvable = cards, solvable
        self.formula, self.result = [], ""
        self.over = self._won = False

    # --- play -----------------------------------------------------------------------------

    @property
    def won(self) -> bool:
        return self._won

    def remaining(self) -> Counter[int]:
        """Card numbers not used yet (with multiplicity)."""
        used = Counter(int(t) for t in self.formula if is_number(t))
        return Counter(self.numbers) - used

    def play(self, token: str) -> Outcome:
        if self.over:
            return INVALID
        if is_number(token):
            if self.remaining()[int(token)] <= 0:
                return INVALID  # no unused card shows this number
            self.formula.append(str(int(token)))
            return Outcome(True)
        if token in self.operators:
            self.formula.append(token)
            return Outcome(True)
        if token == EQUALS:
            self.over = True
            self._won = self._evaluate()
            return Outcome(True, 1.0 if self._won else self.wrong_answer_reward)
        return INVALID

    def _evaluate(self) -> bool:
        try:
            value = evaluate(self.formula)
        except FormulaError as exc:
            self.result = f"(not a formula: {exc})"
            return False
        shown = str(value.numerator) if value.denominator == 1 else str(value)
        if sum(self.remaining().values()):
            self.result = f"{shown} (not every card used)"
            return False
        self.result = shown
        return value == self.target

    # --- what the agent sees ----------------------------------------------------------------

    def formula_text(self) -> str:
        written = " ".join(self.formula) if self.formula else "(empty)"
        return f"{written} = {self.result}" if self.over else written

    def text(self) -> str:
        return f"Cards: {', '.join(c.name for c in self.cards)}\nFormula: {self.formula_text()}"

    def task(self) -> str:
        ops = " ".join(self.operators)
        count = "both cards" if len(self.cards) == 2 else f"all {len(self.cards)} cards"
        return (
            f"{self.name_shown}: make {self.target} from {count}, each used once. Write one "
            f"token per turn: a card's number or one of {ops}; then = to finish. "
            "J, Q and K count as 10, A as 1."
        )

    @property
    def name_shown(self) -> str:
        return {"ezpoints": "EZPoints", "points24": "Points24"}.get(self.name, self.name)

    def admissible(self) -> list[str]:
        if self.over:
            return []
        numbers = sorted(n for n, left in self.remaining().items() if left > 0)
        return [*(str(n) for n in numbers), *self.operators, EQUALS]

    def info(self) -> dict[str, Any]:
        return {
            "cards": [c.name for c in self.cards],
            "numbers": self.numbers,
            "formula": " ".join(self.formula),
            "target": self.target,
            "solvable": self.solvable,
        }


def ezpoints(wrong_answer_reward: float = 0.0) -> PointsGame:
    return PointsGame(
        "ezpoints",
        12,
        ("+", "*"),
        max_formula=5,
        dealer=deal_ezpoints,
        wrong_answer_reward=wrong_answer_reward,
    )


def points24(solvable_only: bool = False, wrong_answer_reward: float = 0.0) -> PointsGame:
    return PointsGame(
        "points24",
        24,
        ("+", "-", "*", "/", "(", ")"),
        max_formula=20,
        dealer=deal_points24,
        solvable_only=solvable_only,
        wrong_answer_reward=wrong_answer_reward,
    )
