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

Sampling settings: a worker builds its ``HFSampler`` as the trainer builds its own (the
same ``rollout.decode_backend``), so a worker samples what the in-process sampler would.

A worker that dies (its process crashed, its node went away, ``ray.kill``) or does not answer
in ``timeout_s`` is replaced by a fresh actor that loads the weights the others hold (the
object-store copy of the last :meth:`RolloutWorkers.sync` is kept for this), and its slice of
the tasks is played again on the replacement. Why replay instead of ending the slice's
episodes with ``StopReason.env_error`` as env actors do: the dead worker held the episodes
(their turns die with it), and the replay gives exactly the trajectories it would have
returned (same weights version, checked by the worker; same seed and ``task_offset``, hence
the same sampling streams), so the batch and the update are those of a run without the crash,
and success metrics are not lowered by episodes that never ran. A slice is played again once:
if the replacement dies too (a task that crashes its worker every time), that slice's
episodes end with ``StopReason.env_error`` (``timeout`` for a hang) and no turns, and the
iteration goes on with the other slices. A worker whose constructor raised (a model folder
that does not load, a missing extra) is not a death but an error, raised as is: a
replacement would raise the same.

Design note: the driver (rank 0 under ``torchrun``) owns the loop; workers only sample and
step environments (verl's single controller).
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
from t2po.rollout.envs import EnvFailure
from t2po.rollout.ray_envs import RayEnvs, ensure_ray, slices
from t2po.types import StopReason, Trajectory, TrajectoryGroup

WORKER_CPUS = 0.1  # logical CPU share each worker reserves in Ray's scheduler (see ray_envs)
REPLAYS = 1  # how many times a dead worker's slice is played again on a replacement


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
    decode_backend: str = "eager"  # rollout.decode_backend, as the trainer's own sampler
    timeout_s: float | None = None  # rollout.worker_timeout_s, for the worker's env actors


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
            decode_backend=spec.decode_backend,
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
        version: int,
    ) -> list[TrajectoryGroup]:
        """Play ``tasks`` (the batch's tasks from ``task_offset`` on) with weights ``version``."""
        if version != self.version:
            # A replacement whose weights did not load would otherwise sample the model on
            # disk, and the update would train on another policy's samples.
            raise RuntimeError(
                f"this rollout worker holds weights version {self.version}, the trainer "
                f"expects {version}"
            )
        family = get_family(family_name)
        envs = None
        if self.spec.env_workers > 0:
            if self._envs is None or self._envs.env_id != family.env_id:
                self._envs = RayEnvs(
                    family.env_id,
                    settings.env_kwargs,
                    self.spec.env_workers,
                    plugins=self.spec.plugins,
                    timeout_s=self.spec.timeout_s,
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
            "decode_backend": self.sampler.decode_backend,
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
        self._spec = _placed(spec, n)
        self._actor_class = self._ray.remote(num_cpus=WORKER_CPUS, num_gpus=gpus, max_restarts=0)(
            RolloutWorker
        )
        self.actors: list[Any] = [self._spawn() for _ in range(n)]
        self.timeout_s = timeout_s
        self.version: int | None = None  # the weights version the workers hold
        self._weights: Any = None  # the object-store copy of those weights (for replacements)
        self.pushes = 0  # how many times weights went out (one ray.put each)
        self.restarts = 0  # workers replaced after a death or a timeout, over their life

    def _spawn(self) -> Any:
        return self._actor_class.remote(self._spec)

    def sync(self, model: torch.nn.Module, version: int) -> bool:
        """Send ``model``'s weights to every worker if ``version`` is not the one they hold;
        returns whether they were sent. A worker that died meanwhile is replaced."""
        if version == self.version:
            return False
        state = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
        # Once into the object store, read by every worker, and kept for replacements.
        self._weights, self.version = self._ray.put(state), version
        calls = [a.load_weights.remote(self._weights, version) for a in self.actors]
        for k, ref in enumerate(calls):
            held, failure = self._get(k, ref, "a weights load")
            if failure is not None:
                self._replace(k)  # the replacement loads these weights first thing
            elif held != version:
                raise RuntimeError(f"rollout worker {k} holds version {held}, not {version}")
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
        order (the same groups one engine would return). A worker that dies or hangs is
        replaced and its slice played again (module docstring)."""
        if self.version is None:
            raise RuntimeError("RolloutWorkers.sync(model, version) must run before rollout")
        version = self.version
        todo = [(k, a, b) for k, (a, b) in enumerate(slices(len(tasks), len(self.actors)))]
        todo = [(k, a, b) for k, a, b in todo if b > a]
        played: dict[int, list[TrajectoryGroup]] = {}
        failures: dict[int, EnvFailure] = {}
        for _attempt in range(1 + REPLAYS):
            calls = []
            for k, a, b in todo:
                args = (family_name, list(tasks[a:b]), group_size, params, settings, seed, a)
                calls.append((k, self.actors[k].play.remote(*args, version)))
            for k, ref in calls:
                groups, failure = self._get(k, ref, "a rollout")
                if failure is None:
                    played[k] = groups
                    failures.pop(k, None)
                else:
                    failures[k] = failure
                    self._replace(k)
            todo = [(k, a, b) for k, a, b in todo if k in failures]
            if not todo:
                break
        for k, a, b in todo:  # died again on its replacement: these episodes are lost
            played[k] = lost_groups(tasks[a:b], group_size, failures[k])
        return [group for k in sorted(played) for group in played[k]]

    def _get(self, k: int, ref: Any, what: str) -> tuple[Any, EnvFailure | None]:
        """Worker ``k``'s answer, or why there is none (it died, or did not answer in time).
        Any other error is raised, since a replacement would repeat it: an exception in the
        worker's code, or a worker whose constructor raised (a model that does not load)."""
        exceptions = self._ray.exceptions
        try:
            return self._ray.get(ref, timeout=self.timeout_s), None
        except exceptions.RayActorError as exc:
            if getattr(exc, "actor_init_failed", False):
                raise
            return None, EnvFailure(
                f"rollout worker {k} died during {what}: {exc.__class__.__name__}"
            )
        except exceptions.GetTimeoutError:
            return None, EnvFailure(
                f"rollout worker {k} gave no answer to {what} in {self.timeout_s} s",
                timed_out=True,
            )

    def _replace(self, k: int) -> None:
        """A fresh actor in place of worker ``k``, given the current weights. Not waited for:
        calls to an actor run in order, so the next ``play`` runs after the load (and checks
        the version it got)."""
        self._ray.kill(self.actors[k], no_restart=True)  # a hung one must not come back
        self.actors[k] = self._spawn()
        self.restarts += 1
        if self._weights is not None and self.version is not None:
            self.actors[k].load_weights.remote(self._weights, self.version)

    def info(self) -> list[dict[str, Any]]:
        return list(self._ray.get([a.info.remote() for a in self.actors], timeout=self.timeout_s))

    def shutdown(self) -> None:
        for actor in self.actors:
            self._ray.kill(actor, no_restart=True)
        self.actors = []
        self._weights = None


def lost_groups(
    tasks: Sequence[Task], group_size: int, failure: EnvFailure
) -> list[TrajectoryGroup]:
    """Groups of episodes that never came back: no turns, ended by ``env_error`` (``timeout``
    when the worker hung), the failure in ``info['error']``, as a failed env reset is."""
    reason = StopReason.timeout if failure.timed_out else StopReason.env_error
    return [
        TrajectoryGroup(
            task_id=task.task_id,
            seed=task.seed,
            trajectories=[
                Trajectory(
                    task_id=task.task_id,
                    seed=task.seed,
                    stop_reason=reason,
                    info={"error": failure.error},
                )
                for _ in range(group_size)
            ],
        )
        for task in tasks
    ]


def _placed(spec: WorkerSpec, n: int) -> WorkerSpec:
    """A CUDA worker sees only its own GPU (Ray sets CUDA_VISIBLE_DEVICES), so it uses
    ``cuda``; CPU workers share this machine's cores when ``threads`` is 0."""
    if spec.device.startswith("cuda"):
        return dataclasses.replace(spec, device="cuda")
    if spec.threads == 0:
        return dataclasses.replace(spec, threads=max(1, (os.cpu_count() or 1) // n))
    return spec
