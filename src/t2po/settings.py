"""From a ``Config`` to the runtime parameter objects of every layer, built once per run.

The layers below this module (sampling in ``t2po.inference``, TTI and TDS in
``t2po.exploration``, the rollout engine in ``t2po.rollout``, the API client) take small
frozen parameter objects and know nothing of the configuration; the layers above (training,
cold start, evaluation, the CLI) build them here, so every entry point samples, plays and
updates the same way. :class:`RunSettings` holds all of them for one run: build it once with
:meth:`RunSettings.from_config` and pass its parts down.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from t2po.algo.advantages import AdvantageParams
from t2po.config import ApiConfig, Config, LoraConfig, TDSConfig, TTIConfig
from t2po.envs.registry import get_family
from t2po.exploration.tds import TDSParams
from t2po.exploration.tti import TTIParams
from t2po.inference.base import Sampler, SamplingParams
from t2po.inference.openai_compat import ApiSettings
from t2po.models.lora import LoraParams
from t2po.rollout.engine import RolloutSettings, Task, derive_seed

# Seeds below this bound are training tasks; evaluation seeds start at EvalConfig.seed_offset.
_TRAIN_SEED_SPACE = 10_000_000


@dataclass(frozen=True, kw_only=True)
class UpdateParams:
    """One policy update's settings (``t2po.train.update.ppo_update``); see ``AlgoConfig``
    and ``OptimConfig`` for each field and its default (none here). Defined in this module,
    below the training layer that uses it, so it is built with the others."""

    clip_low: float
    clip_high: float
    dual_clip_c: float
    loss_agg: str
    kl_coef: float
    kl_estimator: str
    entropy_coef: float
    top_entropy_frac: float
    grad_clip: float
    ppo_epochs: int
    mini_batch_size: int
    micro_batch_size: int
    temperature: float  # of the training rollouts: log-probs are taken at it


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def tti_params(t: TTIConfig) -> TTIParams:
    """The TTI controller's settings from the ``tti`` section (on/off is the caller's)."""
    return TTIParams(
        l_min=t.l_min, window=t.window, eps=t.eps, l_max=t.l_max, forced_text=t.forced_text
    )


def tds_params(t: TDSConfig) -> TDSParams:
    """The TDS rule's settings from the ``tds`` section (on/off is the caller's)."""
    return TDSParams(eta=t.eta, max_resamples=t.max_resamples)


def sampling_params(cfg: Config, *, evaluation: bool) -> SamplingParams:
    """Training: ``rollout.*`` sampling, TTI if ``tti.enabled``. Evaluation: ``eval.*``
    sampling (T 0.6, top-p 0.95, top-k 20 by default), TTI if ``tti.enabled_in_eval``."""
    tti_on = cfg.tti.enabled_in_eval if evaluation else cfg.tti.enabled
    r = cfg.rollout
    return SamplingParams(
        temperature=cfg.eval.temperature if evaluation else r.temperature,
        top_p=cfg.eval.top_p if evaluation else r.top_p,
        top_k=cfg.eval.top_k if evaluation else r.top_k,
        max_new_tokens=r.max_new_tokens,
        tti=tti_params(cfg.tti) if tti_on else None,
        alpha=r.alpha,
        top_j=r.top_j,
    )


def rollout_settings(cfg: Config, *, evaluation: bool) -> RolloutSettings:
    """TDS only in training rollouts (method.md §4)."""
    family = get_family(cfg.env.family)
    return RolloutSettings(
        max_turns=cfg.env.max_turns,
        memory_window=cfg.env.memory_window if cfg.env.memory_window >= 0 else family.memory_window,
        invalid_penalty=cfg.env.invalid_penalty,
        tds=tds_params(cfg.tds) if cfg.tds.enabled and not evaluation else None,
        env_kwargs=dict(cfg.env.kwargs),
        image_history=cfg.env.image_history,
    )


def advantage_params(cfg: Config) -> AdvantageParams:
    a = cfg.algo
    return AdvantageParams(
        gamma=a.gamma, omega=a.omega, norm=a.norm, episode_stats=a.episode_stats, lam=a.gae_lambda
    )


def update_params(cfg: Config) -> UpdateParams:
    """PPO update settings; log-probs are taken at the training rollouts' temperature."""
    a, o = cfg.algo, cfg.optim
    return UpdateParams(
        clip_low=a.clip_low,
        clip_high=a.clip_high,
        dual_clip_c=a.dual_clip_c,
        loss_agg=a.loss_agg,
        kl_coef=a.kl_coef,
        kl_estimator=a.kl_estimator,
        entropy_coef=a.entropy_coef,
        top_entropy_frac=a.top_entropy_frac,
        grad_clip=o.grad_clip,
        ppo_epochs=o.ppo_epochs,
        mini_batch_size=o.mini_batch_size,
        micro_batch_size=o.micro_batch_size,
        temperature=cfg.rollout.temperature,
    )


