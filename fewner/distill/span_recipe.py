"""Recipe ``span-distill``: a span model from labeled examples plus a teacher's annotations.

``fewner.fit(support, labels, recipe="span-distill", annotations="ann.jsonl")`` (or ``fewner fit
support.txt --recipe span-distill --set annotations=ann.jsonl -o OUT``) trains a
:class:`~fewner.distill.span_student.SpanStudent`, starting from the shipped span model, on the
examples (the original, gold data) and the annotations (``fewner annotate`` outputs of any
teacher: the ICL ensemble, a fine-tuned extractor, an OpenAI-compatible server; only sentences
whose status is in ``statuses`` are used) under a blending schedule of
:mod:`fewner.distill.schedules`, in the distillation loop (:mod:`fewner.distill.trainer`). It is
``fewner distill`` with ``student.kind: span`` for data held in memory; the result is the same
kind of ``span`` model folder.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fewner.errors import ConfigError
from fewner.predictors.base import Predictor
from fewner.recipes import RECIPES
from fewner.types import Sentence

__all__ = ["fit_span_distill", "read_annotations"]

DEFAULT_STATUSES = ("ok", "repaired", "partial")


def read_annotations(
    annotations: Any, labels: Sequence[str], statuses: Sequence[str] = DEFAULT_STATUSES
) -> tuple[list[Sentence], list[dict[str, Any]]]:
    """The annotated sentences (spans of ``labels`` only) and what was read from each file.

    ``annotations``: a ``fewner annotate`` output path, a list of them, or examples in memory
    (Sentences, ``(text, spans)`` pairs, JSONL records; all used)."""
    from fewner.data.examples import as_examples
    from fewner.distill.answers import STATUSES
    from fewner.distill.config import DistilledFile
    from fewner.distill.pipeline import read_distilled

    bad = sorted(set(statuses) - set(STATUSES))
    if bad:
        raise ConfigError(
            f"recipe span-distill: statuses {bad} unknown; expected some of {list(STATUSES)}"
        )
    if isinstance(annotations, str | Path):
        annotations = [annotations]
    items = list(annotations)
    if items and all(isinstance(x, str | Path) for x in items):
        sentences: list[Sentence] = []
        report = []
        for path in items:
            spec = DistilledFile(str(path), statuses=list(statuses))
            kept, counts = read_distilled(spec, list(labels))
            sentences += kept
            report.append({"path": str(path), "kept": len(kept), "statuses": dict(counts)})
        return sentences, report
    wanted = set(labels)
    sentences = [s.with_spans(x for x in s.spans if x.label in wanted) for s in as_examples(items)]
    return sentences, [{"path": "<in memory>", "kept": len(sentences)}]


@RECIPES.register("span-distill")
def fit_span_distill(
    sentences: list[Sentence],
    labels: list[str],
    *,
    annotations: Any = None,
    model: str | Path | None = None,
    label_names: Mapping[str, str] | None = None,
    schedule: Any = "simple_mix",
    mix: str = "sample",
    epochs: int = 4,
    batch_size: int = 16,
    lr: float = 2e-5,
    lr_head: float | None = None,
    lr_decay: float | None = None,
    weight_decay: float = 0.01,
    freeze_layers: int = 0,
    threshold: float | None = None,
    statuses: Sequence[str] = DEFAULT_STATUSES,
    seed: int = 0,
    out: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> Predictor:
    """The span model (``model``: a span model folder or shipped name, default
    ``fewner-span-minilm``; or an encoder, which gets new heads) trained on the examples and
    the teacher's ``annotations`` under ``schedule`` (a name, ``{name: sigmoid, k: 16}`` or
    ``power:0.5``; default ``simple_mix``: annotations for the first half of the epochs, then
    the examples) with ``mix`` ``sample`` or ``loss`` (:mod:`fewner.distill.trainer`).
    ``label_names``: the text each label is read as (``{"PER": "person"}``). ``lr`` is the
    encoder's learning rate, ``lr_head`` the heads' (default 10 x ``lr``). ``out``: the model is
    saved to ``OUT/model``, the training log to ``OUT/run`` (with a checkpoint per epoch while it
    runs; ``resume=True`` continues an interrupted run there)."""
    from fewner.distill.config import MIXES, StudentSpec
    from fewner.distill.schedules import make_schedule, weights_over
    from fewner.distill.span_student import SpanStudent
    from fewner.distill.trainer import TrainSettings, epoch_plan, train_student
    from fewner.progress import progress_reporter

    if annotations is None:
        raise ConfigError(
            "recipe span-distill needs annotations= (a `fewner annotate` output; on the command "
            "line --set annotations=FILE); to learn the examples alone use recipe span"
        )
    chosen = make_schedule(schedule)
    if mix not in MIXES:
        raise ConfigError(f"recipe span-distill: mix {mix!r}; expected {' or '.join(MIXES)}")
    if epochs < 1 or batch_size < 1:
        raise ConfigError("recipe span-distill: epochs and batch_size must be >= 1")
    distilled, report = read_annotations(annotations, labels, statuses)
    weights = weights_over(chosen, epochs)
    if any(wd > 0 for wd, _ in weights) and not distilled:
        raise ConfigError(f"recipe span-distill: no annotated sentence kept from {report}")
    if any(wo > 0 for _, wo in weights) and not sentences:
        raise ConfigError(f"recipe span-distill: schedule {chosen.label} needs labeled examples")
    spec = StudentSpec(
        kind="span", model=str(model) if model is not None else None,
        label_names=dict(label_names or {}), lr_head=lr_head, freeze_layers=freeze_layers,
        threshold=threshold,
    )
    spec.check()
    student = SpanStudent.build(spec, labels, seed)
    settings = TrainSettings(
        epochs=epochs, batch_size=batch_size, lr=lr, lr_decay=lr_decay,
        weight_decay=weight_decay, mix=mix, seed=seed, checkpoint=out is not None,
    )
    plans = [
        epoch_plan(chosen, t, epochs, len(distilled), len(sentences), mix, seed)
        for t in range(epochs)
    ]
    total = sum(math.ceil(len(plan.items) / batch_size) for plan in plans)
    scratch = None if out is not None else tempfile.mkdtemp(prefix="fewner-span-distill-")
    run = Path(out) / "run" if out is not None else Path(scratch or ".")
    try:
        with progress_reporter(progress, total, f"span student ({chosen.label})") as advance:
            summary = train_student(
                student, distilled, sentences, chosen, settings, run, resume=resume,
                on_step=lambda _done, _total: advance(1),
            )
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    training = {
        "recipe": "span-distill",
        "schedule": chosen.label,
        "mix": mix,
        "epochs": epochs,
        "steps": summary["steps"],
        "lr": lr,
        "original": len(sentences),
        "distilled": report,
        "base_model": spec.model,
    }
    predictor = student.finish(training)
    if out is not None:
        predictor.save(Path(out) / "model")
        (run / "checkpoint.pt").unlink(missing_ok=True)  # the model folder is the result
    return predictor
