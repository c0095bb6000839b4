"""The settings that define a span model (saved with it, read back on load).

Everything here changes what the network computes; training settings live in
:class:`fewner.spanmodel.train.TrainSettings` and decoding settings on the predictor.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from fewner.errors import ConfigError

__all__ = ["SpanModelConfig"]


@dataclass(frozen=True)
class SpanModelConfig:
    """``encoder``: catalogue name, local folder or hub id of a BERT-like encoder with a fast
    tokenizer. ``max_width``: longest candidate span in words. ``hidden``: size of the span and
    label representations. ``max_subwords``: encoder positions per window (longer sentences are
    split by the predictor, never truncated silently). ``label_pooling``: how a label name's
    subwords become one vector (``mean`` or ``cls``). ``lora_r``: 0 fine-tunes the whole
    encoder; > 0 freezes it and trains LoRA adapters of that rank on its linear layers, so a
    saved model is the heads plus a small adapter over the catalogue encoder (what fewner ships)."""

    encoder: str = "minilm-l6"
    max_width: int = 12
    hidden: int = 384
    dropout: float = 0.1
    max_subwords: int = 256
    label_pooling: str = "mean"
    lora_r: int = 0
    lora_alpha: int = 32

    def __post_init__(self) -> None:
        if not 1 <= self.max_width <= 64:
            raise ConfigError(f"span model max_width must be in 1..64, got {self.max_width}")
        if self.hidden < 8:
            raise ConfigError(f"span model hidden must be >= 8, got {self.hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"span model dropout must be in [0, 1), got {self.dropout}")
        if self.max_subwords < 16:
            raise ConfigError(f"span model max_subwords must be >= 16, got {self.max_subwords}")
        if self.lora_r < 0:
            raise ConfigError(f"span model lora_r must be >= 0, got {self.lora_r}")
        if self.label_pooling not in ("mean", "cls"):
            raise ConfigError(
                f"span model label_pooling must be 'mean' or 'cls', got {self.label_pooling!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpanModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown span model setting(s) {unknown}; known: {sorted(known)}")
        return cls(**data)
