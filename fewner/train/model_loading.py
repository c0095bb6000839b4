"""Loading the causal LM a training run starts from: a catalogue model (float32) and its tokenizer.

Its own module so that the source stage, LoRA extraction and the staged runs share it without
the source stage importing the staged-run machinery (and its config) that itself can replay
source data (fewner/train/replay.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fewner.errors import ConfigError

__all__ = ["load_model"]

Log = Callable[[str], None]


def load_model(name: str, log: Log, device: Any) -> tuple[Any, Any, str]:
    """The catalogue model ``name`` (float32) on ``device``, its tokenizer and backend id."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from fewner.errors import ModelNotAvailableError
    from fewner.models import hf_path

    path = hf_path(name, log=log)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    except OSError as err:
        raise ModelNotAvailableError(f"cannot load {name!r} from {path}: {err}") from err
    if tokenizer.pad_token_id is None:
        raise ConfigError(f"the tokenizer of {name!r} has no pad token")
    return model.to(device), tokenizer, f"hf:{name}"
