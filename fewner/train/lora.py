"""LoRA through peft: presets, wrapping, saving and loading adapters.

Presets (the registry ``PRESETS``) hold the published settings; every field can be overridden
in a config:

* ``obp-llm``: r=8, alpha=16, dropout 0.05 on the attention projections ``q/k/v/o_proj``;
* ``cllmfs``: the same rank on the attention projections plus the MLP projections
  ``gate/up/down_proj`` (CLLMFS adapts the feed-forward blocks too);
* ``ner-source``: the shape of the shipped source adapter ``smollm2-135m-ner`` (r=32, alpha=32
  on every attention and MLP projection: the fully trained source model's weight changes
  truncated by :mod:`fewner.train.lora_extract`), so a recipe can continue training it.

Module names are those of Llama-style models (SmolLM2, Qwen, Mistral, Gemma); peft reports a
model without them, which :func:`wrap` turns into a :class:`~fewner.errors.ConfigError`.

Adapters are saved with ``PeftModel.save_pretrained`` (``adapter_config.json`` +
``adapter_model.safetensors``), the folder ``HFBackend(adapter=...)`` and ``fewner predict
--adapter`` load. :func:`save_adapter` writes into a temporary folder and renames it, so a crash
never leaves a half-written adapter where a finished one is expected.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from torch import nn

from fewner.errors import ConfigError, ModelNotAvailableError
from fewner.registry import Registry

__all__ = [
    "ADAPTER_FILE",
    "LoraSettings",
    "PRESETS",
    "load_adapter_weights",
    "save_adapter",
    "save_pretrained_atomic",
    "trainable_parameters",
    "wrap",
]

ADAPTER_FILE = "adapter_model.safetensors"
_ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
_MLP = ("gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class LoraSettings:
    """What peft's ``LoraConfig`` gets; ``alpha / r`` scales the update."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = field(default=_ATTENTION)

    def __post_init__(self) -> None:
        if self.r < 1:
            raise ConfigError(f"lora.r must be >= 1, got {self.r}")
        if self.alpha <= 0:
            raise ConfigError(f"lora.alpha must be > 0, got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"lora.dropout must be in [0, 1), got {self.dropout}")
        if not self.target_modules:
            raise ConfigError("lora.target_modules must name at least one module")
        object.__setattr__(self, "target_modules", tuple(self.target_modules))

    @classmethod
    def from_preset(cls, preset: str, **overrides: Any) -> LoraSettings:
        """A preset with the given fields replaced (``None`` values keep the preset's)."""
        if preset not in PRESETS:
            raise ConfigError(
                f"unknown lora preset {preset!r}; expected one of {', '.join(PRESETS)}"
            )
        return replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})

    def peft_config(self) -> Any:
        from peft import LoraConfig

        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=list(self.target_modules),
            bias="none",
            task_type="CAUSAL_LM",
        )


#: LoRA presets by name (``lora.preset`` in a run config); third-party presets register through
#: the entry-point group ``fewner.lora_presets``.
PRESETS: Registry[LoraSettings] = Registry("LoRA preset", group="fewner.lora_presets")
PRESETS.register("obp-llm", LoraSettings(r=8, alpha=16, dropout=0.05, target_modules=_ATTENTION))
PRESETS.register(
    "cllmfs", LoraSettings(r=8, alpha=16, dropout=0.05, target_modules=_ATTENTION + _MLP)
)
PRESETS.register(
    "ner-source", LoraSettings(r=32, alpha=32, dropout=0.05, target_modules=_ATTENTION + _MLP)
)


def wrap(model: nn.Module, settings: LoraSettings) -> Any:
    """``model`` with fresh LoRA layers (a ``PeftModel``); only LoRA parameters train.

    LoRA ``A`` matrices are drawn from torch's global generator: seed it first.
    """
    import warnings

    from peft import get_peft_model

    try:
        with warnings.catch_warnings():
            # peft 0.21 calls a transformers method deprecated in 5.x on every wrap; the
            # warning is about peft's internals, not this run, and cluttered every CLI run.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
            return get_peft_model(model, settings.peft_config())
    except ValueError as err:
        raise ConfigError(f"cannot apply LoRA to {type(model).__name__}: {err}") from None


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters the optimizer updates (the LoRA ones after :func:`wrap`)."""
    return [p for p in model.parameters() if p.requires_grad]


def save_adapter(model: Any, folder: str | Path) -> Path:
    """Save the adapter of a ``PeftModel`` to ``folder`` atomically (replacing an old one)."""
    return save_pretrained_atomic(folder, model)


def save_pretrained_atomic(folder: str | Path, *parts: Any) -> Path:
    """``save_pretrained`` of every part (a model, an adapter, a tokenizer) into one temporary
    folder, then renamed to ``folder`` (replacing an old one): never half-written."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    try:
        for part in parts:
            part.save_pretrained(str(tmp))
        replace_dir(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def replace_dir(src: Path, dst: Path) -> None:
    """Move folder ``src`` to ``dst``; an existing ``dst`` is swapped out first, then deleted.

    Between the two renames ``dst`` is briefly absent but never half-written.
    """
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def load_adapter_weights(model: Any, folder: str | Path) -> None:
    """Load the LoRA weights saved in ``folder`` into an already wrapped model (to continue training).

    The model must have been wrapped with the same settings; a mismatch is a ConfigError.
    """
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    path = Path(folder) / ADAPTER_FILE
    if not path.is_file():
        raise ModelNotAvailableError(f"no LoRA adapter in {folder} ({ADAPTER_FILE} missing)")
    state = load_file(str(path))
    try:
        result = set_peft_model_state_dict(model, state)
    except RuntimeError as err:  # shape mismatch (another rank)
        raise ConfigError(f"the adapter in {folder} does not fit the model: {err}") from None
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    missing_lora = [k for k in getattr(result, "missing_keys", []) or [] if "lora_" in k]
    if unexpected or missing_lora:
        raise ConfigError(
            f"the adapter in {folder} does not match the model's LoRA layers "
            f"(unexpected: {unexpected[:3]}, missing: {missing_lora[:3]}); "
            "were lora settings changed?"
        )
