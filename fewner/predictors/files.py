"""Predict a data file with any predictor and write every output a run should leave behind.

Outputs, all beside ``OUT.jsonl``:

* ``OUT.jsonl`` — fewner JSONL, the input sentences with predicted character-offset entities
  (gold entities in the input are ignored and not copied; ``abstained_types`` on every record
  when the predictor abstained anywhere or was asked to be able to);
* ``OUT.answers.jsonl`` — the predictor's raw records (LLM answers, ICL votes, annotation
  statuses), written as the run goes;
* ``OUT.run/config.json`` (the predictor's settings and the run's) and ``OUT.run/metrics.json``
  (counts, timing, cache counts, and the scores when gold is given).

:func:`predict_file` is what ``fewner predict`` runs; scripts and tests call it directly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fewner.predictors.base import Predictions, Predictor
from fewner.types import Sentence

__all__ = ["answers_path", "predict_file", "run_folder"]


def run_folder(output: Path, run_dir: Path | None = None) -> Path:
    """``run_dir``, else ``OUT.run`` beside the output file."""
    return run_dir if run_dir is not None else output.with_name(output.stem + ".run")


def answers_path(output: Path) -> Path:
    return output.with_name(output.stem + ".answers.jsonl")


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
    from fewner.data.formats.jsonl import write_jsonl
    from fewner.runs import RunDir

    wanted = predictor.resolve_labels(labels)
    run = RunDir(run_folder(output, run_dir))
    run.write_config(
        {
            **(config or {}),
            "kind": predictor.kind,
            "output": str(output),
            "types": wanted,
            "sentences": len(sentences),
            **predictor.settings(),
        }
    )
    sidecar_path = answers_path(output)
    sidecar_path.parent.mkdir(parents=True, exist_ok=True)
    result = Predictions()
    started = time.perf_counter()
    from fewner.progress import progress_reporter

    with sidecar_path.open("w", encoding="utf-8") as sidecar, progress_reporter(
        progress, len(sentences), f"predicting {len(wanted)} types"
    ) as advance:
        for part in predictor.iter_predict(sentences, wanted):
            result.add(part)
            for record in part.records:
                sidecar.write(json.dumps(record, ensure_ascii=False) + "\n")
            sidecar.flush()
            advance(len(part.sentences))
    seconds = time.perf_counter() - started
    abstaining = bool(result.abstained) or bool(predictor.settings().get("abstain"))
    write_jsonl(result.sentences, output, abstained=result.abstained if abstaining else None)

    stats = dict(sorted(result.stats.items()))
    counters = predictor.runtime_counters()
    metrics: dict[str, Any] = {
        "sentences": len(result.sentences),
        "prompts": stats.get("prompts", 0),
        "seconds": round(seconds, 3),
        "sentences_per_second": round(len(result.sentences) / seconds, 4) if seconds > 0 else None,
        **counters,
        "stats": stats,
    }
    log(
        f"wrote {output} ({len(result.sentences)} sentences, {stats.get('spans', 0)} spans) and "
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
