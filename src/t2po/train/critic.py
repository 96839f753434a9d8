"""A value model for the PPO baseline (``algo.adv_estimator=gae``), method.md §5.

The critic is a separate copy of the policy's transformer body with a scalar head. It scores
the state a turn starts from, ``V(s_k)``: the hidden state of the last prompt token (the
prompt holds the memory window, so it is the agent's whole view of the state).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from t2po.algo.losses import value_loss
from t2po.train.batch import collate


class Critic(nn.Module):
    """``V(prompt)``: a transformer body and a linear value head on the last prompt token."""

    def __init__(self, policy: nn.Module) -> None:
        super().__init__()
        body = getattr(policy, "model", None)
        if body is None:
            raise ValueError("the critic needs a causal LM with a `.model` transformer body")
        self.body = copy.deepcopy(body)
        config: Any = policy.config
        hidden = int(config.hidden_size)
        self.head = nn.Linear(hidden, 1)
        # Start from V = 0 so the first advantages are the plain returns.
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, prompts: Sequence[Sequence[int]], pad_id: int) -> Tensor:
        """Values ``V_B`` of ``B`` prompts."""
        device = self.head.weight.device
        tb = collate(prompts, [[] for _ in prompts], [[] for _ in prompts], pad_id)
        out = self.body(
            input_ids=tb.input_ids_B_L.to(device),
            attention_mask=tb.attention_mask_B_L.to(device),
            use_cache=False,
        )
        hidden_B_L_H = out.last_hidden_state
        last_B = (tb.prompt_lens_B - 1).to(device)
        rows = torch.arange(hidden_B_L_H.shape[0], device=device)
        return self.head(hidden_B_L_H[rows, last_B].float()).squeeze(-1)

    @torch.no_grad()
    def values(self, prompts: Sequence[Sequence[int]], pad_id: int, micro: int) -> Tensor:
        """``V_N`` for many prompts, in micro-batches, without gradients."""
        was_training = self.training
        self.eval()
        try:
            chunks = [
                self(prompts[i : i + micro], pad_id).float().cpu()
                for i in range(0, len(prompts), micro)
            ]
        finally:
            self.train(was_training)
        return torch.cat(chunks) if chunks else torch.zeros(0)


def critic_update(
    critic: Critic,
    optimizer: torch.optim.Optimizer,
    prompts: Sequence[Sequence[int]],
    returns_N: Tensor,
    old_values_N: Tensor,
    *,
    pad_id: int,
    mini_batch_size: int,
    micro_batch_size: int,
    clip: float,
    grad_clip: float,
    generator: torch.Generator,
) -> dict[str, float]:
    """One pass of clipped value regression toward the returns."""
    if len(prompts) == 0:
        return {}
    critic.train()
    device = critic.head.weight.device
    order = torch.randperm(len(prompts), generator=generator).tolist()
    losses, norms = [], []
    for m in range(0, len(order), mini_batch_size):
        mini = order[m : m + mini_batch_size]
        optimizer.zero_grad(set_to_none=True)
        for i in range(0, len(mini), micro_batch_size):
            rows = mini[i : i + micro_batch_size]
            values_B = critic([prompts[r] for r in rows], pad_id)
            loss = value_loss(
                values_B, returns_N[rows].to(device), old_values_N[rows].to(device), clip=clip
            )
            (loss * len(rows) / len(mini)).backward()
            losses.append(float(loss.detach()))
        norms.append(float(nn.utils.clip_grad_norm_(critic.parameters(), grad_clip)))
        optimizer.step()
    critic.eval()
    return {
        "critic/value_loss": sum(losses) / len(losses),
        "critic/grad_norm": sum(norms) / len(norms),
    }
