"""Annotate sentences with a teacher and write what ``fewner distill`` reads, as the run goes.

Outputs, beside ``OUT.jsonl``: ``OUT.jsonl`` (one annotation record per sentence: fewner JSONL
plus ``status``, ``dropped`` and the raw ``answer``, written batch by batch, so a crash keeps
what was done) and ``OUT.run/`` (``config.json``; ``metrics.json`` with status counts, parse and
placement counts, speed, cache counts and, with gold, P/R/F1). This is what ``fewner annotate``
runs; the teacher is any :class:`~fewner.predictors.annotator.AnnotatorPredictor`.

A killed run leaves whole lines only (each batch is written and flushed at once); re-running the
same command rewrites ``OUT.jsonl`` from the start, from the teacher's answer cache, byte for
byte. A full disk or a read-only folder: :class:`fewner.runs.OutputError` naming the file.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fewner.types import Sentence

__all__ = ["DROP_REASONS", "annotate_file"]

#: Stats keys that count mentions an answer named but annotation could not place.
DROP_REASONS = ("not_found", "unaligned", "overlap", "unknown_type", "bad_value")


def annotate_file(
    teacher: Any,
    sentences: Sequence[Sentence],
    output: Path,
    *,
    labels: Sequence[str],
    gold: Sequence[Sentence] | None = None,
    run_dir: Path | None = None,
    config: dict[str, Any] | None = None,
    score_meta: dict[str, Any] | None = None,
    progress: bool | Callable[[int], object] = True,
) -> tuple[dict[str, Any], Any]:
    """Annotate ``sentences`` into ``output`` (module docstring); returns the metrics and the
    scores object (None without ``gold``)."""
    from fewner.predictors.files import run_folder
    from fewner.progress import progress_reporter
    from fewner.runs import LineSink, RunDir

    wanted = teacher.resolve_labels(labels)
    run = RunDir(run_folder(output, run_dir))
    run.write_config(
        {**(config or {}), "output": str(output), "sentences": len(sentences), **teacher.settings()}
    )
    stats: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    annotated: list[Sentence] = []
    started = time.perf_counter()
    with LineSink(output) as sink, progress_reporter(
        progress, len(sentences), f"annotating ({teacher.style})"
    ) as advance:
        for part in teacher.iter_predict(sentences, wanted):
            for sentence, record in zip(part.sentences, part.records, strict=True):
                statuses[record["status"]] += 1
                annotated.append(sentence)
            sink.write(part.records)
            stats.update(part.stats)
            advance(len(part.sentences))
    seconds = time.perf_counter() - started
    metrics: dict[str, Any] = {
        "sentences": len(annotated),
        "statuses": dict(statuses),
        "stats": dict(sorted(stats.items())),
        "seconds": round(seconds, 3),
        "sentences_per_second": round(len(annotated) / seconds, 4) if seconds > 0 else None,
        **teacher.runtime_counters(),
    }
    scores = None
    if gold is not None:
        from fewner.eval.pairing import score_predictions
        from fewner.eval.report import scores_json

        scores, left_out = score_predictions(gold, annotated, wanted)
        metrics["scores"] = scores_json(scores, **(score_meta or {}), gold_spans_left_out=left_out)
    run.write_metrics(metrics)
    return metrics, scores
