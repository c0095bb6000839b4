"""Predict a data file with any predictor and write every output a run should leave behind.

Two kinds of input: sentences (:func:`predict_file`: any format ``fewner data`` reads, each
sentence predicted whole, as given) and documents (:func:`predict_documents_file`: texts of any
length from :func:`fewner.text.read_documents`, split into sentences and cut to the predictor's
window, one output record per document with its id and entities at document offsets).

Outputs, all beside ``OUT.jsonl``:

* ``OUT.jsonl`` — fewner JSONL, the input sentences (or documents) with predicted
  character-offset entities (gold entities in the input are ignored and not copied;
  ``abstained_types`` on every record when the predictor abstained anywhere or was asked to be
  able to);
* ``OUT.answers.jsonl`` — the predictor's raw records (LLM answers, ICL votes, annotation
  statuses), written as the run goes;
* ``OUT.partial.jsonl`` — while the run goes, the predictions made so far (same records, whole
  lines, flushed batch by batch; ``abstained_types`` only where known yet); removed once
  ``OUT.jsonl`` is written whole at the end (temp file + rename, so ``OUT.jsonl`` is never half
  written). A killed run leaves it behind; re-running the same command (with a language model,
  from its answer cache) writes the same ``OUT.jsonl`` byte for byte;
* ``OUT.run/config.json`` (the predictor's settings, its window and the run's) and
  ``OUT.run/metrics.json`` (counts — for documents also how many sentences were cut into how
  many chunks —, timing, cache counts, and the scores when gold is given).

:func:`predict_file` and :func:`predict_documents_file` are what ``fewner predict`` runs; scripts
and tests call them directly. A full disk or a read-only folder ends in
:class:`fewner.runs.OutputError` naming the file, before any work where it can be known then.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from fewner.predictors.base import Predictions, Predictor
from fewner.text.documents import Document
from fewner.types import Sentence

__all__ = ["answers_path", "partial_path", "predict_documents_file", "predict_file", "run_folder"]


def run_folder(output: Path, run_dir: Path | None = None) -> Path:
    """``run_dir``, else ``OUT.run`` beside the output file."""
    return run_dir if run_dir is not None else output.with_name(output.stem + ".run")


def answers_path(output: Path) -> Path:
    return output.with_name(output.stem + ".answers.jsonl")


def partial_path(output: Path) -> Path:
    """Where the predictions made so far are streamed (``OUT.partial.jsonl``)."""
    return output.with_name(output.stem + ".partial.jsonl")


def predict_file(
    predictor: Predictor,
    sentences: Sequence[Sentence],
    output: Path,
    *,
    labels: Sequence[str] | None = None,
    gold: Sequence[Sentence] | None = None,
    run_dir: Path | None = None,
    config: dict[str, Any] | None = None,
    score_meta: dict[str, Any] | None = None,
    progress: bool | Callable[[int], object] = True,
    log: Callable[[str], object] = lambda _m: None,
) -> tuple[dict[str, Any], Any]:
    """Predict ``sentences`` into ``output`` (module docstring); returns the metrics and the
    scores object (None without ``gold``). ``config``: run facts recorded in config.json next to
    the predictor's settings; ``score_meta``: extra keys of the recorded scores (the gold file)."""
    wanted = predictor.resolve_labels(labels)
    return _run(
        predictor, lambda: predictor.iter_predict(sentences, wanted), len(sentences), "sentences",
        output, wanted, gold, run_dir, config, score_meta, progress, log,
    )


def predict_documents_file(
    predictor: Predictor,
    documents: Sequence[Document],
    output: Path,
    *,
    labels: Sequence[str] | None = None,
    gold: Sequence[Sentence] | None = None,
    run_dir: Path | None = None,
    config: dict[str, Any] | None = None,
    score_meta: dict[str, Any] | None = None,
    progress: bool | Callable[[int], object] = True,
    log: Callable[[str], object] = lambda _m: None,
) -> tuple[dict[str, Any], Any]:
    """Predict ``documents`` (texts of any length, :meth:`Predictor.iter_predict_documents`)
    into ``output``, one record per document (its id, text and entities at document offsets);
    otherwise as :func:`predict_file`. ``gold``: one gold record per document (same ids)."""
    wanted = predictor.resolve_labels(labels)
    return _run(
        predictor, lambda: predictor.iter_predict_documents(documents, wanted), len(documents),
        "documents", output, wanted, gold, run_dir, config, score_meta, progress, log,
    )


