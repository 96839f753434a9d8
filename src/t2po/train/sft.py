"""Multi-turn supervised fine-tuning on kept trajectories (the cold start, method.md §6).

Every turn is one example: its prompt (memory window included) as context, the response plus
the end-of-turn token as the target. Loss: token-mean negative log-likelihood.

With validation examples (turns of teacher episodes held out from training), the loss on
them is measured after every epoch and the model ends with the weights of the epoch where it
was lowest. A cold start then does not depend on which epoch happened to be last: the same
recipe run with another thread count (other float rounding, so another trajectory through a
spike) still hands RL the best model it passed through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from t2po.algo.losses import masked_mean
from t2po.inference.vision import VisionInputs
from t2po.train.batch import TokenBatch, collate
from t2po.train.policy import forward_token_stats


@dataclass(frozen=True)
class SFTExample:
    prompt_ids: list[int]
    target_ids: list[int]
    vision: VisionInputs | None = None  # the prompt's pictures (vision-language models)


@dataclass(frozen=True)
class SFTResult:
    epoch_losses: list[float]  # mean training loss of each epoch
    val_losses: list[float]  # validation loss after each epoch ([] without validation)
    best_epoch: int  # 1-based epoch whose weights the model holds at the end


def _batches(
    examples: Sequence[SFTExample], order: list[int], batch_size: int, pad_id: int
) -> Iterator[TokenBatch]:
    for i in range(0, len(order), batch_size):
        chunk = [examples[j] for j in order[i : i + batch_size]]
        yield collate(
            [e.prompt_ids for e in chunk],
            [e.target_ids for e in chunk],
            [[True] * len(e.target_ids) for e in chunk],
            pad_id,
            [e.vision for e in chunk],
        )


@torch.no_grad()
def validation_loss(
    model: nn.Module,
    examples: Sequence[SFTExample],
    *,
    pad_id: int,
    batch_size: int,
    share_prefix: bool = True,
) -> float:
    """Token-mean NLL over all target tokens of ``examples`` (each token weighs the same)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for tb in _batches(examples, list(range(len(examples))), batch_size, pad_id):
        stats = forward_token_stats(model, tb, share_prefix=share_prefix)
        mask = stats.loss_mask_B_W
        total -= float((stats.logprobs_B_W * mask).sum())
        count += int(mask.sum())
    model.train(was_training)
    return total / max(1, count)


def sft(
    model: nn.Module,
    examples: Sequence[SFTExample],
    *,
    pad_id: int,
    epochs: int,
    lr: float,
    batch_size: int,
    generator: torch.Generator,
    val_examples: Sequence[SFTExample] = (),
    weight_decay: float = 0.0,
    grad_clip: float = 1.0,
    on_step: Callable[[int, int, float], None] | None = None,
    share_prefix: bool = True,
) -> SFTResult:
    """Train on ``examples``; with ``val_examples``, end on the epoch of lowest validation
    loss (its weights are restored); without, on the last epoch.

    ``share_prefix``: run the prompt prefix a batch's rows share once per batch
    (``forward_token_stats``); False runs every row whole (the same math, other rounding)."""
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
    epoch_losses: list[float] = []
    val_losses: list[float] = []
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    step = 0
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(examples), generator=generator).tolist()
        losses = []
        for tb in _batches(examples, order, batch_size, pad_id):
            stats = forward_token_stats(model, tb, share_prefix=share_prefix)
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
        if val_examples:
            val_losses.append(
                validation_loss(
                    model,
                    val_examples,
                    pad_id=pad_id,
                    batch_size=batch_size,
                    share_prefix=share_prefix,
                )
            )
            if best is None or val_losses[-1] < best[0]:
                state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                best = (val_losses[-1], epoch, state)
    if best is not None and best[1] != epochs:
        model.load_state_dict(best[2])
    return SFTResult(epoch_losses, val_losses, best[1] if best is not None else epochs)
