"""The T2PO training loop: rollout → batch → advantages → PPO update → log.

``Trainer.fit`` is the algorithm; everything it calls is small and lives elsewhere:
rollouts (with TTI in the sampler and TDS in the engine) in ``t2po.rollout``, the advantage
and loss math in ``t2po.algo``, the optimizer step in ``t2po.train.update``.

Every iteration's randomness (its tasks, its samples, its mini-batch order) is derived from
``(config.seed, iteration)``, so a run resumed from a checkpoint repeats exactly what the
uninterrupted run would have done.

Under ``torchrun`` the same loop runs on every rank: rank 0 rolls out, computes the
advantages and broadcasts the turn samples; every rank updates on its share of them (DDP, or
FSDP2 with ``train.fsdp``); rank 0 logs and checkpoints (``t2po.train.distributed``).

Rank 0 may roll out through Ray: environment actors (``rollout.env_workers``) or rollout
workers with their own model copies (``rollout.workers``), which get the weights after every
update (``t2po.rollout.workers``); the loop is the same.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from t2po.algo.advantages import dapo_keep_groups, get_advantage_estimator
from t2po.config import Config, to_dict
from t2po.envs.registry import get_family, load_plugins
from t2po.evaluation.runner import SuiteResult, run_suite
from t2po.evaluation.suite import validation_config
from t2po.inference.base import Sampler
from t2po.inference.factory import load_hf_sampler
from t2po.inference.hf import HFSampler
from t2po.inference.vision import encode_pictures
from t2po.models.loading import load_model_and_tokenizer, load_model_processor, resolve_model_path
from t2po.models.lora import AdaptersOff, apply_lora, decoding_model, is_lora
from t2po.rollout.engine import derive_seed, rollout
from t2po.rollout.ray_envs import RayEnvs
from t2po.rollout.workers import RolloutWorkers, WorkerSpec
from t2po.settings import RunSettings, seed_everything, train_tasks
from t2po.telemetry.loggers import make_loggers
from t2po.telemetry.metrics import rollout_metrics
from t2po.telemetry.redact import redact
from t2po.telemetry.transcripts import TranscriptWriter
from t2po.train import distributed
from t2po.train.batch import flatten, trainable_mask
from t2po.train.checkpoint import (
    latest_checkpoint,
    load_model_weights,
    load_run_state,
    save_checkpoint,
)
from t2po.train.coldstart import check_cold_start_base, cold_start_from_config
from t2po.train.critic import Critic, critic_update
from t2po.train.params import freeze_matching
from t2po.train.update import Sample, ppo_update
from t2po.types import TrajectoryGroup


class Trainer:
    """Owns the model, optimizer, sampler and run folder of one training run."""

    def __init__(self, cfg: Config) -> None:
        if cfg.model.sampler != "hf":
            # A remote API gives no gradients and no per-token log-probs to train on.
            raise ValueError(
                f"training needs a local model (model.sampler=hf), not {cfg.model.sampler!r}; "
                "use `t2po eval` for API models"
            )
        self.cfg = cfg
        # One process, or this rank of a `torchrun` job (its device: cuda:<LOCAL_RANK>).
        self.ranks, self.device = distributed.init_from_env(cfg.model.device)
        if self.ranks.active and cfg.train.fsdp and cfg.model.lora.r > 0:
            raise ValueError(
                "train.fsdp=true with LoRA (model.lora.r > 0) is not supported; LoRA trains "
                "few weights, so use DDP replicas (train.fsdp=false)"
            )
        self.run_dir = Path(cfg.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.ranks.is_main:
            # A record of the run (read by `t2po report` and the MLflow logger), without
            # credentials: a token inside api.base_url or extra_body is redacted.
            record = redact(to_dict(cfg))
            (self.run_dir / "config.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
        load_plugins(cfg.env.plugins)  # a library caller may not have gone through the CLI
        self.family = get_family(cfg.env.family)
        # Every runtime parameter object of the run, built from the config once.
        self.settings = RunSettings.from_config(cfg)
        seed_everything(cfg.seed)
        self.checkpoint = latest_checkpoint(self.run_dir) if cfg.train.resume else None
        self.success_before_cold_start: float | None = None  # measured if the cold start runs
        self._cold_start_once()
        model, self.tokenizer = load_model_and_tokenizer(
            self._initial_weights(), device=self.device, dtype=cfg.model.dtype
        )
        if cfg.model.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        # A vision-language model's processor: the sampler and the update read pictures
        # through it (None for a text model).
        self.processor = load_model_processor(self._initial_weights())
        self.model: torch.nn.Module = model  # the HF model, or its PEFT wrapper with LoRA
        o = cfg.optim
        trainable = freeze_matching(self.model, o.frozen)
        # PPO's value model (only for adv_estimator=gae); the critic-free methods need none.
        # Built before any LoRA adapters go in: the critic copies the plain transformer body.
        self.critic: Critic | None = None
        self._critic_data: tuple[list[list[int]], torch.Tensor, torch.Tensor] | None = None
        self.critic_optimizer: torch.optim.Optimizer | None = None
        if cfg.algo.adv_estimator == "gae":
            self.critic = Critic(self.model).to(self.device)
        if self.settings.lora is not None:
            # Only the adapters train; every base weight (optim.frozen or not) stays as loaded.
            self.model = apply_lora(model, self.settings.lora, base_path=self._base_path())
            trainable = [p for p in self.model.parameters() if p.requires_grad]
        # Whole weights go in before any wrapping or sharding, so any world size resumes.
        if self.checkpoint is not None:
            load_model_weights(self.checkpoint, self.model)
        self.ref_model = self._reference_model()
        # What the update runs through: self.model itself, DDP around it, or FSDP2 shards.
        self.policy = self._wrap()
        if distributed.is_fsdp(self.policy):
            trainable = [p for p in self.policy.parameters() if p.requires_grad]  # the shards
        self.optimizer = torch.optim.AdamW(
            trainable,
            lr=o.lr,
            weight_decay=o.weight_decay,
            betas=o.betas,
            eps=o.eps,
        )
        if self.critic is not None:
            self.critic_optimizer = torch.optim.AdamW(
                self.critic.parameters(), lr=o.critic_lr, weight_decay=o.weight_decay
            )
        warmup = max(1, o.warmup_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: min(1.0, (step + 1) / warmup)
        )
        self.start_iteration = 0
        if self.checkpoint is not None:
            load_optimizer = None
            if distributed.is_fsdp(self.policy):

                def load_optimizer(saved: dict[str, Any]) -> None:
                    distributed.load_full_optimizer_state(self.policy, self.optimizer, saved)

            load_run_state(self.checkpoint, self.optimizer, self._extra_modules(), load_optimizer)
            self.start_iteration = self.checkpoint.iteration
        # With LoRA the sampler runs the inner HF model: the same modules, adapters active.
        self.sampler = HFSampler(
            decoding_model(self.model),
            self.tokenizer,
            device=self.device,
            processor=self.processor,
            decode_backend=cfg.rollout.decode_backend,
        )
        # Bumped by every update; Ray rollout workers reload the weights only when it moved.
        self.weights_version = 0
        self.env_workers: RayEnvs | None = None
        self.rollout_workers: RolloutWorkers | None = None
        if self.ranks.is_main:  # rank 0 rolls out, so it alone drives Ray workers
            self._start_ray_workers()
        self.estimator = get_advantage_estimator(cfg.algo.adv_estimator)
        # Only rank 0 writes logs and transcripts (the other ranks' loggers are none).
        main = self.ranks.is_main
        self.loggers = make_loggers(cfg.log.loggers if main else [], self.run_dir)
        self.transcripts = TranscriptWriter(
            self.run_dir / "transcripts.jsonl",
            decode=self._decode,
            resume_from=self.start_iteration if main else None,
        )
        for logger in self.loggers.loggers:
            truncate = getattr(logger, "truncate_after", None)
            if truncate is not None:
                truncate(self.start_iteration)

    # ------------------------------------------------------------------ setup helpers

    def _decode(self, token_ids: list[int]) -> str:
        return str(self.tokenizer.decode(token_ids, skip_special_tokens=False))

    def _initial_weights(self) -> str:
        """Newest checkpoint > init_from > cold start (``_cold_start_once``) > model.path.

        With a checkpoint, its weights are loaded on top of the same architecture later;
        we still start from the folder the run started from, so the tokenizer matches.
        """
        cfg = self.cfg
        if cfg.train.init_from:
            return cfg.train.init_from
        if cfg.train.cold_start:
            return str(self.run_dir / "cold_start")
        return cfg.model.path

    def _cold_start_once(self) -> None:
        """Run the cold start if asked and not done yet: on rank 0, the other ranks wait."""
        cfg = self.cfg
        if cfg.train.init_from or not cfg.train.cold_start:
            return
        out = self.run_dir / "cold_start"
        if (out / "config.json").is_file():
            check_cold_start_base(out, resolve_model_path(cfg.model.path))
        elif self.ranks.is_main:
            self._run_cold_start(out)
        distributed.barrier(self.ranks)

    def _run_cold_start(self, out: Path) -> None:
        cfg = self.cfg
        if cfg.train.eval_tasks > 0:
            # Where the whole run starts: the untrained model on the validation tasks, so the
            # table shows what the cold start adds as well as what RL adds after it.
            untrained = load_hf_sampler(
                cfg.model.path, device=self.device, dtype=cfg.model.dtype, seed=cfg.seed
            )
            untrained_eval = self._play_validation(
                untrained, self.run_dir / "val" / "before_cold_start", cfg.model.path
            )
            before = float(untrained_eval.summary["total"]["success"])
            self.success_before_cold_start = before
            print(
                f"before the cold start: held-out success {before:.3f} "
                f"({cfg.train.eval_tasks} tasks, model {cfg.model.path})"
            )
        result = cold_start_from_config(cfg, out)
        kept_epoch = (
            f", kept epoch {result.best_epoch} (held-out loss {min(result.val_losses):.3f})"
            if result.val_losses
            else ""
        )
        print(
            f"cold start: teacher success {result.teacher_success:.2f}, kept {result.kept}/"
            f"{result.episodes} episodes ({result.turns} turns), SFT loss "
            f"{result.epoch_losses[0]:.3f} -> {result.epoch_losses[-1]:.3f}{kept_epoch} "
            f"in {result.seconds:.0f}s"
        )

    def _start_ray_workers(self) -> None:
        """Ray actors for ``rollout.workers`` (they own their envs, ``rollout.env_workers``
        actors each when asked) or else for ``rollout.env_workers``; none when both are 0."""
        cfg = self.cfg
        r = cfg.rollout
        if r.workers > 0:
            spec = WorkerSpec(
                model_path=str(resolve_model_path(self._initial_weights())),
                device=cfg.model.device,
                dtype=cfg.model.dtype,
                seed=cfg.seed,
                plugins=tuple(cfg.env.plugins),
                lora=self.settings.lora,
                base_path=str(self._base_path()),
                env_workers=r.env_workers,
                decode_backend=r.decode_backend,  # sample as self.sampler does
                timeout_s=r.worker_timeout_s,
            )
            self.rollout_workers = RolloutWorkers(r.workers, spec, timeout_s=r.worker_timeout_s)
        elif r.env_workers > 0:
            self.env_workers = RayEnvs(
                self.family.env_id,
                self.settings.train_rollout.env_kwargs,
                r.env_workers,
                plugins=cfg.env.plugins,
                timeout_s=r.worker_timeout_s,
            )

    def _stop_ray_workers(self) -> None:
        if self.rollout_workers is not None:
            self.rollout_workers.shutdown()
        if self.env_workers is not None:
            self.env_workers.shutdown()

    def _extra_modules(self) -> dict[str, Any]:
        modules: dict[str, Any] = {"scheduler": self.scheduler}
        if self.critic is not None and self.critic_optimizer is not None:
            modules.update({"critic": self.critic, "critic_optimizer": self.critic_optimizer})
        return modules

    def _base_path(self) -> Path:
        """The folder the policy's base weights were loaded from (named in LoRA adapters)."""
        return resolve_model_path(self._initial_weights())

    def _reference_model(self) -> torch.nn.Module | None:
        """The starting policy, frozen, only when the KL term is on.

        With LoRA it is the policy itself with its adapters off (the base never trains, so
        that is where the run started, also after a resume); otherwise a frozen copy.
        """
        if self.cfg.algo.kl_coef <= 0:
            return None
        if is_lora(self.model):
            return AdaptersOff(self.model)
        ref = copy.deepcopy(self.model)
        if self.checkpoint is not None:
            # The reference is the policy the run *started* from, not the resumed weights.
            ref, _ = load_model_and_tokenizer(
                self._initial_weights(), device=self.device, dtype=self.cfg.model.dtype
            )
        ref.eval()
        for p in ref.parameters():
            p.requires_grad_(False)
        return ref

    def _wrap(self) -> torch.nn.Module:
        """The module the update runs through (``self.model`` in one process).

        DDP replicas keep ``self.model`` as the module inside. FSDP2 shards the model in place,
        so rank 0 keeps a whole copy in ``self.model`` to roll out, validate and checkpoint
        with, refreshed after every update (as a separate inference engine holds its own
        weights); the KL reference is sharded too.
        """
        if not self.ranks.active:
            return self.model
        if not self.cfg.train.fsdp:
            return distributed.wrap(self.model, self.ranks, fsdp=False)
        whole = copy.deepcopy(self.model) if self.ranks.is_main else None
        policy = distributed.wrap(self.model, self.ranks, fsdp=True)
        if self.ref_model is not None:
            distributed.shard(self.ref_model)
        self.model = whole if whole is not None else policy
        return policy

    # ------------------------------------------------------------------ the algorithm

    def fit(self) -> list[dict[str, float]]:
        """Run the remaining iterations; returns each iteration's metrics."""
        try:
            return self._iterate()
        finally:
            # Also on a crash: trackers flush and mark the run ended; checkpoints are on disk.
            self.loggers.close()
            self._stop_ray_workers()

    def _iterate(self) -> list[dict[str, float]]:
        cfg = self.cfg
        main = self.ranks.is_main
        history = []
        if self.start_iteration == 0 and cfg.train.eval_tasks > 0 and main:
            # Step 0: where RL starts from (the cold-start level), on the same held-out tasks.
            step0 = self.validate(0)
            if self.success_before_cold_start is not None:
                step0["val/success_before_cold_start"] = self.success_before_cold_start
            self.loggers.log(0, step0)
        for iteration in range(self.start_iteration, cfg.train.iterations):
            seed_everything(derive_seed(cfg.seed, "iteration", iteration))
            t0 = time.perf_counter()

            groups = self.collect(iteration) if main else []
            t1 = time.perf_counter()

            samples, adv_metrics = self.advantages(groups) if main else ([], {})
            # Computed once, on the whole batch: every rank updates on rank 0's advantages.
            samples, adv_metrics = distributed.broadcast((samples, adv_metrics), self.ranks)
            actor_metrics = self.update(samples, iteration)
            actor_metrics.update(self.update_critic(iteration))
            t2 = time.perf_counter()

            metrics = {**adv_metrics, **actor_metrics}
            step = iteration + 1
            if main:
                metrics = {**rollout_metrics(groups, self.family.name), **metrics}
                if self._due(step, cfg.train.eval_every) or step == cfg.train.iterations:
                    metrics.update(self.validate(step))
                metrics.update(
                    {
                        "timing/rollout_s": t1 - t0,
                        "timing/update_s": t2 - t1,
                        "timing/iter_s": time.perf_counter() - t0,
                    }
                )
                self.log(step, metrics, groups)
            if self._due(step, cfg.train.checkpoint_every) or step == cfg.train.iterations:
                self.save(step)
            history.append(metrics)
        return history

    def save(self, step: int) -> None:
        """A checkpoint after ``step`` iterations, written by rank 0, in one-process form."""
        optimizer: Any = self.optimizer
        if distributed.is_fsdp(self.policy):  # gathered from every rank's shard
            state = distributed.full_optimizer_state(self.policy, self.optimizer)
            optimizer = distributed.SavedOptimizer(state)
        if self.ranks.is_main:
            save_checkpoint(
                self.run_dir,
                step,
                self.model,
                self.tokenizer,
                optimizer,
                keep=self.cfg.train.keep_checkpoints,
                modules=self._extra_modules(),
                processor_from=self._base_path() if self.processor is not None else None,
            )

    def collect(self, iteration: int) -> list[TrajectoryGroup]:
        """Training rollouts: G episodes per task, TTI in the sampler, TDS in the engine."""
        cfg = self.cfg
        self.model.eval()
        tasks, seed = train_tasks(cfg, iteration), derive_seed(cfg.seed, "rollout", iteration)
        sampling, settings = self.settings.train_sampling, self.settings.train_rollout
        if self.rollout_workers is not None:
            # The weights of the last update, sent once through Ray's object store.
            self.rollout_workers.sync(self.model, self.weights_version)
            return self.rollout_workers.rollout(
                self.family.name, tasks, cfg.rollout.group_size, sampling, settings, seed
            )
        return rollout(
            self.sampler,
            self.family,
            tasks,
            cfg.rollout.group_size,
            sampling,
            settings,
            seed=seed,
            envs=self.env_workers,
        )

    def advantages(self, groups: list[TrajectoryGroup]) -> tuple[list[Sample], dict[str, float]]:
        """Per-turn advantages, attached to each turn's tokens."""
        a = self.cfg.algo
        flat = flatten(groups, a.step_grouping, a.similarity_threshold)
        if not flat.turns:
            return [], {}
        batch = flat.batch
        if self.critic is not None:
            prompts = [t.prompt_token_ids for t in flat.turns]
            values_N = self.critic.values(
                prompts, self.tokenizer.pad_token_id, self.cfg.optim.micro_batch_size
            )
            batch = dataclasses.replace(batch, values_N=values_N)
        result = self.estimator(batch, self.settings.advantage)
        if self.critic is not None:
            self._critic_data = (prompts, result.returns_N, values_N)
        keep_N = torch.ones(len(flat.turns), dtype=torch.bool)
        metrics: dict[str, float] = {}
        if a.dynamic_sampling:
            returns_E = torch.tensor([t.episode_return for t in flat.trajectories])
            keep_E = dapo_keep_groups(returns_E, flat.batch.group_E, len(groups))
            keep_N = keep_E[flat.batch.episode_N]
            metrics["batch/kept_groups"] = float(
                sum(bool(keep_E[flat.batch.group_E == g].any()) for g in range(len(groups)))
            ) / max(1, len(groups))
        samples = [
            Sample(
                prompt_ids=turn.prompt_token_ids,
                response_ids=turn.response_token_ids,
                trainable=trainable_mask(turn, self.cfg.tti.train_on_forced),
                advantage=float(adv),
                # The pictures the sampler fed with this prompt, through the same processor.
                vision=(
                    encode_pictures(self.processor, turn.prompt_images)
                    if turn.prompt_images and self.processor is not None
                    else None
                ),
            )
            for turn, adv, keep in zip(flat.turns, result.advantages_N, keep_N, strict=True)
            if keep and turn.response_token_ids
        ]
        adv = result.advantages_N
        metrics.update(
            {
                "batch/turns": float(len(samples)),
                "batch/adv_mean": float(adv.mean()),
                "batch/adv_abs_mean": float(adv.abs().mean()),
                "batch/return_mean": float(result.returns_N.mean()),
            }
        )
        return samples, metrics

    def update(self, samples: list[Sample], iteration: int) -> dict[str, float]:
        cfg = self.cfg
        self.policy.train()
        generator = torch.Generator().manual_seed(derive_seed(cfg.seed, "update", iteration))
        stats = ppo_update(
            self.policy,
            self.optimizer,
            samples,
            self.settings.update,
            pad_id=self.tokenizer.pad_token_id,
            generator=generator,
            ref_model=self.ref_model,
            scheduler=self.scheduler,
            ranks=self.ranks,
        )
        self.policy.eval()
        self.weights_version += 1
        if distributed.is_fsdp(self.policy):
            # Rank 0's whole copy (rollouts, validation, checkpoints) takes the new weights.
            whole = distributed.full_model_state(self.policy)
            if self.ranks.is_main:
                self.model.load_state_dict(whole)
        return stats

    def update_critic(self, iteration: int) -> dict[str, float]:
        """Regress the critic toward this iteration's returns (PPO baseline only)."""
        if self.critic is None or self.critic_optimizer is None or self._critic_data is None:
            return {}
        prompts, returns_N, values_N = self._critic_data
        self._critic_data = None
        o = self.cfg.optim
        return critic_update(
            self.critic,
            self.critic_optimizer,
            prompts,
            returns_N,
            values_N,
            pad_id=self.tokenizer.pad_token_id,
            mini_batch_size=o.mini_batch_size,
            micro_batch_size=o.micro_batch_size,
            clip=self.cfg.algo.value_clip,
            grad_clip=o.grad_clip,
            generator=torch.Generator().manual_seed(
                derive_seed(self.cfg.seed, "critic", iteration)
            ),
        )

    def _play_validation(self, sampler: Sampler, out_dir: Path, model: str) -> SuiteResult:
        """The held-out tasks played as ``t2po eval`` plays them (same seeds, same batching),
        recorded in ``out_dir`` so ``t2po compare`` can pair any two of them."""
        return run_suite(
            validation_config(self.cfg, self.cfg.train.eval_tasks),
            sampler,
            out_dir,
            restart=True,  # a restarted run's old folder holds other weights' episodes
            log=lambda _: None,
            model=model,
        )

    def validate(self, step: int) -> dict[str, float]:
        """Held-out tasks, one episode each, evaluation sampling, no TDS (``run_dir/val/``)."""
        self.model.eval()
        result = self._play_validation(
            self.sampler, self.run_dir / "val" / f"step_{step}", f"{self.run_dir} step {step}"
        )
        groups = [TrajectoryGroup(t.task_id, t.seed, [t]) for t in result.trajectories]
        self.transcripts.write(step, groups, split="val", max_episodes=4)
        metrics = rollout_metrics(groups, self.family.name)
        # rollout/success -> val/success; family metrics keep their path: val/env/shop/score.
        return {
            f"val/{k.removeprefix('rollout/')}": v
            for k, v in metrics.items()
            if k.startswith(("rollout/", "env/"))
        }

    def log(self, step: int, metrics: dict[str, Any], groups: list[TrajectoryGroup]) -> None:
        self.loggers.log(step, metrics)
        n = self.cfg.log.transcripts_per_iter
        if n != 0:
            episodes = self.transcripts.records(step, groups, "train", None if n < 0 else n)
            self.transcripts.write_records(episodes)
            self.loggers.log_episodes(step, episodes)  # e.g. MLflow traces of the same episodes

    @staticmethod
    def _due(step: int, every: int) -> bool:
        return every > 0 and step % every == 0


def train(cfg: Config) -> list[dict[str, float]]:
    """Build a trainer for ``cfg`` and run it to the end (resuming when possible)."""
    trainer = Trainer(cfg)
    history = trainer.fit()
    distributed.close(trainer.ranks)
    return history
