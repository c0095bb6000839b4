"""Adaptive weights of the chosen refusal samples (GRAIT step 5).

Each chosen refusal sample ``j`` gets

    a_j = influence_unknown(j) - conflict_known(j)          (:mod:`fewner.grait.selection`)
    w_j = n * softmax(a / T)_j                              (n chosen samples, mean weight 1)

with temperature ``T`` (GRAIT's default 0.05). A refusal sample whose gradient conflicts with the
known prompts' gold answers (learning to refuse it would make the model refuse what it knows)
has a lower ``a_j`` and weighs less, which limits over-refusal; one aligned with the unknown set
weighs more. Known prompts keep weight 1. Normalizing to mean 1 (rather than the authors'
script's ``softmax * 500``) keeps the refusal samples' total weight equal to their count, so the
learning rate means the same as in plain refusal-aware tuning. ``uniform`` weighting is all 1.
"""

from __future__ import annotations

import torch

__all__ = ["adaptive_weights", "uniform_weights"]


def adaptive_weights(
    influence_unknown: torch.Tensor, conflict_known: torch.Tensor, temperature: float = 0.05
) -> torch.Tensor:
    """``n * softmax((influence_unknown - conflict_known) / temperature)`` (mean 1)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    a = influence_unknown.double() - conflict_known.double()
    if a.numel() == 0:
        return torch.zeros(0)
    return (torch.softmax(a / temperature, dim=0) * a.numel()).float()


def uniform_weights(n: int) -> torch.Tensor:
    return torch.ones(n)
