"""gym_cards (RL4VLM) card games as text or images: NumberLine, EZPoints, Points24, Blackjack."""

from t2po.envs.cards.env import GAMES, CardsEnv
from t2po.envs.cards.expert import CardsExpert, basic_strategy
from t2po.envs.cards.family import CARDS
from t2po.envs.cards.formula import FormulaError, evaluate
from t2po.envs.cards.solver import completions, solutions
from t2po.envs.cards.tokens import parse_cards_action

__all__ = [
    "CARDS",
    "GAMES",
    "CardsEnv",
    "CardsExpert",
    "FormulaError",
    "basic_strategy",
    "completions",
    "evaluate",
    "parse_cards_action",
    "solutions",
]
