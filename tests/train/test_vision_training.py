"""End to end with tiny-vl on Sokoban pictures (env.kwargs.obs_mode=image): cold start on the
expert's frames, two T2PO iterations, parameters changed (vision tower included), transcripts
with a PNG per turn, and a checkpoint that loads back as the same vision-language model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from t2po.config import config_from_dict
from t2po.inference.factory import load_hf_sampler
from t2po.train.trainer import Trainer

pytestmark = pytest.mark.slow


def vision_config(run_dir: Path, iterations: int):
    return config_from_dict(
        {
            "seed": 3,
            "run_dir": str(run_dir),
            "model": {"path": "tiny-vl"},
            "env": {
                "family": "sokoban",
                "kwargs": {"obs_mode": "image"},
                "max_turns": 6,
                "memory_window": 0,
            },
            "rollout": {"tasks_per_iter": 2, "group_size": 2, "max_new_tokens": 16},
            "tti": {"l_min": 4, "window": 2, "eps": 1e-2, "l_max": 10},
            "optim": {"lr": 1e-3, "mini_batch_size": 16, "micro_batch_size": 8},
            "train": {"iterations": iterations, "eval_tasks": 2, "cold_start": True},
            "rft": {"episodes": 8, "epochs": 2, "lr": 3e-3, "batch_size": 8},
            "log": {"loggers": ["jsonl"], "transcripts_per_iter": -1, "progress": False},
        }
    )


def test_two_iterations_on_sokoban_pictures(tmp_path: Path) -> None:
    run = tmp_path / "run"
    trainer = Trainer(vision_config(run, 2))
    assert trainer.processor is not None and trainer.sampler.processor is trainer.processor
    history = trainer.fit()
    assert len(history) == 2 and all(np.isfinite(r["actor/pg_loss"]) for r in history)
    cold = json.loads((run / "cold_start" / "cold_start.json").read_text())
    assert cold["kept"] >= 1 and cold["turns"] >= cold["kept"]  # SFT on the expert's frames
    assert cold["epoch_losses"][-1] < cold["epoch_losses"][0]
    assert (run / "cold_start" / "preprocessor_config.json").is_file()
    # RL changed the weights, the vision tower's too: the update fed the pixels again.
    start = load_file(run / "cold_start" / "model.safetensors")
    saved = run / "checkpoints" / "iter_000002" / "model"
    end = load_file(saved / "model.safetensors")
    changed = {k for k in start if not torch.equal(start[k], end[k])}
    assert any(k.startswith("visual.") for k in changed) and "lm_head.weight" in changed
    # A PNG per training turn, equal to a Sokoban frame, referenced from the transcript.
    episodes = [json.loads(x) for x in (run / "transcripts.jsonl").read_text().splitlines()]
    turns = [t for e in episodes if e["split"] == "train" for t in e["turns"]]
    assert turns and all(t["image"].endswith(".png") for t in turns)
    frame = np.asarray(Image.open(run / turns[0]["image"]))
    assert frame.shape == (96, 96, 3) and frame.dtype == np.uint8
    # The checkpoint is a whole vision-language model folder: it samples from pictures.
    sampler = load_hf_sampler(str(saved.parent))
    assert getattr(sampler, "processor", None) is not None
