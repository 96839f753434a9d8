"""Two iterations of cold start + GiGPO with the tiny model on the shop, end to end."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from t2po.config import config_from_dict
from t2po.train.trainer import Trainer

pytestmark = pytest.mark.slow


def test_two_iterations_on_the_shop(tmp_path):
    run = tmp_path / "shop"
    cfg = config_from_dict(
        {
            "seed": 3,
            "run_dir": str(run),
            "model": {"path": "tiny"},
            "env": {"family": "shop", "max_turns": 5, "kwargs": {"num_products": 600}},
            "rollout": {"tasks_per_iter": 2, "group_size": 2, "max_new_tokens": 24},
            "tti": {"l_min": 4, "window": 2, "eps": 1e-2, "l_max": 12},
            "optim": {"lr": 1e-3, "mini_batch_size": 8, "micro_batch_size": 4},
            "train": {"iterations": 2, "eval_every": 0, "eval_tasks": 2, "cold_start": True},
            "rft": {"episodes": 6, "epochs": 1, "lr": 1e-3, "batch_size": 8},
            "log": {"loggers": ["jsonl"], "transcripts_per_iter": -1, "progress": False},
        }
    )
    history = Trainer(cfg).fit()
    assert len(history) == 2
    cold = json.loads((run / "cold_start" / "cold_start.json").read_text())
    assert cold["teacher_success"] == 1.0  # the expert wins every cold-start task
    for row in history:
        assert math.isfinite(row["actor/pg_loss"])
        assert 0.0 <= row["env/shop/score"] <= 1.0 and 0.0 <= row["rollout/success"] <= 1.0
    start = load_file(run / "cold_start" / "model.safetensors")
    end = load_file(run / "checkpoints" / "iter_000002" / "model" / "model.safetensors")
    assert any(not torch.equal(start[k], end[k]) for k in start)
    episodes = [json.loads(x) for x in (run / "transcripts.jsonl").read_text().splitlines()]
    train_eps = [e for e in episodes if e["split"] == "train"]
    assert len(train_eps) == 2 * 2 * 2
    prompt = train_eps[0]["turns"][0]["prompt"]
    assert "Task: " in prompt and "Admissible actions: search[<your query>]" in prompt