def lora_params(lora: LoraConfig) -> LoraParams | None:
    """The adapter shape of ``model.lora``; None when LoRA is off (r = 0)."""
    if lora.r == 0:
        return None
    return LoraParams(
        r=lora.r,
        alpha=lora.alpha,
        dropout=lora.dropout,
        target_modules=tuple(lora.target_modules),
    )


def api_settings(api: ApiConfig) -> ApiSettings:
    """The API sampler's settings from the ``api`` section."""
    return ApiSettings(
        base_url=api.base_url,
        model=api.model,
        api_key_env=api.api_key_env,
        max_concurrency=api.max_concurrency,
        timeout=api.timeout,
        retries=api.retries,
        backoff_base=api.backoff_base,
        backoff_max=api.backoff_max,
        max_retry_after=api.max_retry_after,
        token_limit_param=api.token_limit_param,
        send_top_k=api.send_top_k,
        send_seed=api.send_seed,
        extra_body=dict(api.extra_body),
        prices=dict(api.prices),
    )


@dataclass(frozen=True)
class RunSettings:
    """Every runtime parameter object of one run, built from its ``Config`` once."""

    train_sampling: SamplingParams
    eval_sampling: SamplingParams
    train_rollout: RolloutSettings
    eval_rollout: RolloutSettings
    advantage: AdvantageParams
    update: UpdateParams
    api: ApiSettings
    lora: LoraParams | None

    @classmethod
    def from_config(cls, cfg: Config) -> RunSettings:
        return cls(
            train_sampling=sampling_params(cfg, evaluation=False),
            eval_sampling=sampling_params(cfg, evaluation=True),
            train_rollout=rollout_settings(cfg, evaluation=False),
            eval_rollout=rollout_settings(cfg, evaluation=True),
            advantage=advantage_params(cfg),
            update=update_params(cfg),
            api=api_settings(cfg.api),
            lora=lora_params(cfg.model.lora),
        )


def make_sampler(cfg: Config) -> Sampler:
    """``model.sampler``: 'hf' loads ``model.path``; 'api' connects to ``api.base_url``."""
    if cfg.model.sampler == "api":
        from t2po.inference.openai_compat import OpenAICompatSampler

        return OpenAICompatSampler(api_settings(cfg.api))
    from t2po.inference.factory import load_hf_sampler

    return load_hf_sampler(
        cfg.model.path,
        device=cfg.model.device,
        dtype=cfg.model.dtype,
        seed=cfg.seed,
        decode_backend=cfg.rollout.decode_backend,
    )


def train_tasks(cfg: Config, iteration: int) -> list[Task]:
    """This iteration's tasks: fresh seeds, or a draw without replacement from the pool."""
    n, pool = cfg.rollout.tasks_per_iter, cfg.rollout.task_pool
    if pool > 0:
        rng = random.Random(derive_seed(cfg.seed, "draw", iteration))
        picks = (
            rng.sample(range(pool), min(n, pool)) if n <= pool else rng.choices(range(pool), k=n)
        )
        seeds = [derive_seed(cfg.seed, "pool", i) % _TRAIN_SEED_SPACE for i in picks]
    else:
        seeds = [derive_seed(cfg.seed, "task", iteration, i) % _TRAIN_SEED_SPACE for i in range(n)]
    split = get_family(cfg.env.family).train_split
    return [Task(f"{cfg.env.family}-{s}", s, split) for s in seeds]


def episode_key(family: str, split: str | None, seed: int, stream: int = 0) -> str:
    """The identity of one held-out episode: its task id, and its key in an evaluation's
    results file (what resume skips). Stream 0 has no suffix; stream ``s`` > 0 ends in ``@s``."""
    key = f"{family}/{split or '-'}/{seed}"
    return f"{key}@{stream}" if stream else key


def eval_tasks(cfg: Config, n: int) -> list[Task]:
    """``n`` held-out tasks: seeds from ``eval.seed_offset``, in the held-out split if any."""
    family = get_family(cfg.env.family)
    split = cfg.eval.split or family.eval_split
    if split is not None and family.splits and split not in family.splits:
        raise ValueError(
            f"eval.split {split!r} is not a split of {family.name}; "
            f"valid: {', '.join(family.splits)}"
        )
    seeds = [cfg.eval.seed_offset + i for i in range(n)]
    return [Task(episode_key(family.name, split, s), s, split) for s in seeds]
