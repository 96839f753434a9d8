"""``env/<family>/score``: the mean task score, only for families that report one."""

from __future__ import annotations

import pytest

from t2po.telemetry.metrics import rollout_metrics, task_score
from t2po.types import Trajectory, TrajectoryGroup


def group(*infos: dict) -> TrajectoryGroup:
    return TrajectoryGroup("t", 0, [Trajectory("t", 0, info=dict(i)) for i in infos])


def test_mean_score_counts_episodes_without_a_score_as_zero() -> None:
    groups = [group({"score": 1.0, "task_type": "food"}, {"score": 0.5}), group({"error": "x"})]
    metrics = rollout_metrics(groups, family="shop")
    assert metrics["env/shop/score"] == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    assert metrics["env/shop/food/success"] == 0.0


def test_no_score_key_without_scores_or_family() -> None:
    assert task_score([Trajectory("t", 0, info={"won": True})], "sokoban") == {}
    assert "env/shop/score" not in rollout_metrics([group({"score": 0.7})])
