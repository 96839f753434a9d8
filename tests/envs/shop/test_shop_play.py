"""``t2po play shop``: the terminal game shows the task, the page's actions and errors."""

from __future__ import annotations

from t2po.envs.play import play


def test_play_shop_following_hints_until_the_purchase():
    lines: list[str] = []
    queue = ["hint", "click[not on this page]"]

    def input_fn(prompt: str) -> str:
        return queue.pop(0) if queue else "hint"

    def print_fn(text: str) -> None:
        lines.append(text)
        if text.startswith("hint: "):
            queue.insert(0, text.rsplit(" -> ", 1)[1])  # do what the hint says, next

    total = play("shop", seed=3, input_fn=input_fn, print_fn=print_fn, num_products=600)
    text = "\n".join(lines)
    assert "Task: " in text and "Actions: search[<your query>]" in text
    assert "invalid action: 'not on this page' is not clickable on this page" in text
    assert "Actions: click[back to search]" in text
    assert "You won!" in text and total >= 11.0  # 10 for the win + the score 1.0
