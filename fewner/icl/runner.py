"""One ``fewner icl`` run: build the ensemble from a config, run it, write every output.

Kept apart from the CLI so that scripts and tests run the same thing the command does.

Outputs beside ``OUT.jsonl``:

* ``OUT.jsonl`` — final predictions (fewner JSONL); ``OUT.unvalidated.jsonl`` — before stage 3;
* ``OUT.answers.jsonl`` — per sentence: demonstrations, each model's proposals, the kept spans
  and every raw answer with what it parsed to, written as the run goes;
* ``OUT.partial.jsonl`` — the final predictions made so far, whole lines flushed as the run
  goes; removed once ``OUT.jsonl`` and ``OUT.unvalidated.jsonl`` are written whole (temp file +
  rename) at the end;
* ``OUT.run/config.json`` (resolved config) and ``OUT.run/metrics.json`` (scores without and
  with self-validation when gold is given, per-model parse failures, timing, cache counts);
* ``OUT.run/cache.sqlite`` — every answer of every model, committed as it comes: a rerun after a
  crash, or with another retrieval or vote setting, computes only what is new.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fewner.backends.base import Backend
from fewner.backends.factory import make_backend
from fewner.eval.pairing import pair_gold
from fewner.icl.config import IclConfig
from fewner.icl.members import build_members, close_members, restrict_pool
from fewner.runs import LineSink, RunDir, atomic_path
from fewner.types import Sentence, Span

__all__ = ["IclOutputs", "build_members", "close_members", "restrict_pool", "run_icl"]


@dataclass(frozen=True)
class IclOutputs:
    predictions: Path
    unvalidated: Path
    answers: Path
    run_dir: Path
    partial: Path | None = None

    @classmethod
    def beside(cls, output: Path, run_dir: Path | None = None) -> IclOutputs:
        stem = output.stem
        return cls(
            predictions=output,
            unvalidated=output.with_name(f"{stem}.unvalidated.jsonl"),
            answers=output.with_name(f"{stem}.answers.jsonl"),
            run_dir=run_dir if run_dir is not None else output.with_name(f"{stem}.run"),
            partial=output.with_name(f"{stem}.partial.jsonl"),
        )


def run_icl(
    config: IclConfig,
    sentences: Sequence[Sentence],
    pool: Sequence[Sentence],
    types: Sequence[str],
    outputs: IclOutputs,
    *,
    definitions: dict[str, str] | None = None,
    gold: Sequence[Sentence] | None = None,
    cache: Path | None = None,
    extra_config: dict[str, Any] | None = None,
    make: Callable[..., Backend] = make_backend,
    encoder: Any = None,
    progress: Callable[[int], object] | None = None,
    log: Callable[[str], object] = lambda _m: None,
) -> dict[str, Any]:
    """Run the ensemble on ``sentences`` with demonstrations from ``pool``; returns the metrics.

    ``encoder``: an :class:`fewner.icl.encoder.Encoder` to use instead of loading
    ``config.retrieval.encoder`` (tests pass a tiny one).
    """
    from fewner.data.formats.jsonl import sentence_record
    from fewner.data.io import write_corpus
    from fewner.predictors.icl import IclPredictor

    settings = config.pipeline_settings()
    run = RunDir(outputs.run_dir)
    _, pool_dropped = restrict_pool(pool, types)
    predictor = IclPredictor(
        config, pool, types, definitions=definitions or {}, cache=cache, make=make,
        encoder=encoder, log=log,
    )
    try:
        pipeline = predictor.pipeline(list(types))
        run.write_config(
            {
                "command": "icl",
                **(extra_config or {}),
                "config": config.to_dict(),
                "resolved": pipeline.settings_dict(),
                "sentences": len(sentences),
                "pool_spans_of_other_types_left_out": pool_dropped,
                "cache": None if cache is None else str(cache),
            }
        )
        final: list[Sentence] = []
        unvalidated: list[Sentence] = []
        partial = outputs.partial or outputs.predictions.with_name(
            f"{outputs.predictions.stem}.partial.jsonl"
        )
        started = time.perf_counter()
        with LineSink(outputs.answers) as sidecar, LineSink(partial) as streamed:
            for part in predictor.iter_predict(sentences, types):
                for sentence, record in zip(part.sentences, part.records, strict=True):
                    final.append(sentence)
                    unvalidated.append(
                        sentence.with_spans(Span(*x) for x in record["unvalidated"])
                    )
                sidecar.write(part.records)
                streamed.write([sentence_record(s) for s in part.sentences])
                if progress is not None:
                    progress(len(part.sentences))
        seconds = time.perf_counter() - started
        counters = predictor.runtime_counters()
        model_stats = predictor.model_stats()
        totals = dict(sorted(pipeline.totals.items()))
    finally:
        predictor.close()

    for path, written in ((outputs.predictions, final), (outputs.unvalidated, unvalidated)):
        with atomic_path(path) as whole:
            write_corpus(written, whole, "jsonl")
    partial.unlink(missing_ok=True)
    metrics: dict[str, Any] = {
        "sentences": len(final),
        "seconds": round(seconds, 3),
        "sentences_per_second": round(len(final) / seconds, 4) if seconds > 0 else None,
        "retrieval_fit_seconds": counters["retrieval_fit_seconds"],
        "model_load_seconds": counters["model_load_seconds"],
        "models": model_stats,
        "cache": counters["cache"],
        "totals": totals,
    }
    if gold is not None:
        from fewner.eval.metrics import score

        paired, _ = pair_gold(gold, final, types)
        metrics["scores"] = {
            "validated": score(paired, final).to_dict() if settings.validate else None,
            "unvalidated": score(paired, unvalidated).to_dict(),
        }
    run.write_metrics(metrics)
    return metrics
