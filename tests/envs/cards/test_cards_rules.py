"""The four card games' rules, by hand: moves, bounds, tokens, formulas, Blackjack payouts."""

from __future__ import annotations

from fractions import Fraction

import pytest

from t2po.envs.cards import CardsEnv, FormulaError, evaluate, parse_cards_action
from t2po.envs.cards.deck import Card
from t2po.envs.cards.points import deal_ezpoints
from t2po.envs.cards.splits import TRAIN

# --- parsing --------------------------------------------------------------------------


def test_action_text_is_read_as_a_canonical_token_or_none() -> None:
    assert parse_cards_action(" + ") == "+"
    assert parse_cards_action("'10'") == "10"
    assert parse_cards_action("HIT") == "hit"
    assert parse_cards_action("stick") == "stand"  # Gymnasium's word
    assert parse_cards_action("x") == "*"
    for text in ("11", "0", "ten", "+ -", "", "hit me", "x" * 40):
        assert parse_cards_action(text) is None, text


# --- NumberLine ---------------------------------------------------------------------------


def _numberline(start: int, target: int, **kwargs: object) -> CardsEnv:
    env = CardsEnv(game="numberline", **kwargs)  # type: ignore[arg-type]
    env.reset(seed=0)
    game = env.game
    game.start = game.position = start  # type: ignore[attr-defined]
    game.target = target  # type: ignore[attr-defined]
    return env


def test_numberline_moves_clamps_at_the_ends_and_wins_with_reward_1() -> None:
    env = _numberline(1, 3)
    obs, reward, terminated, truncated, info = env.step("+")
    assert obs["text"] == "Target: 3\nCurrent: 2" and reward == 0.0 and not terminated
    assert info["action_is_valid"] and info["score"] == 0.5
    obs, reward, terminated, _, info = env.step("+")
    assert (reward, terminated, info["won"], info["score"]) == (1.0, True, True, 1.0)

    env = _numberline(0, 4)  # gym_cards: no move below 0 or above max_pos
    obs, reward, terminated, _, info = env.step("-")
    assert "Current: 0" in obs["text"] and reward == 0.0 and info["action_is_valid"]
    env = _numberline(5, 2)
    assert "Current: 5" in env.step("+")[0]["text"]


def test_numberline_wrong_step_reward_is_gym_cards_minus_one_when_asked() -> None:
    env = _numberline(2, 4, wrong_step_reward=-1.0)
    assert env.step("-")[1] == -1.0  # away
    assert env.step("+")[1] == 0.0  # closer
    env = _numberline(0, 3, wrong_step_reward=-1.0)
    assert env.step("-")[1] == -1.0  # clamped: not closer


def test_numberline_truncates_after_twice_max_pos_steps_invalid_ones_included() -> None:
    env = _numberline(0, 3, max_pos=3)
    assert env.max_steps == 6
    results = [env.step(a) for a in ("-", "hit", "-", "@@", "-")]
    assert not any(r[3] for r in results)
    assert results[1][4]["action_is_valid"] is False and results[1][1] == 0.0
    *_, truncated, info = env.step("-")
    assert truncated and not info["won"]


@pytest.mark.parametrize("max_pos", [0, 51, -3])
def test_numberline_max_pos_is_1_to_50(max_pos: int) -> None:
    with pytest.raises(ValueError, match=r"max_pos must be in 1\.\.50"):
        CardsEnv(game="numberline", max_pos=max_pos)


def test_bad_game_and_misplaced_options_name_the_choices() -> None:
    with pytest.raises(ValueError, match="numberline.*ezpoints.*points24.*blackjack"):
        CardsEnv(game="poker")
    with pytest.raises(ValueError, match="max_pos is an option of game numberline"):
        CardsEnv(game="blackjack", max_pos=10)
    with pytest.raises(ValueError, match="unknown split 'valid'.*train, test"):
        CardsEnv().reset(seed=0, options={"split": "valid"})


# --- formulas ---------------------------------------------------------------------------


def _value(formula: str) -> Fraction:
    return evaluate(formula.split())


def test_formulas_are_exact_rationals_with_precedence_and_parentheses() -> None:
    assert _value("8 / ( 3 - 8 / 3 )") == 24
    assert _value("2 + 3 * 4") == 14
    assert _value("( 2 + 3 ) * 4") == 20
    assert _value("10 - 4 - 3") == 3  # left to right
    assert _value("1 / 3") == Fraction(1, 3)
    for bad, why in [
        ("", "empty"),
        ("2 4", "unexpected '4'"),  # two cards never make 24 by concatenation
        ("2 * * 3", "unexpected '\\*'"),
        ("- 3 + 27", "unexpected '-'"),
        ("( 2 + 3", "not closed"),
        ("4 / ( 2 - 2 )", "division by zero"),
        ("2 +", "ends where"),
    ]:
        with pytest.raises(FormulaError, match=why):
            evaluate(bad.split())


