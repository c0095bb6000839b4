"""Learning-rate schedules: linear warm-up, then linear, cosine or no decay.

A schedule is a function of the optimizer step giving a factor of the peak learning rate, used
through :class:`torch.optim.lr_scheduler.LambdaLR` so its position is saved and restored with
the checkpoint's ``state_dict``. The factor rises linearly from ``1/(warmup+1)`` to 1 over
``warmup`` steps (never 0: a first step with learning rate 0 would be wasted), then decays to
``min_ratio`` at ``total`` steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from fewner.errors import ConfigError
from fewner.train.settings import DECAYS

__all__ = ["DECAYS", "lr_factor", "make_scheduler", "warmup_steps"]

def warmup_steps(total: int, ratio: float, steps: int | None) -> int:
    """Warm-up length: ``steps`` when given, else ``ceil(ratio * total)``; at most ``total``."""
    if steps is not None:
        if steps < 0:
            raise ConfigError(f"warmup_steps must be >= 0, got {steps}")
        return min(steps, total)
    if not 0.0 <= ratio <= 1.0:
        raise ConfigError(f"warmup_ratio must be in [0, 1], got {ratio}")
    return min(math.ceil(ratio * total), total)


def lr_factor(
    decay: str, total: int, warmup: int, min_ratio: float = 0.0
) -> Callable[[int], float]:
    """The factor of the peak learning rate used *at* optimizer step ``step`` (0-based)."""
    if decay not in DECAYS:
        raise ConfigError(f"unknown schedule {decay!r}; expected one of {', '.join(DECAYS)}")
    if not 0.0 <= min_ratio <= 1.0:
        raise ConfigError(f"min_lr_ratio must be in [0, 1], got {min_ratio}")

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if decay == "constant" or total <= warmup:
            return 1.0
        progress = min(1.0, (step - warmup) / (total - warmup))
        shape = 1.0 - progress if decay == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
        return min_ratio + (1.0 - min_ratio) * shape

    return factor


def make_scheduler(
    optimizer: torch.optim.Optimizer,
    decay: str,
    total: int,
    warmup: int,
    min_ratio: float = 0.0,
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` over :func:`lr_factor`; call ``step()`` after each optimizer step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(decay, total, warmup, min_ratio))
