"""``fewner predict --student DIR``: label a data file with a trained distillation student.

Kept apart from :mod:`fewner.cli.predict_cmd` (language-model prediction) because nothing of
the prompting path applies: the student is a token classifier with its own types. Outputs
follow ``fewner predict``: ``OUT.jsonl`` (fewner JSONL with character offsets) and ``OUT.run/``
(``config.json``; ``metrics.json`` with speed, and P/R/F1 when ``--gold`` is given).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fewner.cli.common import err, out, report_read
from fewner.cli.options import run_folder


def predict_with_student(
    student_dir: Path,
    input_path: Path,
    output: Path,
    *,
    input_format: str = "auto",
    limit: int | None = None,
    gold: Path | None = None,
    batch_size: int = 64,
    run_dir: Path | None = None,
    threads: int | None = None,
    quantize: bool = False,
) -> dict[str, Any]:
    """Predict, write the outputs, print scores; returns the metrics."""
    import torch

    from fewner.data.io import read_corpus, write_corpus
    from fewner.distill.student import Student
    from fewner.runs import RunDir

    corpus = read_corpus(input_path, format=input_format)
    report_read(corpus)
    sentences = corpus.sentences[:limit] if limit is not None else corpus.sentences
    gold_sentences = None
    if gold is not None:
        gold_corpus = read_corpus(gold)
        report_read(gold_corpus)
        gold_sentences = gold_corpus.sentences
    if threads is not None:
        torch.set_num_threads(threads)
    with err.status(f"loading student {student_dir}"):
        student = Student.load(student_dir)
        if quantize:
            student.quantize()
    run = RunDir(run_folder(output, run_dir))
    run.write_config(
        {
            "command": "predict",
            "student": str(student_dir),
            "input": str(input_path),
            "input_format": input_format,
            "output": str(output),
            "limit": limit,
            "gold": None if gold is None else str(gold),
            "batch_size": batch_size,
            "threads": torch.get_num_threads(),
            "quantize": quantize,
            "types": student.types,
            "sentences": len(sentences),
        }
    )
    started = time.perf_counter()
    with err.status(f"predicting {len(sentences)} sentences"):
        predictions = student.predict(sentences, batch_size)
    seconds = time.perf_counter() - started
    write_corpus(predictions, output, "jsonl")
    spans = sum(len(p.spans) for p in predictions)
    metrics: dict[str, Any] = {
        "sentences": len(predictions),
        "spans": spans,
        "seconds": round(seconds, 3),
        "sentences_per_second": round(len(predictions) / seconds, 2) if seconds > 0 else None,
    }
    err.print(
        f"wrote {output} ({len(predictions)} sentences, {spans} spans) in {seconds:.2f}s "
        f"({metrics['sentences_per_second']} sentences/s, {torch.get_num_threads()} threads)"
    )
    if gold_sentences is not None:
        from fewner.cli.predict_cmd import _gold_for
        from fewner.eval.metrics import score
        from fewner.eval.report import scores_json, scores_renderable

        paired, left_out = _gold_for(gold_sentences, predictions, student.types)
        scores = score(paired, predictions)
        metrics["scores"] = scores_json(scores, gold=str(gold), gold_spans_left_out=left_out)
        out.print(
            scores_renderable(
                scores, title=f"{output.name} vs {gold.name} ({scores.sentences} sentences)"
            )
        )
    run.write_metrics(metrics)
    err.print(f"run folder: {run.path}")
    return metrics