# --- EZPoints / Points24 ---------------------------------------------------------------


def _points(game: str, ranks: list[int], **kwargs: object) -> CardsEnv:
    env = CardsEnv(game=game, **kwargs)  # type: ignore[arg-type]
    env.reset(seed=0)
    env.game.cards = [Card(r, "hearts") for r in ranks]  # type: ignore[attr-defined]
    return env


def _play(env: CardsEnv, tokens: str) -> list[tuple[float, bool, bool, dict[str, object]]]:
    out = []
    for token in tokens.split():
        _, reward, terminated, truncated, info = env.step(token)
        out.append((reward, terminated, truncated, info))
    return out


def test_ezpoints_face_cards_count_10_and_12_wins() -> None:
    env = _points("ezpoints", [13, 2])  # K and 2
    obs, info = env.game.text(), env._info()
    assert obs == "Cards: K of hearts, 2 of hearts\nFormula: (empty)"
    assert info["admissible_actions"] == ["2", "10", "+", "*", "="]
    steps = _play(env, "10 + 2 =")
    assert [s[0] for s in steps] == [0.0, 0.0, 0.0, 1.0]
    assert steps[-1][1] and steps[-1][3]["won"] and steps[-1][3]["formula"] == "10 + 2"
    assert env.game.text().endswith("Formula: 10 + 2 = 12")


def test_ezpoints_invalid_tokens_leave_the_formula_and_count_as_steps() -> None:
    env = _points("ezpoints", [3, 4])
    for token in ("5", "-", "/", "(", "hit", "3 +", "13"):  # not a card or not an operator here
        _, reward, terminated, _, info = env.step(token)
        assert not info["action_is_valid"] and reward == 0.0 and not terminated
        assert info["formula"] == "" and "not an action of ezpoints" in info["error"]
    env = _points("ezpoints", [3, 4])
    _play(env, "3")
    _, _, _, _, info = env.step("3")  # the only 3 is used
    assert not info["action_is_valid"] and info["admissible_actions"] == ["4", "+", "*", "="]


def test_ezpoints_fails_on_a_wrong_value_or_an_unused_card_and_truncates_after_6_steps() -> None:
    env = _points("ezpoints", [3, 4])
    reward, terminated, _, info = _play(env, "3 + 4 =")[-1]
    assert (reward, terminated, info["won"]) == (0.0, True, False)
    assert env.game.text().endswith("= 7")
    env = _points("ezpoints", [6, 6])
    *_, (reward, terminated, _, info) = _play(env, "6 + 6 =")
    assert info["won"]
    env = _points("ezpoints", [6, 2])
    *_, (reward, _, _, info) = _play(env, "6 * 2 * =")
    assert not info["won"] and "not a formula" in env.game.text()
    env = _points("ezpoints", [10, 2])
    *_, (_, _, _, info) = _play(env, "10 + =")
    assert not info["won"]
    env = _points("ezpoints", [10, 2])
    assert env.max_steps == 6  # 5 formula tokens and =, as gym_cards
    steps = _play(env, "10 + + + + 2")
    assert [s[2] for s in steps] == [False] * 5 + [True]


def test_a_wrong_answer_costs_wrong_answer_reward_gym_cards_minus_one_when_asked() -> None:
    for game in ("ezpoints", "points24"):
        env = _points(game, [3, 4] if game == "ezpoints" else [1, 2, 3, 4],
                      wrong_answer_reward=-1.0)  # fmt: skip
        assert env.step("=")[1] == -1.0  # giving up at once is a wrong answer
    env = _points("ezpoints", [3, 4], wrong_answer_reward=-1.0)
    assert [s[0] for s in _play(env, "3 * 4 =")] == [0.0, 0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="takes max_pos, wrong_step_reward"):
        CardsEnv(game="numberline", wrong_answer_reward=-1.0)


def test_ezpoints_deals_follow_gym_cards() -> None:
    import random

    rng = random.Random(0)
    seen = set()
    for _ in range(2000):
        first, second = deal_ezpoints(rng)
        a, b = first.value, second.value
        assert a + b == 12 or a * b == 12
        assert second.rank <= 10 or first.rank <= 10  # the made-up card is never a face
        seen.add(tuple(sorted((a, b))))
    assert seen == {(2, 10), (3, 9), (4, 8), (5, 7), (6, 6), (2, 6), (3, 4)}


