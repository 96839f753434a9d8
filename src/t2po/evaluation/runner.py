"""``t2po eval``: play a suite with any sampler, recording each chunk as it finishes.

Design: episodes run in chunks of ``eval.batch_size`` through the batched rollout engine
(all live episodes of a chunk advance one turn per sampler call, so an API sampler keeps
``api.max_concurrency`` requests in flight). The engine returns when the whole chunk is
done, so results are written per chunk: its episodes (one JSONL line each, flushed and
fsynced) and then its usage. A failure (an endpoint that stays down, Ctrl-C) loses at most
the chunk in progress; everything written before stays, and rerunning the same command
plays only the episodes that are missing (:mod:`t2po.evaluation.suite`).

Evaluation sampling is the paper's (T 0.6, top-p 0.95, top-k 20; TDS off). For remote
models TTI is switched off too (no per-token distributions), and the summary says so.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from t2po.config import Config
from t2po.envs.registry import get_family, load_plugins
from t2po.evaluation.store import ResultStore
from t2po.evaluation.suite import (
    EvalCell,
    EvalChunk,
    episode_key,
    family_config,
    plan_chunks,
    plan_suite,
)
from t2po.evaluation.summary import summarise, write_summary
from t2po.inference.base import Sampler, SamplingParams
from t2po.inference.factory import provides_token_signals
from t2po.rollout.engine import rollout
from t2po.telemetry.metrics import as_score
from t2po.telemetry.redact import redact_text
from t2po.telemetry.transcripts import episode_record, save_turn_images
from t2po.types import Trajectory


class EvalAborted(RuntimeError):
    """The suite stopped early; what finished is on disk and a rerun resumes."""


@runtime_checkable
class MeteredSampler(Protocol):
    """A sampler that counts its own requests, tokens and cost (the API sampler)."""

    def usage(self) -> Any: ...


@dataclass(frozen=True)
class SuiteResult:
    out_dir: Path
    played: int  # episodes played by this call
    resumed: int  # episodes found finished and skipped
    summary: dict[str, Any]
    trajectories: list[Trajectory]  # the episodes played by this call, in plan order


def model_label(cfg: Config) -> str:
    """The model as printed and recorded; a token inside the endpoint's URL is redacted."""
    if cfg.model.sampler == "api":
        return redact_text(f"{cfg.api.model} @ {cfg.api.base_url}")
    return cfg.model.path


def eval_sampling(cfg: Config, token_signals: bool) -> SamplingParams:
    from t2po.settings import sampling_params

    params = sampling_params(cfg, evaluation=True)
    return params if token_signals else dataclasses.replace(params, tti=None)


def fingerprint(cfg: Config, token_signals: bool, model: str | None = None) -> dict[str, Any]:
    """Settings that change results: a rerun with other values must not resume these."""
    params = eval_sampling(cfg, token_signals)
    if model is None:
        # The endpoint's URL is left out: the same model behind a restarted server resumes.
        model = cfg.api.model if cfg.model.sampler == "api" else cfg.model.path
    return {
        "model": model,
        "sampler": cfg.model.sampler,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": params.top_k,
        "max_new_tokens": params.max_new_tokens,
        "tti": params.tti is not None,
        "max_turns": cfg.env.max_turns,
        "memory_window": cfg.env.memory_window,
        "invalid_penalty": cfg.env.invalid_penalty,
        "env_family": cfg.env.family,
        "env_kwargs": dict(cfg.env.kwargs),
        "seed": cfg.seed,
        "seed_offset": cfg.eval.seed_offset,
    }


def episode_row(
    trajectory: Trajectory,
    cell: EvalCell,
    token_signals: bool,
    image_root: Path | None = None,
) -> dict[str, Any]:
    """One ``episodes.jsonl`` line: the result columns plus the transcript of every turn.

    Image turns' pictures are written as PNGs under ``image_root/images/`` (the results
    folder) and referenced by relative path, never inlined.
    """
    key = episode_key(cell.family, cell.split, trajectory.seed, cell.stream)
    paths = None
    if image_root is not None and any(t.image is not None for t in trajectory.turns):
        paths = save_turn_images(trajectory, image_root, key)
    record = episode_record(
        trajectory, 0, cell.split or "-", include_prompt=False, image_paths=paths
    )
    record.update(
        key=key,
        family=cell.family,
        split=cell.split,
        stream=cell.stream,
        task_type=trajectory.info.get("task_type"),
        score=as_score(trajectory.info.get("score")),
        invalid_turns=sum(1 for t in trajectory.turns if not t.action_valid),
        # Response tokens are counted from token ids; remote models give none (None).
        tokens=sum(len(t.response_token_ids) for t in trajectory.turns) if token_signals else None,
    )
    return record


