"""Prediction: per-type prompts to any backend, answers back to flat character spans.

:class:`Extractor` is what ``fewner predict`` and the training loop's dev evaluation use; see
:mod:`fewner.predict.extractor` for the choices (constraints, overlaps, statistics).

Importing this package does not import torch: the backend passed in decides that.
"""

from fewner.predict.extractor import (
    DEFAULT_MAX_NEW_TOKENS,
    ExtractionResult,
    Extractor,
    merge_spans,
    snap_to_tokens,
)

__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "ExtractionResult",
    "Extractor",
    "merge_spans",
    "snap_to_tokens",
]
