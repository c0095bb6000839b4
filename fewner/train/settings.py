"""The optimization settings of one stage: what :class:`fewner.train.loop.Trainer` reads.

A stage in a run config holds one :class:`LoopSettings` (``StageSpec.loop``); its keys are
written flat in the stage's YAML mapping (``epochs``, ``lr``, ...), beside the stage's own keys,
and every key and its default is listed in ``configs/README.md``. ``seed`` and ``precision`` are
no stage keys here: a run fills them (the stage seed, the run's precision). Kept free of torch
so that validating a config does not need it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from fewner.config_schema import require_positive
from fewner.errors import ConfigError

__all__ = ["DECAYS", "STAGE_LOOP_KEYS", "LoopSettings"]

#: Learning-rate decays after warm-up (:mod:`fewner.train.schedule`).
DECAYS: tuple[str, ...] = ("linear", "cosine", "constant")


@dataclass(frozen=True)
class LoopSettings:
    """Optimization settings of one stage (the stage keys of ``configs/README.md``)."""

    epochs: int = 1
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 2e-4
    weight_decay: float = 0.0
    schedule: str = "linear"
    warmup_ratio: float = 0.1
    warmup_steps: int | None = None
    min_lr_ratio: float = 0.0
    max_grad_norm: float = 1.0
    #: batch examples of similar length (less padding; fewner.train.loop's docstring)
    group_by_length: bool = False
    eval_every: int = 0
    eval_at_end: bool = True
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    log_every: int = 1
    seed: int = 0
    precision: str = "auto"

    def check(self, where: str) -> None:
        """Validate; errors name ``where.<key>`` (``where``: the stage, e.g. ``stages.target``)."""
        for key in ("epochs", "batch_size", "grad_accum", "keep_checkpoints", "log_every"):
            require_positive(getattr(self, key), f"{where}.{key}")
        for key in ("eval_every", "checkpoint_every"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{where}.{key} must be >= 0 (0 = off), got {getattr(self, key)}")
        if self.lr <= 0:
            raise ConfigError(f"{where}.lr must be > 0, got {self.lr}")
        if self.weight_decay < 0 or self.max_grad_norm < 0:
            raise ConfigError(f"{where}: weight_decay and max_grad_norm must be >= 0 (0 = off)")
        if self.schedule not in DECAYS:
            raise ConfigError(
                f"{where}.schedule: {self.schedule!r}; expected one of {', '.join(DECAYS)}"
            )
        if not 0 <= self.warmup_ratio <= 1 or not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f"{where}: warmup_ratio and min_lr_ratio must be in [0, 1]")
        if self.warmup_steps is not None and self.warmup_steps < 0:
            raise ConfigError(f"{where}.warmup_steps must be >= 0")


#: The LoopSettings fields that a stage's YAML mapping sets (the run fills the others).
STAGE_LOOP_KEYS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(LoopSettings) if f.name not in ("seed", "precision")
)
