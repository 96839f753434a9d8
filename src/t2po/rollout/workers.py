"""Rollout workers on Ray (``rollout.workers=N``, extra ``[ray]``): data-parallel sampling.

Each worker is a Ray actor with its own copy of the policy and our ``HFSampler`` (a GPU each
when the run is on CUDA, else ``torch.set_num_threads(threads)`` CPU threads). A batch's tasks
are split into ``N`` contiguous slices; every worker plays its slice with the ordinary rollout
engine (``t2po.rollout.engine.rollout``, given the slice's ``task_offset``), and the groups
come back in task order. Because every episode samples from streams keyed by the rollout seed
and its index in the whole batch, 1 worker, 2 workers and the in-process engine play the same
trajectories (up to float rounding of differently shaped batches).

Weights: the trainer numbers its weights (a version bumped by every update) and
:meth:`RolloutWorkers.sync` sends them only when the version moved: the state dict goes into
Ray's object store once (``ray.put``) and every worker loads it from there. With LoRA each
worker wraps its copy in the same adapters, so the state dict (base + adapters) fits it.

Design note: the driver (rank 0 under ``torchrun``) owns the loop; workers only sample and
step environments (verl's single controller). A worker that dies is not replaced: its error
ends the iteration (env actors, ``rollout.env_workers``, do recover; see ``ray_envs``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from t2po.envs.registry import get_family, load_plugins
from t2po.inference.base import SamplingParams
from t2po.inference.hf import HFSampler
from t2po.models.loading import load_model_and_tokenizer, load_model_processor
from t2po.models.lora import LoraParams, apply_lora, decoding_model
from t2po.rollout.engine import RolloutSettings, Task, rollout
from t2po.rollout.ray_envs import RayEnvs, ensure_ray, slices
from t2po.types import TrajectoryGroup

WORKER_CPUS = 0.1  # logical CPU share each worker reserves in Ray's scheduler (see ray_envs)


@dataclass(frozen=True)
class WorkerSpec:
    """What every rollout worker builds: the same model, sampler and environments."""

    model_path: str  # the folder (or name) the trainer's model was loaded from
    device: str  # "cpu" or "cuda" (each worker then gets a GPU of its own)
    dtype: str
    seed: int  # the sampler's own stream (unused by rollouts, which always seed their calls)
    plugins: tuple[str, ...] = ()  # env.plugins
    lora: LoraParams | None = None  # the trainer's adapter shape, when it trains LoRA
    base_path: str = ""  # the LoRA base folder (recorded in the adapters' config)
    env_workers: int = 0  # Ray env actors per worker; 0 = envs in the worker's process
    threads: int = 0  # torch CPU threads per worker (CPU only); 0 = the cores / n workers


class RolloutWorker:
    """The actor body: a model copy, a sampler, and the engine over this worker's tasks."""

    def __init__(self, spec: WorkerSpec) -> None:
        import t2po.envs  # noqa: F401 - registers the built-in families

        self.spec = spec
        device = spec.device
        if device == "cpu":
            torch.set_num_threads(spec.threads)
        load_plugins(spec.plugins)
        model, tokenizer = load_model_and_tokenizer(
            spec.model_path, device=device, dtype=spec.dtype
        )
        self.model: torch.nn.Module = model
        if spec.lora is not None:
            self.model = apply_lora(model, spec.lora, base_path=spec.base_path or spec.model_path)
        self.model.eval()
        self.sampler = HFSampler(
            decoding_model(self.model),
            tokenizer,
            device=device,
            seed=spec.seed,
            processor=load_model_processor(spec.model_path),  # pictures: VL models only
        )
        self.version = -1  # no weights from the trainer yet
        self._envs: RayEnvs | None = None

    def load_weights(self, state: dict[str, torch.Tensor], version: int) -> int:
        """Take the trainer's weights (every key must fit); returns the version now held."""
        self.model.load_state_dict(state, strict=True)
        self.version = version
        return version

    def play(
        self,
        family_name: str,
        tasks: Sequence[Task],
        group_size: int,
        params: SamplingParams,
        settings: RolloutSettings,
        seed: int,
        task_offset: int,
    ) -> list[TrajectoryGroup]:
        family = get_family(family_name)
        envs = None
        if self.spec.env_workers > 0:
            if self._envs is None or self._envs.env_id != family.env_id:
                self._envs = RayEnvs(
                    family.env_id,
                    settings.env_kwargs,
                    self.spec.env_workers,
                    plugins=self.spec.plugins,
                )
            envs = self._envs
        return rollout(
            self.sampler,
            family,
            tasks,
            group_size,
            params,
            settings,
            seed,
            envs=envs,
            task_offset=task_offset,
        )

    def info(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "version": self.version,
            "threads": torch.get_num_threads(),
            "device": str(self.sampler.device),
        }


