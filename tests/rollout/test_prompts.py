from t2po.rollout.prompts import HistoryEntry, build_messages


def test_memory_window_keeps_prompt_flat():
    history = [HistoryEntry(f"obs{i}", f"act{i}") for i in range(50)]
    lengths = []
    for k in (3, 10, 49):
        msgs = build_messages("INSTR", f"obs{k}", history[:k], memory_window=2, turn_index=k)
        user = msgs[-1]["content"]
        assert msgs[0] == {"role": "system", "content": "INSTR"}
        assert f"obs{k - 1}" in user and f"obs{k - 2}" in user and f"obs{k - 3}" not in user
        assert f"Step {k + 1} observation (now)" in user
        lengths.append(len(user))
    # Only digits of step numbers and observation names differ, not the number of turns shown.
    assert max(lengths) - min(lengths) <= 12


def test_task_and_admissible_shown():
    msgs = build_messages(
        "I", "o", [], memory_window=2, turn_index=0, task="put a mug", admissible_actions=["a", "b"]
    )
    user = msgs[-1]["content"]
    assert user.startswith("Task: put a mug") and "Admissible actions: a, b" in user


def test_zero_window():
    msgs = build_messages("I", "now", [HistoryEntry("old", "x")], memory_window=0, turn_index=1)
    assert "old" not in msgs[-1]["content"]
