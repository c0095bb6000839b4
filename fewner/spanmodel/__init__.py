"""fewner's type-conditioned span model: any labels, one encoder pass, few-shot adaptable.

A bi-encoder in the manner of GLiNER (Zaratiana et al., 2024), written from the paper's
description: an encoder reads the sentence, every candidate span up to ``max_width`` words gets a
representation from its boundary words, every label gets one from its name (encoded once and
cached), and a span's score for a label is the dot product of the two. Spans above a threshold
are decoded flat (greedy by score) or nested.

Modules: :mod:`.config` (the settings that define a model), :mod:`.batching` (words, spans and
labels to tensors), :mod:`.model` (the network), :mod:`.decode` (scores to spans),
:mod:`.source` (the broad pre-training mixture), :mod:`.train` (one loop for pre-training,
adaptation and learning from annotations), :mod:`.predictor` (the ``span`` predictor kind).
"""

from fewner.spanmodel.config import SpanModelConfig

__all__ = ["SpanModelConfig"]
