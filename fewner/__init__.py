"""fewner: few-shot named entity recognition with language models.

::

    import fewner
    ner = fewner.load("smollm2-135m-ner")   # the LLM extractor after the broad source stage
    ner.predict("Apple hired Tim in Cupertino.", labels=["company", "person", "city"])
    ner = fewner.fit(examples, labels=["person", "city"], recipe="ner-sft")   # 5-shot from it
    ner.save("my-ner/")

Names are imported on first use, so ``import fewner`` stays fast and does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from fewner.types import Corpus, Episode, Sentence, Span, Token

__version__ = "0.1.0"

_LAZY = {
    "load": "fewner.api",
    "fit": "fewner.api",
    "Entity": "fewner.predictors.base",
    "Predictions": "fewner.predictors.base",
    "Predictor": "fewner.predictors.base",
    "PREDICTORS": "fewner.predictors",
    "RECIPES": "fewner.recipes",
    "Registry": "fewner.registry",
    "read_corpus": "fewner.data.io",
    "score": "fewner.eval.metrics",
}

__all__ = ["Corpus", "Episode", "Sentence", "Span", "Token", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fewner' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