class RolloutWorkers:
    """``n`` :class:`RolloutWorker` actors driven as one sampler-plus-engine (module doc)."""

    def __init__(self, n: int, spec: WorkerSpec, *, timeout_s: float | None = None) -> None:
        if n < 1:
            raise ValueError(f"RolloutWorkers needs at least 1 worker, got {n}")
        self._ray = ensure_ray()
        gpus = 1 if spec.device.startswith("cuda") else 0
        cluster_gpus = int(self._ray.cluster_resources().get("GPU", 0))
        if gpus and n > cluster_gpus:
            # Ray would keep the extra workers pending for ever, waiting for a free GPU.
            raise ValueError(
                f"rollout.workers={n} on {spec.device} needs a GPU per worker, and this Ray "
                f"cluster has {cluster_gpus}; use at most {cluster_gpus} workers, or "
                "model.device=cpu"
            )
        spec = _placed(spec, n)
        actor = self._ray.remote(num_cpus=WORKER_CPUS, num_gpus=gpus, max_restarts=0)
        self.actors: list[Any] = [actor(RolloutWorker).remote(spec) for _ in range(n)]
        self.timeout_s = timeout_s
        self.version: int | None = None  # the weights version the workers hold
        self.pushes = 0  # how many times weights went out (one ray.put each)

    def sync(self, model: torch.nn.Module, version: int) -> bool:
        """Send ``model``'s weights to every worker if ``version`` is not the one they hold;
        returns whether they were sent."""
        if version == self.version:
            return False
        state = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
        ref = self._ray.put(state)  # once into the object store, read by every worker
        held = self._ray.get(
            [a.load_weights.remote(ref, version) for a in self.actors], timeout=self.timeout_s
        )
        assert held == [version] * len(self.actors)
        self.version = version
        self.pushes += 1
        return True

    def rollout(
        self,
        family_name: str,
        tasks: Sequence[Task],
        group_size: int,
        params: SamplingParams,
        settings: RolloutSettings,
        seed: int = 0,
    ) -> list[TrajectoryGroup]:
        """The engine's ``rollout`` over the workers: contiguous task slices, groups in task
        order (the same groups one engine would return)."""
        if self.version is None:
            raise RuntimeError("RolloutWorkers.sync(model, version) must run before rollout")
        calls = [
            self.actors[k].play.remote(
                family_name, list(tasks[a:b]), group_size, params, settings, seed, a
            )
            for k, (a, b) in enumerate(slices(len(tasks), len(self.actors)))
            if b > a
        ]
        groups: list[TrajectoryGroup] = []
        for part in self._ray.get(calls, timeout=self.timeout_s):
            groups += part
        return groups

    def info(self) -> list[dict[str, Any]]:
        return list(self._ray.get([a.info.remote() for a in self.actors], timeout=self.timeout_s))

    def shutdown(self) -> None:
        for actor in self.actors:
            self._ray.kill(actor, no_restart=True)
        self.actors = []


def _placed(spec: WorkerSpec, n: int) -> WorkerSpec:
    """A CUDA worker sees only its own GPU (Ray sets CUDA_VISIBLE_DEVICES), so it uses
    ``cuda``; CPU workers share this machine's cores when ``threads`` is 0."""
    if spec.device.startswith("cuda"):
        return dataclasses.replace(spec, device="cuda")
    if spec.threads == 0:
        return dataclasses.replace(spec, threads=max(1, (os.cpu_count() or 1) // n))
    return spec
