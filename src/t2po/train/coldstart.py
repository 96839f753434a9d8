"""Cold start (RFT, method.md §6): roll out a teacher, keep its successes, fine-tune on them.

The teacher is the task family's expert solver or any sampler (an API model, the base
model). The rule for which episodes are kept, strict as method.md §6 writes it ("score >
0.8"): an episode is kept when ``trajectory_score > min_score``, where a win scores 1.0 and a
loss scores the family's ``info["score"]`` (graded tasks such as the shop) or 0. So
``min_score`` 0.8 keeps wins and near-wins, 0 keeps every episode with some credit, and any
negative value (e.g. -1) keeps every episode, losses included. Keeping nothing is an error
that says so, not an empty fine-tune.

The format-only teacher (``rft.teacher=format_only``) is the expert with every action drawn
uniformly from the admissible ones (``rollout.expert``); all its episodes are kept, wins or
not, so the fine-tuned policy learns the format and none of the rule.

The overthinking option (``rft.overthink_tokens``, expert or format-only teacher) runs every
kept thought on with a redundant tail of a random number of the policy's tokens
(``rollout.overthink``), so the fine-tuned policy rambles after deciding: the model on which
TTI's token savings are measured (``studies/tti_tokens.py``).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from t2po.config import Config
from t2po.envs.base import TaskFamily
from t2po.envs.registry import get_family, load_plugins
from t2po.inference.base import Sampler, SamplingParams
from t2po.inference.chat import encode_chat_with_images, render_chat
from t2po.inference.vision import VisionInputs
from t2po.models.vision import copy_processor_files
from t2po.rollout.engine import RolloutSettings, Task, rollout
from t2po.rollout.expert import expert_rollout
from t2po.rollout.overthink import overthink_episodes
from t2po.rollout.prompts import turn_messages
from t2po.telemetry.progress import progress
from t2po.train.sft import SFTExample, sft
from t2po.types import Trajectory


@dataclass(frozen=True)
class ColdStartResult:
    episodes: int
    kept: int
    turns: int
    teacher_success: float
    epoch_losses: list[float]  # mean SFT training loss of each epoch
    seconds: float
    val_losses: list[float] = field(default_factory=list)  # held-out episodes' loss per epoch
    best_epoch: int = 0  # the epoch whose weights were kept (lowest validation loss)
    expert_slip: float = 0.0  # the slipping expert teacher's rate (0 with a sampler teacher)
    format_only: bool = False  # the teacher drew every action uniformly; every episode kept
    base_model: str = ""  # the folder the fine-tuned model started from ("" when not known)
    base_model_sha256: str = ""  # base_model_fingerprint of that folder
    overthink_tokens: tuple[int, int] = (0, 0)  # tail lengths added to every thought; 0 = off


def trajectory_score(trajectory: Trajectory) -> float:
    """1.0 for a win, else the family's graded score (``info["score"]``) if numeric, else 0."""
    if trajectory.won:
        return 1.0
    score = trajectory.info.get("score", 0.0)
    return float(score) if isinstance(score, int | float) else 0.0


def kept_episodes(
    trajectories: Sequence[Trajectory], min_score: float, family: str
) -> list[Trajectory]:
    """The teacher episodes cold start trains on: ``trajectory_score > min_score`` (strict).

    Raises ``ValueError`` when none is kept, with the best score and the way out.
    """
    scores = [trajectory_score(t) for t in trajectories]
    kept = [t for t, score in zip(trajectories, scores, strict=True) if score > min_score]
    if not kept:
        raise ValueError(
            f"cold start kept none of the {len(trajectories)} teacher episodes of {family!r}: "
            f"an episode is kept when its score is above rft.min_score={min_score} (a win "
            f"scores 1.0, a loss info['score'] or 0; best here {max(scores, default=0.0):.3f}). "
            "Lower rft.min_score (-1 keeps every episode) or check the teacher (rft.teacher, "
            "rft.expert_slip)"
        )
    return kept