def _local_usage(trajectories: Sequence[Trajectory]) -> dict[str, Any]:
    turns = [t for traj in trajectories for t in traj.turns]
    return {
        "requests": len(turns),
        "retries": 0,
        "prompt_tokens": sum(len(t.prompt_token_ids) for t in turns),
        "completion_tokens": sum(len(t.response_token_ids) for t in turns),
        "cost_usd": None,  # a local model has no price
    }


def _api_usage(delta: Any) -> dict[str, Any]:
    return {
        "requests": delta.requests,
        "retries": delta.retries,
        "prompt_tokens": delta.prompt_tokens,
        "completion_tokens": delta.completion_tokens,
        "cost_usd": delta.cost_usd,
    }


def _usage_row(chunk: EvalChunk, usage: dict[str, Any], episodes: int, seconds: float) -> dict:
    return {
        "family": chunk.cell.family,
        "split": chunk.cell.split,
        "keys": [t.task_id for t in chunk.tasks],
        "episodes": episodes,  # 0: the chunk was lost to an error
        "seconds": round(seconds, 3),
        **usage,
    }


def run_suite(
    cfg: Config,
    sampler: Sampler,
    out_dir: str | Path,
    *,
    restart: bool = False,
    log: Callable[[str], None] = print,
    model: str | None = None,
) -> SuiteResult:
    """Play every missing episode of the suite, writing results as chunks finish.

    The one way held-out tasks are played: ``t2po eval``, validation during training, the
    measure before the cold start and the studies all call this (seed rule:
    :mod:`t2po.evaluation.suite`). ``restart`` discards what ``out_dir`` holds first.
    ``model`` names the weights in the results when ``cfg.model`` does not (validation
    plays the policy being trained).
    """
    from t2po.settings import rollout_settings  # torch-heavy; only when a suite runs

    load_plugins(cfg.env.plugins)  # a library caller may not have gone through the CLI
    token_signals = provides_token_signals(sampler)
    cells = plan_suite(cfg)
    store = ResultStore(out_dir)
    store.open(fingerprint(cfg, token_signals, model), restart=restart)
    planned = {t.task_id for c in cells for t in c.tasks}
    finished = store.finished_keys() & planned
    chunks = plan_chunks(cfg, cells, finished)
    todo = sum(len(c.tasks) for c in chunks)
    if finished:
        log(f"resuming: {len(finished)} of {len(planned)} episodes already in {store.out_dir}")
    meter = sampler if isinstance(sampler, MeteredSampler) else None
    # Each family's sampling and rollout settings, built once for the whole suite.
    played_as = {}
    for name in dict.fromkeys(c.family for c in cells):
        fcfg = family_config(cfg, name)
        played_as[name] = (
            eval_sampling(fcfg, token_signals),
            rollout_settings(fcfg, evaluation=True),
        )
    done = 0
    played: list[Trajectory] = []
    for chunk in chunks:
        family = get_family(chunk.cell.family)
        sampling, settings = played_as[chunk.cell.family]
        before = meter.usage() if meter is not None else None
        start = time.perf_counter()
        try:
            groups = rollout(
                sampler,
                family,
                list(chunk.tasks),
                1,
                sampling,
                settings,
                seed=chunk.seed,
                task_indices=chunk.positions,
            )
        except Exception as exc:
            if meter is not None:  # what the lost chunk spent is still spent
                lost = _api_usage(meter.usage() - before)
                store.add_usage(_usage_row(chunk, lost, 0, time.perf_counter() - start))
            kept = len(store.finished_keys() & planned)
            raise EvalAborted(
                f"evaluation stopped in {chunk.cell.label}: {exc}\n"
                f"{kept} finished episode(s) are kept in {store.episodes_path}; "
                "rerun the same command to resume"
            ) from exc
        trajectories = [t for g in groups for t in g.trajectories]
        store.add_episodes(
            [episode_row(t, chunk.cell, token_signals, store.out_dir) for t in trajectories]
        )
        played.extend(trajectories)
        usage = (
            _api_usage(meter.usage() - before) if meter is not None else _local_usage(trajectories)
        )
        store.add_usage(_usage_row(chunk, usage, len(trajectories), time.perf_counter() - start))
        done += len(trajectories)
        wins = sum(t.won for t in trajectories)
        log(
            f"{chunk.cell.label}: +{len(trajectories)} episodes ({wins} won), "
            f"{done}/{todo} played this run"
        )
    planned_eps = [e for e in store.episodes() if e["key"] in planned]
    planned_usage = [u for u in store.usage() if planned.intersection(u.get("keys", []))]
    meta = {
        "model": model or model_label(cfg),
        "sampler": cfg.model.sampler,
        "token_signals": token_signals,
        "tti_in_eval": bool(token_signals and eval_sampling(cfg, token_signals).tti),
        "tds_in_eval": False,
        "streams": cfg.eval.streams,
        "episodes_planned": len(planned),
        "episodes_done": len(planned_eps),
    }
    summary = summarise(planned_eps, planned_usage, meta)
    write_summary(summary, store.out_dir)
    return SuiteResult(store.out_dir, done, len(finished), summary, played)
