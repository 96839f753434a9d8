"""Two training iterations of the tiny model on household tasks (native engine)."""

from __future__ import annotations

import json
import math

import pytest

from t2po.config import config_from_dict
from t2po.train.trainer import Trainer

pytestmark = pytest.mark.slow


def test_two_iterations_on_household(tmp_path) -> None:
    run = tmp_path / "run"
    cfg = config_from_dict(
        {
            "seed": 3,
            "run_dir": str(run),
            "model": {"path": "tiny"},
            "env": {"family": "household", "max_turns": 3, "kwargs": {"max_steps": 20}},
            "rollout": {"tasks_per_iter": 2, "group_size": 2, "max_new_tokens": 16},
            "tti": {"l_min": 4, "window": 2, "eps": 1e-2, "l_max": 12},
            "optim": {"lr": 1e-3, "mini_batch_size": 8, "micro_batch_size": 4},
            "train": {"iterations": 2, "eval_every": 0, "eval_tasks": 2},
            "log": {"loggers": ["jsonl"], "transcripts_per_iter": -1, "progress": False},
        }
    )
    history = Trainer(cfg).fit()
    assert len(history) == 2
    for row in history:
        assert math.isfinite(row["actor/pg_loss"])
        assert 0.0 <= row["rollout/success"] <= 1.0
        assert any(key.startswith("env/household/") and key.endswith("/success") for key in row)
    episodes = [json.loads(x) for x in (run / "transcripts.jsonl").read_text().splitlines()]
    train = [e for e in episodes if e["split"] == "train"]
    assert len(train) == 2 * 2 * 2
    prompt = train[0]["turns"][0]["prompt"]
    assert "Admissible actions: go to " in prompt and "Task: " in prompt