def _run(
    predictor: Predictor,
    parts: Callable[[], Iterator[Predictions]],
    total: int,
    unit: str,
    output: Path,
    wanted: list[str],
    gold: Sequence[Sentence] | None,
    run_dir: Path | None,
    config: dict[str, Any] | None,
    score_meta: dict[str, Any] | None,
    progress: bool | Callable[[int], object],
    log: Callable[[str], object],
) -> tuple[dict[str, Any], Any]:
    from fewner.data.formats.jsonl import sentence_record, write_jsonl
    from fewner.progress import progress_reporter
    from fewner.runs import LineSink, RunDir, atomic_path

    window = predictor.window()
    run = RunDir(run_folder(output, run_dir))
    run.write_config(
        {
            **(config or {}),
            "kind": predictor.kind,
            "output": str(output),
            "types": wanted,
            unit: total,
            **predictor.settings(),
            "window": None if window is None else window.as_dict(),
        }
    )
    sidecar_path, partial = answers_path(output), partial_path(output)
    may_abstain = bool(predictor.settings().get("abstain"))

    def streamed(part: Predictions) -> list[dict[str, Any]]:
        records = []
        for sentence in part.sentences:
            record = sentence_record(sentence)
            if may_abstain or sentence.id in part.abstained:
                record["abstained_types"] = list(part.abstained.get(sentence.id, ()))
            records.append(record)
        return records

    result = Predictions()
    started = time.perf_counter()
    with LineSink(sidecar_path) as sidecar, LineSink(partial) as predictions, progress_reporter(
        progress, total, f"predicting {len(wanted)} types"
    ) as advance:
        for part in parts():
            result.add(part)
            sidecar.write(part.records)
            predictions.write(streamed(part))
            advance(len(part.sentences))
    seconds = time.perf_counter() - started
    abstaining = bool(result.abstained) or may_abstain
    with atomic_path(output) as whole:
        write_jsonl(result.sentences, whole, abstained=result.abstained if abstaining else None)
    partial.unlink(missing_ok=True)

    stats = dict(sorted(result.stats.items()))
    counters = predictor.runtime_counters()
    done = len(result.sentences)
    metrics: dict[str, Any] = {unit: done} if unit == "sentences" else {
        "documents": done,
        "sentences": stats.get("sentences", 0),
        "long_sentences_split": stats.get("long_sentences_split", 0),
        "chunks": stats.get("chunks", 0),
    }
    metrics.update(
        {
            "prompts": stats.get("prompts", 0),
            "seconds": round(seconds, 3),
            f"{unit}_per_second": round(done / seconds, 4) if seconds > 0 else None,
            "window": None if window is None else window.as_dict(),
            **counters,
            "stats": stats,
        }
    )
    split = ""
    if unit == "documents":
        split = (f", {stats.get('sentences', 0)} sentences, {metrics['long_sentences_split']} cut "
                 f"into {metrics['chunks']} chunks to fit the window")
    elif stats.get("sentences_over_window"):
        split = f", {stats['sentences_over_window']} longer than the window (predicted whole)"
    log(
        f"wrote {output} ({done} {unit}{split}, {stats.get('spans', 0)} spans) and "
        f"{sidecar_path.name} in {seconds:.1f}s"
        + (
            f"; cache: {counters['cache_hits']} hit(s), {counters['cache_misses']} miss(es)"
            if counters.get("cache_hits") is not None
            else ""
        )
    )
    scores = None
    if gold is not None:
        from fewner.eval.pairing import score_predictions
        from fewner.eval.report import scores_json

        scores, left_out = score_predictions(gold, result.sentences, wanted)
        if left_out:
            log(f"gold: {left_out} span(s) of types not asked for were left out")
        metrics["scores"] = scores_json(
            scores, **(score_meta or {}), gold_spans_left_out=left_out
        )
    run.write_metrics(metrics)
    return metrics, scores
