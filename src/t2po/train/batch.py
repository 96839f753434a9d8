"""From trajectory groups to training tensors.

With a memory window every turn is an independent sample (its prompt already holds the
history it needs), so the unit of training data is the *turn*: prompt ids + response ids,
a loss mask over the response, and the turn's advantage. A turn whose prompt showed pictures
also carries them (``VisionInputs``: the processor's pixels, as the sampler fed them), and
its batch carries the batch's pixels for the forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from t2po.algo.advantages import TurnBatch, anchor_step_groups
from t2po.inference.vision import VisionInputs, cat_vision, mm_token_types
from t2po.models.shared_prefix import shared_prefix_len
from t2po.types import Trajectory, TrajectoryGroup, Turn


@dataclass(frozen=True)
class FlatTurns:
    """All turns of a rollout in one list, with the indices the advantage math needs."""

    turns: list[Turn]
    trajectories: list[Trajectory]
    batch: TurnBatch


def flatten(
    groups: Sequence[TrajectoryGroup], step_grouping: str = "identity", threshold: float = 0.9
) -> FlatTurns:
    """Number episodes and groups, and form GiGPO anchor-state step groups."""
    turns: list[Turn] = []
    trajectories: list[Trajectory] = []
    rewards, episode_ids, turn_ids, group_of_episode, group_of_turn, dones = [], [], [], [], [], []
    for g, group in enumerate(groups):
        for trajectory in group.trajectories:
            e = len(trajectories)
            trajectories.append(trajectory)
            group_of_episode.append(g)
            for k, turn in enumerate(trajectory.turns):
                turns.append(turn)
                rewards.append(turn.reward)
                episode_ids.append(e)
                turn_ids.append(k)
                group_of_turn.append(g)
                dones.append(turn.done)
    group_N = torch.tensor(group_of_turn, dtype=torch.long)
    step_group_N = anchor_step_groups(
        [t.anchor for t in turns], group_N, mode=step_grouping, threshold=threshold
    )
    batch = TurnBatch(
        rewards_N=torch.tensor(rewards, dtype=torch.float32),
        episode_N=torch.tensor(episode_ids, dtype=torch.long),
        turn_N=torch.tensor(turn_ids, dtype=torch.long),
        group_E=torch.tensor(group_of_episode, dtype=torch.long),
        step_group_N=step_group_N,
        dones_N=torch.tensor(dones, dtype=torch.bool),
    )
    return FlatTurns(turns=turns, trajectories=trajectories, batch=batch)


@dataclass(frozen=True)
class TokenBatch:
    """Right-padded sequences ``prompt + response`` for a forward pass.

    ``L`` is the longest sequence; targets are shifted by one, so per-token tensors over
    targets have length ``L - 1``. ``loss_mask_B_L1[b, j]`` is True where target ``j`` of row
    ``b`` is a response token that trains. The first ``shared_prefix_len`` tokens are the same
    in every row and end before any row's first response target, so a forward may run them
    once (``t2po.models.shared_prefix``).
    """

    input_ids_B_L: Tensor
    attention_mask_B_L: Tensor
    loss_mask_B_L1: Tensor
    response_mask_B_L1: Tensor  # every response token, trained or not (forced ones included)
    prompt_lens_B: Tensor
    # Rows with pictures (vision-language models): their pixels in row order, and where the
    # picture placeholders sit (1) among the tokens. None for a batch of text rows.
    vision: VisionInputs | None = None
    mm_token_type_ids_B_L: Tensor | None = None
    shared_prefix_len: int = 0


def collate(
    prompts: Sequence[Sequence[int]],
    responses: Sequence[Sequence[int]],
    trainable: Sequence[Sequence[bool]],
    pad_id: int,
    vision: Sequence[VisionInputs | None] = (),
) -> TokenBatch:
    """Pack turns into one right-padded batch. ``trainable[i]`` has one flag per response token;
    ``vision[i]`` (when given) the pictures of prompt ``i`` (None for a text prompt)."""
    lengths = [len(p) + len(r) for p, r in zip(prompts, responses, strict=True)]
    B, L = len(lengths), max(lengths)
    input_ids = torch.full((B, L), pad_id, dtype=torch.long)
    attention = torch.zeros((B, L), dtype=torch.long)
    loss_mask = torch.zeros((B, L - 1), dtype=torch.bool)
    response_mask = torch.zeros((B, L - 1), dtype=torch.bool)
    for b, (p, r, m) in enumerate(zip(prompts, responses, trainable, strict=True)):
        n_p, n_r = len(p), len(r)
        input_ids[b, : n_p + n_r] = torch.tensor(list(p) + list(r), dtype=torch.long)
        attention[b, : n_p + n_r] = 1
        # Target j predicts input j + 1, so response token i sits at target n_p + i - 1.
        response_mask[b, n_p - 1 : n_p - 1 + n_r] = True
        loss_mask[b, n_p - 1 : n_p - 1 + n_r] = torch.tensor(list(m), dtype=torch.bool)
    pictures = cat_vision(vision)
    return TokenBatch(
        input_ids_B_L=input_ids,
        attention_mask_B_L=attention,
        loss_mask_B_L1=loss_mask,
        response_mask_B_L1=response_mask,
        prompt_lens_B=torch.tensor([len(p) for p in prompts], dtype=torch.long),
        vision=pictures,
        mm_token_type_ids_B_L=(
            None if pictures is None else mm_token_types(input_ids, pictures.image_token_id)
        ),
        # Up to the shortest prompt's last token: the logits from there on are all computed.
        shared_prefix_len=shared_prefix_len(prompts, min(len(p) for p in prompts) - 1),
    )


def trainable_mask(turn: Turn, train_on_forced: bool) -> list[bool]:
    """Forced TTI tokens have behaviour probability 1, not π_θ: masked out by default."""
    if train_on_forced:
        return [True] * len(turn.response_token_ids)
    return [not forced for forced in turn.forced_mask]
