"""Settings of a ``kind: grait`` stage: the ``refusal:`` key of a training stage.

Validated with the run config (the class is the stage kind's ``settings``,
:mod:`fewner.grait.stage`); every key and its default is listed in ``configs/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from fewner.config_schema import require_positive
from fewner.errors import ConfigError

__all__ = ["RefusalSpec"]

_WEIGHTINGS = ("adaptive", "uniform")
_UNSELECTED = ("drop", "gold")


@dataclass
class RefusalSpec:
    """Settings of a ``kind: grait`` stage (refusal-aware SFT, :mod:`fewner.grait`).

    Knowledge query: the model as the stage starts answers each training prompt greedily and
    ``samples`` times at ``temperature``; ``threshold``: a prompt whose share of answers equal to
    gold is at least this is *known* (keeps its gold answer), else *unknown* (refusal answer).
    ``select``: how many unknown prompts get the refusal answer, chosen by GRAIT's gradient
    criterion: a count (>= 1), a fraction of the unknown prompts (0 < x < 1), 0 for none, or null
    for all (no gradients needed). ``weights``: ``adaptive`` (GRAIT's influence softmax with
    ``weight_temperature``) or ``uniform`` (1). ``select: null`` + ``weights: uniform`` is plain
    refusal-aware tuning (RAIT). ``warmup_steps`` / ``warmup_lr`` / ``warmup_batch_size``: the
    short training on the split data before gradient features (undone afterwards);
    ``projection_dim`` / ``projection_seed``: the random projection of the LoRA gradients;
    ``query_*``: generation settings of the knowledge query. ``unselected``: what the unknown
    prompts that were *not* chosen train on: ``drop`` (nothing, as in GRAIT) or ``gold`` (their
    gold answer, weight 1). On NER the unknown prompts are nearly all the ones with entities, so
    dropping them teaches the model that entities are rare.
    """

    samples: int = 4
    temperature: float = 0.7
    threshold: float = 0.5
    select: float | None = None
    weights: str = "uniform"
    weight_temperature: float = 0.05
    warmup_steps: int = 20
    warmup_lr: float = 2e-4
    warmup_batch_size: int = 8
    projection_dim: int = 8192
    projection_seed: int = 0
    query_batch_size: int = 16
    query_max_new_tokens: int = 64
    query_constrained: bool = True
    unselected: str = "drop"

    def check(self, where: str) -> None:
        if self.samples < 0:
            raise ConfigError(f"{where}.samples must be >= 0 (sampled answers besides greedy)")
        if self.samples > 0 and self.temperature <= 0:
            raise ConfigError(f"{where}.temperature must be > 0 when samples > 0")
        if not 0 < self.threshold <= 1:
            raise ConfigError(f"{where}.threshold must be in (0, 1], got {self.threshold}")
        if self.select is not None and (isinstance(self.select, bool) or self.select < 0):
            raise ConfigError(
                f"{where}.select: a count >= 1, a fraction in (0, 1), 0, or null for all; "
                f"got {self.select!r}"
            )
        if self.select is not None and self.select >= 1 and self.select != int(self.select):
            raise ConfigError(f"{where}.select: a count must be a whole number, got {self.select}")
        if self.weights not in _WEIGHTINGS:
            raise ConfigError(
                f"{where}.weights: {self.weights!r}; expected one of {', '.join(_WEIGHTINGS)}"
            )
        if self.weight_temperature <= 0:
            raise ConfigError(f"{where}.weight_temperature must be > 0")
        if self.unselected not in _UNSELECTED:
            raise ConfigError(
                f"{where}.unselected: {self.unselected!r}; expected one of {', '.join(_UNSELECTED)}"
            )
        if self.warmup_steps < 0:
            raise ConfigError(f"{where}.warmup_steps must be >= 0 (0: no warm-up)")
        if self.warmup_lr <= 0:
            raise ConfigError(f"{where}.warmup_lr must be > 0")
        for key in ("warmup_batch_size", "projection_dim", "query_batch_size", "query_max_new_tokens"):
            require_positive(getattr(self, key), f"{where}.{key}")

    @property
    def needs_gradients(self) -> bool:
        """Gradient features are computed only for GRAIT's selection or adaptive weights."""
        return self.select is not None or self.weights == "adaptive"
