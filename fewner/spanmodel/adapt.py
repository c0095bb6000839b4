"""Few-shot adaptation: a pre-trained span model learns a handful of labeled sentences.

Every support sentence asks every target label (a support set is annotated for all its types,
so each absent label is a true negative). What keeps a small encoder from forgetting what
pre-training taught it on tens of examples: few steps (60) and a low encoder learning rate.
Freezing the lowest layers or the whole encoder was measured and lost F1 on every dataset, so
the default trains all layers (``experiments/span_adapt.py``; numbers in the README).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from fewner.errors import ConfigError
from fewner.spanmodel.batching import label_text
from fewner.spanmodel.source import Example
from fewner.spanmodel.train import TrainSettings, train
from fewner.types import Sentence

__all__ = ["ADAPT_SETTINGS", "adapt", "support_examples"]

ADAPT_SETTINGS = TrainSettings(
    steps=60, batch_size=8, lr_encoder=2e-5, lr_head=2e-4, warmup=0.1, freeze_layers=0,
    checkpoint_every=10**9, log_every=10,
)


def support_examples(
    sentences: Sequence[Sentence], labels: Sequence[str], label_names: dict[str, str] | None = None
) -> list[Example]:
    """Support sentences as training examples that ask every label in ``labels``."""
    names = {lab: (label_names or {}).get(lab) or label_text(lab) for lab in labels}
    out = []
    for sentence in sentences:
        spans = tuple((a, b, names[t]) for a, b, t in sentence.token_spans() if t in names)
        out.append(Example(tuple(sentence.words), spans, tuple(names.values())))
    return out


def examples_digest(examples: Sequence[Example]) -> str:
    """sha256 of training examples (what a resumed run checks it is training on)."""
    import hashlib
    import json

    payload = json.dumps([[list(e.words), [list(s) for s in e.spans], list(e.labels)] for e in examples])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def adapt(
    predictor: Any,
    sentences: Sequence[Sentence],
    labels: Sequence[str],
    *,
    label_names: dict[str, str] | None = None,
    settings: TrainSettings | None = None,
    run_dir: str | Path | None = None,
    progress: bool | Callable[[int], object] = False,
) -> tuple[Any, dict[str, Any]]:
    """Train ``predictor`` (a ``span`` predictor) in place on ``sentences``; returns it, now
    with ``labels`` as its default labels and ``label_names`` merged in, and the metrics."""
    from fewner.spanmodel.pretrain import sentence_batches

    if not sentences:
        raise ConfigError("span adaptation needs at least one labeled sentence")
    names = {**predictor.label_names, **(label_names or {})}
    examples = support_examples(sentences, labels, names)
    if not any(e.spans for e in examples):
        raise ConfigError(
            f"none of the {len(examples)} examples has a mention of {list(labels)}: nothing to learn"
        )
    settings = settings or ADAPT_SETTINGS
    if settings.batch_size > len(examples):
        settings = replace(settings, batch_size=len(examples))
    metrics = train(
        predictor.model, sentence_batches(examples, settings.batch_size, settings.seed), settings,
        run_dir, progress=progress,
        describe={"adapt": {"sentences": len(examples), "labels": list(labels), "label_names": names,
                            "examples_sha256": examples_digest(examples)}},
    )
    predictor.model.clear_label_cache()
    predictor.labels = list(dict.fromkeys(labels))
    predictor.label_names = names
    previous = predictor.training or {}
    predictor.training = {
        "stage": "adapt",
        "examples": len(examples),
        "mentions": sum(len(e.spans) for e in examples),
        "labels": list(labels),
        "settings": settings.__dict__,
        "metrics": metrics,
        "base": previous,
    }
    return predictor, metrics
