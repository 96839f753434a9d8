"""``Trainer`` with Ray rollout workers and env actors trains as the in-process run does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from t2po.config import ConfigError, config_from_dict
from t2po.models.loading import load_model_and_tokenizer
from t2po.train.trainer import Trainer

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def config(run_dir: Path, **rollout: int) -> dict[str, Any]:
    return {
        "seed": 7,
        "run_dir": str(run_dir),
        "model": {"path": "tiny"},
        "env": {"family": "sokoban", "max_turns": 2},
        "rollout": {"tasks_per_iter": 3, "group_size": 2, "max_new_tokens": 16, **rollout},
        "tti": {"l_min": 4, "window": 2, "eps": 1e-2, "l_max": 12},
        "optim": {"lr": 1e-3, "mini_batch_size": 8, "micro_batch_size": 4},
        "train": {"iterations": 2, "eval_every": 0, "eval_tasks": 0},
        "log": {"loggers": ["jsonl"], "transcripts_per_iter": -1, "progress": False},
    }


def assert_close_records(a: Any, b: Any, where: str = "") -> None:
    """Equal JSON records: texts, token ids and actions exactly, floats to rounding.

    Batches of other shapes (a worker's slice, not the whole batch) round differently, and
    Φ amplifies that: it is a geometric mean of min-max normalised M_t + 1e-6, so an M_t
    near 0 moves Φ by ~1e-4 relative (measured 3.6e-4); hence rel 2e-3 on floats."""
    assert type(a) is type(b), where
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_close_records(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close_records(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=2e-3, abs=1e-6), where
    else:
        assert a == b, where


def assert_same_transcripts(run: Path, reference: Path) -> None:
    """Every training episode the same (the sampled tokens, actions, rewards, signals)."""
    lines = [
        [json.loads(line) for line in (d / "transcripts.jsonl").read_text().splitlines()]
        for d in (run, reference)
    ]
    assert len(lines[0]) == len(lines[1]) > 0
    assert_close_records(lines[0], lines[1])


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(run_dir / "checkpoints" / "iter_000002" / "model" / "model.safetensors")


def test_ray_rollout_workers_and_env_actors_train_as_one_process(tmp_path: Path) -> None:
    Trainer(config_from_dict(config(tmp_path / "here"))).fit()
    # 2 rollout workers, each stepping its environments in 1 env actor of its own.
    ray_config = config(tmp_path / "ray", workers=2, env_workers=1)
    ray_config["rollout"]["worker_timeout_s"] = 600.0  # the workers' env actors get it too
    ray_run = Trainer(config_from_dict(ray_config))
    assert ray_run.rollout_workers is not None and ray_run.env_workers is None
    assert ray_run.rollout_workers.timeout_s == ray_run.rollout_workers._spec.timeout_s == 600.0
    ray_run.fit()
    # Weights went out before each iteration's rollout (versions 0 and 1), once each.
    assert ray_run.rollout_workers.pushes == 2
    assert ray_run.rollout_workers.actors == []  # shut down at the end of fit
    # Same rollouts, so the same updates: the weights agree to float rounding.
    a, b = weights(tmp_path / "here"), weights(tmp_path / "ray")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6, msg=name)
    initial = load_model_and_tokenizer("tiny")[0].state_dict()
    assert any(not torch.equal(a[name], initial[name]) for name in a)  # it did train
    assert_same_transcripts(tmp_path / "ray", tmp_path / "here")


def test_env_actors_alone_train_as_one_process(tmp_path: Path) -> None:
    here = config(tmp_path / "here")
    here["train"]["iterations"] = 1
    Trainer(config_from_dict(here)).fit()
    actors = config(tmp_path / "actors", env_workers=2)
    actors["train"]["iterations"] = 1
    actors["rollout"]["worker_timeout_s"] = 300.0
    trainer = Trainer(config_from_dict(actors))
    assert trainer.env_workers is not None and trainer.rollout_workers is None
    assert trainer.env_workers.timeout_s == 300.0
    trainer.fit()
    assert trainer.env_workers.actors == []
    assert_same_transcripts(tmp_path / "actors", tmp_path / "here")


@pytest.mark.parametrize("timeout", [0, -5.0])
def test_a_worker_timeout_must_be_positive(timeout: float) -> None:
    with pytest.raises(ConfigError, match="rollout.worker_timeout_s must be > 0 seconds"):
        config_from_dict({"rollout": {"worker_timeout_s": timeout}})


@pytest.mark.parametrize("key", ["workers", "env_workers"])
def test_negative_worker_counts_are_config_errors(key: str) -> None:
    with pytest.raises(ConfigError, match=f"rollout.{key} must be >= 0"):
        config_from_dict({"rollout": {key: -1}})
