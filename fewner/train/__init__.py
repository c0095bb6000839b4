"""Training: one owned loop, LoRA through peft, named loss terms, staged recipes.

* :mod:`fewner.train.collate` — (sentence, type) -> ids, labels and position masks; batches;
* :mod:`fewner.train.losses` / :mod:`fewner.train.capture` — named loss terms, module hooks;
* :mod:`fewner.train.lora` — presets (``obp-llm``, ``cllmfs``), wrapping, saving, loading;
* :mod:`fewner.train.loop` — :class:`Trainer`: accumulation, clipping, autocast, schedule, dev
  evaluation, checkpoints and exact resume (:mod:`fewner.train.checkpoint`,
  :mod:`fewner.train.schedule`);
* :mod:`fewner.train.config` / :mod:`fewner.train.stages` — YAML run configs and the staged
  runs that ``fewner train`` runs; :mod:`fewner.train.kinds` — the stage kinds (``sft``,
  ``dpo``; ``grait`` registers itself from :mod:`fewner.grait`);
* :mod:`fewner.train.recipes` — the recipes shipped in the package (``recipe_config``).

Names are imported on first use, so ``import fewner.train`` does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EncodedExample": "fewner.train.collate",
    "build_examples": "fewner.train.collate",
    "collate": "fewner.train.collate",
    "LoraSettings": "fewner.train.lora",
    "PRESETS": "fewner.train.lora",
    "wrap": "fewner.train.lora",
    "save_adapter": "fewner.train.lora",
    "load_adapter_weights": "fewner.train.lora",
    "LoopSettings": "fewner.train.settings",
    "Trainer": "fewner.train.loop",
    "TrainResult": "fewner.train.loop",
    "TrainConfig": "fewner.train.config",
    "load_config": "fewner.train.config",
    "STAGE_KINDS": "fewner.train.kinds",
    "StageKind": "fewner.train.kinds",
    "list_recipes": "fewner.train.recipes",
    "recipe_config": "fewner.train.recipes",
    "run_training": "fewner.train.stages",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fewner.train' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