def base_model_fingerprint(folder: Path) -> str:
    """sha256 over the names and bytes of the files in a model folder (config, tokenizer,
    weights): equal exactly when two folders hold the same model and tokenizer."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        h.update(path.name.encode() + b"\x00")
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        h.update(b"\x00")
    return h.hexdigest()


def check_cold_start_base(cold_start_dir: Path, base: Path) -> None:
    """Raise ``ValueError`` when the cold start in ``cold_start_dir`` was fine-tuned from
    another base model than ``base`` (the folder ``model.path`` resolves to now).

    A run directory's cold start is reused on every later ``t2po train``; reused under a
    changed ``model.path`` it would train one model's fine-tune as if it were another's. The
    folders are compared first (free); only when they differ are the files hashed, so the
    same model moved to another folder is accepted. A cold start without a recorded base
    (made before it was recorded) is accepted as before.
    """
    record = cold_start_dir / "cold_start.json"
    if not record.is_file():
        return
    made = json.loads(record.read_text())
    made_from, made_sha = str(made.get("base_model", "")), str(made.get("base_model_sha256", ""))
    if not made_sha or Path(made_from) == base:
        return
    if base_model_fingerprint(base) == made_sha:
        return
    raise ValueError(
        f"{cold_start_dir} was fine-tuned from another base model ({made_from}, sha256 "
        f"{made_sha[:12]}) than model.path now names ({base}). Use another run_dir, or delete "
        f"{cold_start_dir} to make the cold start again from {base}."
    )


def teacher_trajectories(
    family: TaskFamily,
    tasks: Sequence[Task],
    settings: RolloutSettings,
    sampler: Sampler | None = None,
    params: SamplingParams | None = None,
    seed: int = 0,
    expert_slip: float = 0.0,
    format_only: bool = False,
) -> list[Trajectory]:
    """Expert episodes (slipping with ``expert_slip``, or format-only) when ``sampler`` is
    None, else one sampled episode per task."""
    if sampler is None:
        return expert_rollout(
            family, tasks, settings, slip=expert_slip, seed=seed, format_only=format_only
        )
    if format_only:
        raise ValueError("the format-only teacher is the expert: give no sampler")
    if params is None:
        raise ValueError(
            "a sampler teacher needs its SamplingParams (t2po.settings.sampling_params)"
        )
    groups = rollout(sampler, family, tasks, 1, params, settings, seed=seed)
    return [t for g in groups for t in g.trajectories]


def sft_examples(
    trajectories: Sequence[Trajectory],
    family: TaskFamily,
    tokenizer: Any,
    processor: Any | None = None,
) -> list[SFTExample]:
    """One example per turn: the turn's prompt, then its response and the end-of-turn token.

    A turn whose prompt showed pictures (``Turn.prompt_images``) is encoded with them through
    the vision-language model's ``processor``, as the sampler encodes it. Text prompts and all
    responses are tokenised in one batch call each, with the ids of a call per turn (which
    took 16 s for the quickstart's 2,961 turns on busy cores, against 7 s batched)."""
    eos = tokenizer.eos_token_id
    turns = [turn for trajectory in trajectories for turn in trajectory.turns]
    if not turns:
        return []
    prompts: list[list[int] | None] = [None] * len(turns)
    visions: list[VisionInputs | None] = [None] * len(turns)
    text_rows, texts = [], []
    for i, turn in enumerate(turns):
        messages = turn_messages(family.instructions, turn.prompt_text)
        if turn.prompt_images:
            messages[-1]["images"] = list(turn.prompt_images)
            prompts[i], visions[i] = encode_chat_with_images(tokenizer, processor, messages)
        else:  # encode_chat's ids: the rendered template, no special tokens added again
            text_rows.append(i)
            texts.append(render_chat(tokenizer, messages))
    if texts:
        encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
        for i, ids in zip(text_rows, encoded, strict=True):
            prompts[i] = list(ids)
    responses = [turn.response_text for turn in turns]
    targets = tokenizer(responses, add_special_tokens=False)["input_ids"]
    end = [eos] if eos is not None else []
    examples = []
    for prompt, target, vision in zip(prompts, targets, visions, strict=True):
        assert prompt is not None
        examples.append(SFTExample(prompt, list(target) + end, vision))
    return examples


def split_episodes(
    episodes: Sequence[Trajectory], val_fraction: float, seed: int
) -> tuple[list[Trajectory], list[Trajectory]]:
    """A seeded split of whole episodes (not turns: turns of one episode are alike, so a turn
    split would leak) into training and validation; no validation when the fraction is 0 or
    fewer than two episodes are kept."""
    n_val = math.ceil(val_fraction * len(episodes)) if val_fraction > 0 else 0
    if n_val == 0 or len(episodes) < 2:
        return list(episodes), []
    n_val = min(n_val, len(episodes) - 1)
    order = random.Random(seed).sample(range(len(episodes)), len(episodes))
    held = set(order[:n_val])
    return (
        [e for i, e in enumerate(episodes) if i not in held],
        [e for i, e in enumerate(episodes) if i in held],
    )


def cold_start(
    model: Any,
    tokenizer: Any,
    family: TaskFamily,
    tasks: Sequence[Task],
    settings: RolloutSettings,
    *,
    min_score: float,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    out_dir: Path | None = None,
    teacher: Sampler | None = None,
    teacher_params: SamplingParams | None = None,
    expert_slip: float = 0.0,
    format_only: bool = False,
    overthink_tokens: tuple[int, int] = (0, 0),
    val_fraction: float = 0.0,
    show_progress: bool = True,
    base_model: Path | None = None,
    processor: Any | None = None,
) -> ColdStartResult:
    """Run the whole cold start; saves the fine-tuned model to ``out_dir`` when given.

    ``format_only`` (expert teacher only) draws every action uniformly and keeps every
    episode, ignoring ``min_score`` (module docstring). ``overthink_tokens`` ``(low, high)``
    (a scripted teacher; ``(0, 0)`` = off) adds an overthinking tail of low..high tokens of
    ``tokenizer`` to every kept thought. ``val_fraction`` of the kept episodes
    (at least one when it is > 0) are held out of training; SFT ends on the epoch where
    their loss was lowest. ``base_model``, the folder ``model`` was loaded from, is named
    and hashed in the result. ``processor``: a vision-language model's, for turns that show
    pictures (its files are saved beside the model)."""
    t0 = time.perf_counter()
    trajectories = teacher_trajectories(
        family, tasks, settings, teacher, teacher_params, seed, expert_slip, format_only
    )
    kept = (
        list(trajectories) if format_only else kept_episodes(trajectories, min_score, family.name)
    )
    if overthink_tokens != (0, 0):
        if teacher is not None:
            raise ValueError("overthinking tails extend a scripted teacher's thoughts: no sampler")
        kept = overthink_episodes(
            kept,
            overthink_tokens,
            encode=lambda text: tokenizer(text, add_special_tokens=False)["input_ids"],
            seed=seed,
        )
    failed = [t for t in kept if not t.turns]
    if kept and len(failed) == len(kept):
        raise ValueError(
            f"every one of the {len(kept)} teacher episodes of {family.name!r} failed before "
            f"its first turn; the first error: {failed[0].info.get('error', failed[0].stop_reason)}"
        )
    train_eps, val_eps = split_episodes(kept, val_fraction, seed)
    examples = sft_examples(train_eps, family, tokenizer, processor)
    bar = progress(
        total=epochs * ((len(examples) + batch_size - 1) // batch_size),
        desc="cold start SFT",
        unit="step",
        disable=None if show_progress else True,
    )

    def on_step(step: int, total: int, loss: float) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}")

    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    fitted = sft(
        model,
        examples,
        pad_id=tokenizer.pad_token_id,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        generator=generator,
        val_examples=sft_examples(val_eps, family, tokenizer, processor),
        on_step=on_step,
    )
    bar.close()
    model.eval()
    result = ColdStartResult(
        episodes=len(trajectories),
        kept=len(kept),
        turns=len(examples),
        teacher_success=sum(t.won for t in trajectories) / max(1, len(trajectories)),
        epoch_losses=fitted.epoch_losses,
        seconds=time.perf_counter() - t0,
        val_losses=fitted.val_losses,
        best_epoch=fitted.best_epoch,
        expert_slip=expert_slip if teacher is None else 0.0,
        format_only=format_only,
        overthink_tokens=overthink_tokens,
        base_model=str(base_model) if base_model is not None else "",
        base_model_sha256=base_model_fingerprint(base_model) if base_model is not None else "",
    )
    if out_dir is not None:
        tmp = out_dir.with_name(out_dir.name + ".tmp")
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if processor is not None and base_model is not None:
            copy_processor_files(base_model, tmp)
        (tmp / "cold_start.json").write_text(json.dumps(result.__dict__, indent=2))
        if out_dir.exists():
            import shutil

            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    return result


def cold_start_from_config(
    cfg: Config,
    out_dir: Path,
    teacher: Sampler | None = None,
    teacher_params: SamplingParams | None = None,
) -> ColdStartResult:
    """The cold start a config describes: ``cfg.model.path`` fine-tuned into ``out_dir``.

    ``teacher=None`` with ``rft.teacher: expert`` uses the family's expert solver, with
    ``rft.teacher: format_only`` the same solver's format-only teacher, and with
    ``rft.teacher: policy`` the model itself (evaluation sampling), so ``t2po rft`` and
    ``t2po train`` with ``train.cold_start`` run the same cold start.
    """
    from t2po.inference.hf import HFSampler
    from t2po.models.loading import (
        load_model_and_tokenizer,
        load_model_processor,
        resolve_model_path,
    )
    from t2po.rollout.engine import derive_seed
    from t2po.settings import rollout_settings, sampling_params

    model, tokenizer = load_model_and_tokenizer(
        cfg.model.path, device=cfg.model.device, dtype=cfg.model.dtype
    )
    processor = load_model_processor(cfg.model.path)  # None for a text model
    if teacher is None and cfg.rft.teacher == "policy":
        # The base model as its own teacher (method.md §6): its rollouts are all played
        # before SFT starts, so the teacher can share the weights about to be tuned.
        teacher = HFSampler(
            model, tokenizer, device=cfg.model.device, seed=cfg.seed, processor=processor
        )
        teacher_params = sampling_params(cfg, evaluation=True)
    load_plugins(cfg.env.plugins)  # a library caller may not have gone through the CLI
    family = get_family(cfg.env.family)
    first = cfg.rft.seed_offset
    tasks = [
        Task(f"{family.name}-{s}", s, family.train_split)
        for s in range(first, first + cfg.rft.episodes)
    ]
    return cold_start(
        model,
        tokenizer,
        family,
        tasks,
        rollout_settings(cfg, evaluation=True),
        min_score=cfg.rft.min_score,
        epochs=cfg.rft.epochs,
        lr=cfg.rft.lr,
        batch_size=cfg.rft.batch_size,
        seed=derive_seed(cfg.seed, "cold_start"),
        out_dir=out_dir,
        teacher=teacher,
        teacher_params=teacher_params,
        expert_slip=cfg.rft.expert_slip,
        format_only=cfg.rft.teacher == "format_only",
        overthink_tokens=cfg.rft.overthink_tokens,
        val_fraction=cfg.rft.val_fraction,
        show_progress=cfg.log.progress,
        base_model=resolve_model_path(cfg.model.path),
        processor=processor,
    )