def test_points24_division_parentheses_and_division_by_zero() -> None:
    env = _points("points24", [8, 3, 8, 3])
    *_, (reward, terminated, _, info) = _play(env, "8 / ( 3 - 8 / 3 ) =")
    assert (reward, terminated, info["won"]) == (1.0, True, True)
    env = _points("points24", [4, 6, 1, 1])
    *_, (reward, terminated, _, info) = _play(env, "4 / ( 1 - 1 ) * 6 =")
    assert (reward, terminated, info["won"]) == (0.0, True, False)
    assert "division by zero" in env.game.text()
    env = _points("points24", [12, 11, 2, 2])  # Q, J count as 10
    *_, (_, _, _, info) = _play(env, "10 + 10 + 2 * 2 =")
    assert info["won"]
    env = _points("points24", [4, 6, 1, 1])
    *_, (_, _, _, info) = _play(env, "4 * 6 =")  # 24, but two cards unused
    assert not info["won"] and "not every card used" in env.game.text()
    assert env.max_steps == 21


# --- Blackjack --------------------------------------------------------------------------


def _blackjack(player: list[int], dealer: list[int], **kwargs: object) -> CardsEnv:
    """A Blackjack env whose hands are set by hand (later draws still come from the seed)."""
    env = CardsEnv(game="blackjack", **kwargs)  # type: ignore[arg-type]
    env.reset(seed=0)
    game = env.game
    game._env.player, game._env.dealer = list(player), list(dealer)  # type: ignore[attr-defined]
    game.player_cards, game.dealer_cards = [], []  # type: ignore[attr-defined]
    game._sync()  # type: ignore[attr-defined]
    return env


def test_blackjack_observation_shows_the_up_card_the_hand_and_its_sum() -> None:
    env = _blackjack([1, 6], [10, 7])
    text = env.game.text()
    assert text.startswith("Dealer: ") and "one card face down" in text
    assert "(17, usable ace)" in text
    info = env._info()
    assert (info["player_sum"], info["usable_ace"], info["dealer_card"]) == (17, True, 10)
    assert info["admissible_actions"] == ["hit", "stand"]


def test_blackjack_stand_scores_against_the_dealer() -> None:
    env = _blackjack([10, 10], [10, 7])  # 20 against 17: the dealer stands at once
    _, reward, terminated, _, info = env.step("stand")
    assert (reward, terminated, info["won"], info["return"], info["score"]) == (
        1.0,
        True,
        True,
        1.0,
        1.0,
    )
    assert env.game.text().endswith("You win.")
    env = _blackjack([10, 7], [10, 7])
    _, reward, _, _, info = env.step("stick")
    assert (reward, info["won"], info["score"]) == (0.0, False, 0.5)
    env = _blackjack([10, 6], [10, 8])
    _, reward, _, _, info = env.step("stand")
    assert (reward, info["won"], info["score"]) == (-1.0, False, 0.0)


def test_blackjack_hitting_past_21_busts() -> None:
    env = _blackjack([10, 10], [10, 7])
    while True:
        _, reward, terminated, _, info = env.step("hit")
        if terminated:
            break
    assert reward == -1.0 and not info["won"] and info["player_sum"] > 21
    assert "bust" in env.game.text() and env.step("hit")[4]["action_is_valid"] is False


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [({}, 1.0), ({"natural": True}, 1.5), ({"sab": True}, 1.0)],
)
def test_blackjack_naturals_follow_gymnasium(kwargs: dict[str, bool], expected: float) -> None:
    env = _blackjack([1, 10], [10, 9], **kwargs)  # a natural against 19
    _, reward, _, _, info = env.step("stand")
    assert reward == expected and info["won"] and info["score"] == 1.0


def test_blackjack_sab_natural_beats_a_dealer_21_that_is_not_a_natural() -> None:
    # The dealer already holds 21 in three cards, so it draws nothing.
    _, reward_plain, *_ = _blackjack([1, 10], [10, 6, 5]).step("stand")
    _, reward_sab, *_ = _blackjack([1, 10], [10, 6, 5], sab=True).step("stand")
    assert (reward_plain, reward_sab) == (0.0, 1.0)


def test_the_same_seed_and_actions_give_the_same_cards() -> None:
    a, b = CardsEnv(game="blackjack"), CardsEnv(game="blackjack")
    for seed in range(5):
        assert a.reset(seed=seed)[0] == b.reset(seed=seed)[0]
        assert a.step("hit")[0] == b.step("hit")[0]
    assert a.reset(seed=1, options={"split": TRAIN})[0] == b.reset(seed=1)[0]
