"""Multi-turn supervised fine-tuning on kept trajectories (the cold start, method.md §6).

Every turn is one example: its prompt (memory window included) as context, the response plus
the end-of-turn token as the target. Loss: token-mean negative log-likelihood.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from t2po.algo.losses import masked_mean
from t2po.train.batch import collate
from t2po.train.policy import forward_token_stats


@dataclass(frozen=True)
class SFTExample:
    prompt_ids: list[int]
    target_ids: list[int]


def sft(
    model: nn.Module,
    examples: Sequence[SFTExample],
    *,
    pad_id: int,
    epochs: int,
    lr: float,
    batch_size: int,
    generator: torch.Generator,
    weight_decay: float = 0.0,
    grad_clip: float = 1.0,
    on_step: Callable[[int, int, float], None] | None = None,
) -> list[float]:
    """Train on ``examples``; returns the mean loss of each epoch."""
    if not examples:
        raise ValueError("No examples to fine-tune on: the teacher kept no trajectory.")
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = (len(examples) + batch_size - 1) // batch_size
    total = epochs * steps_per_epoch
    # Linear warm-up over 5% of steps, then cosine decay: stable for a freshly built model.
    warmup = max(1, total // 20)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + float(torch.cos(torch.tensor(progress * torch.pi))))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    model.train()
    epoch_losses = []
    step = 0
    for _epoch in range(epochs):
        order = torch.randperm(len(examples), generator=generator).tolist()
        losses = []
        for i in range(0, len(order), batch_size):
            chunk = [examples[j] for j in order[i : i + batch_size]]
            tb = collate(
                [e.prompt_ids for e in chunk],
                [e.target_ids for e in chunk],
                [[True] * len(e.target_ids) for e in chunk],
                pad_id,
            )
            stats = forward_token_stats(model, tb)
            loss = -masked_mean(stats.logprobs_B_W, stats.loss_mask_B_W)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            step += 1
            if on_step is not None:
                on_step(step, total, losses[-1])
        epoch_losses.append(sum(losses) / len(losses))
    return epoch_losses
