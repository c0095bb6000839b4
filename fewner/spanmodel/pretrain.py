"""Pre-training on the broad mixture, and a batch order that keeps padding small.

:func:`pretrain` builds a span model on an encoder, trains it on a mixture
(:mod:`fewner.spanmodel.source`) for a number of steps, and saves a ``span`` predictor folder in
``RUN/model`` with the mixture's licence in its manifest. :func:`epoch_batches` turns epochs of
examples into batches whose sentences have similar lengths (sorted within blocks of 50 batches,
blocks shuffled), still a pure function of ``(seed, step)`` so resuming is exact.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fewner.spanmodel.config import SpanModelConfig
from fewner.spanmodel.source import Example, Mixture, load_mixture_file
from fewner.spanmodel.train import TrainSettings, train

__all__ = ["epoch_batches", "pretrain"]

BLOCK = 50


def epoch_batches(epoch_of: Callable[[int], list[Example]], batch_size: int, seed: int) -> Callable[[int], list[Example]]:
    """``step -> batch`` over successive epochs (module docstring)."""
    cache: dict[int, list[list[Example]]] = {}

    def batches_of(epoch: int) -> list[list[Example]]:
        if epoch not in cache:
            cache.clear()
            examples = epoch_of(epoch)
            out: list[list[Example]] = []
            for lo in range(0, len(examples), BLOCK * batch_size):
                block = sorted(examples[lo : lo + BLOCK * batch_size], key=lambda e: len(e.words))
                out.extend(block[i : i + batch_size] for i in range(0, len(block), batch_size))
            random.Random(f"{seed}-order-{epoch}").shuffle(out)
            cache[epoch] = out
        return cache[epoch]

    sizes: dict[int, int] = {}

    def batch(step: int) -> list[Example]:
        epoch, rest = 0, step
        while True:
            if epoch not in sizes:
                sizes[epoch] = len(batches_of(epoch))
            if rest < sizes[epoch]:
                return batches_of(epoch)[rest]
            rest -= sizes[epoch]
            epoch += 1

    return batch


def pretrain(
    run_dir: str | Path,
    *,
    mixture: str | Path | Mixture = "pretrain",
    data_root: str | Path | None = None,
    model_config: SpanModelConfig | None = None,
    settings: TrainSettings | None = None,
    progress: bool | Callable[[int], object] = True,
    log: Callable[[str], object] = lambda _m: None,
) -> tuple[Any, dict[str, Any]]:
    """Pre-train a span model; returns the ``span`` predictor (saved in ``RUN/model``) and the
    run's metrics."""
    from fewner.data.spec import default_data_root
    from fewner.runs import RunDir
    from fewner.spanmodel.predictor import SpanPredictor
    from fewner.spanmodel.span_model import SpanModel

    settings = settings or TrainSettings()
    run = Path(run_dir)
    if not isinstance(mixture, Mixture):
        log(f"reading the mixture {mixture} ...")
        mixture = load_mixture_file(mixture, data_root or default_data_root())
    summary = mixture.summary()
    log(f"mixture: {sum(d['per_epoch'] for d in summary['datasets'].values())} sentences an epoch, {summary['types']} types")
    model = SpanModel.build(model_config or SpanModelConfig(), seed=settings.seed)
    batches = epoch_batches(lambda e: mixture.epoch(settings.seed, e), settings.batch_size, settings.seed)
    metrics = train(model, batches, settings, run / "train", progress=progress, describe={"mixture": summary})
    notes = [f"pre-trained on a mixture whose licence is: {summary['licence']}"] if summary["licence"] else []
    predictor = SpanPredictor(
        model,
        training={"stage": "pretrain", "mixture": summary, "settings": settings.__dict__, "metrics": metrics},
        notes=notes,
    )
    predictor.save(run / "model")
    RunDir(run).write_metrics({"pretrain": metrics})
    return predictor, metrics


def sentence_batches(examples: Sequence[Example], batch_size: int, seed: int) -> Callable[[int], list[Example]]:
    """Batches over a small fixed set of examples (adaptation), reshuffled every epoch."""

    def epoch_of(epoch: int) -> list[Example]:
        out = list(examples)
        random.Random(f"{seed}-{epoch}").shuffle(out)
        return out

    return epoch_batches(epoch_of, batch_size, seed)
