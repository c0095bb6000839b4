"""One ``fewner icl`` run: build the ensemble from a config, run it, write every output.

Kept apart from the CLI so that scripts and tests run the same thing the command does.

Outputs beside ``OUT.jsonl``:

* ``OUT.jsonl`` — final predictions (fewner JSONL); ``OUT.unvalidated.jsonl`` — before stage 3;
* ``OUT.answers.jsonl`` — per sentence: demonstrations, each model's proposals, the kept spans
  and every raw answer with what it parsed to, written as the run goes;
* ``OUT.run/config.json`` (resolved config) and ``OUT.run/metrics.json`` (scores without and
  with self-validation when gold is given, per-model parse failures, timing, cache counts);
* ``OUT.run/cache.sqlite`` — every answer of every model, committed as it comes: a rerun after a
  crash, or with another retrieval or vote setting, computes only what is new.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fewner.backends.base import Backend
from fewner.backends.factory import make_backend
from fewner.errors import ConfigError
from fewner.icl.config import IclConfig
from fewner.icl.pipeline import IclPipeline, Member
from fewner.icl.prompts import IclPrompter
from fewner.icl.retrieval import RETRIEVERS, make_retriever
from fewner.runs import RunDir
from fewner.types import Sentence

__all__ = ["IclOutputs", "build_members", "close_members", "restrict_pool", "run_icl"]


@dataclass(frozen=True)
class IclOutputs:
    predictions: Path
    unvalidated: Path
    answers: Path
    run_dir: Path

    @classmethod
    def beside(cls, output: Path, run_dir: Path | None = None) -> IclOutputs:
        stem = output.stem
        return cls(
            predictions=output,
            unvalidated=output.with_name(f"{stem}.unvalidated.jsonl"),
            answers=output.with_name(f"{stem}.answers.jsonl"),
            run_dir=run_dir if run_dir is not None else output.with_name(f"{stem}.run"),
        )


def build_members(
    config: IclConfig,
    cache: Path | None,
    make: Callable[..., Backend] = make_backend,
    log: Callable[[str], object] = lambda _m: None,
) -> list[Member]:
    """One backend per configured model (each wrapped in the shared cache when given).

    With ``config.parallel`` each model gets its own worker thread and its backend is created
    on it, so thread-bound resources (the cache's SQLite connection) stay on one thread.
    """
    members: list[Member] = []
    seen: dict[str, int] = {}
    try:
        for spec in config.models:
            kind = spec.backend or config.backend
            options = {**(config.backend_options if kind == config.backend else {}), **spec.options}
            base = spec.name or spec.model
            seen[base] = seen.get(base, 0) + 1
            name = base if seen[base] == 1 else f"{base}#{seen[base]}"
            log(f"loading {name} ({kind})")
            worker = (
                ThreadPoolExecutor(1, thread_name_prefix=f"icl-{name}") if config.parallel else None
            )
            try:
                if worker is None:
                    backend = make(kind, spec.model, cache=cache, **options)
                else:
                    backend = worker.submit(make, kind, spec.model, cache=cache, **options).result()
            except BaseException:
                if worker is not None:
                    worker.shutdown()
                raise
            members.append(Member(name, backend, spec.weight, worker))
    except BaseException:
        close_members(members)
        raise
    return members


def close_members(members: Sequence[Member]) -> None:
    """Close every backend (on its worker thread when it has one) and stop the workers."""
    for m in members:
        if m.worker is None:
            m.backend.close()
        else:
            m.worker.submit(m.backend.close).result()
            m.worker.shutdown()


def restrict_pool(pool: Sequence[Sentence], types: Sequence[str]) -> tuple[list[Sentence], int]:
    """Pool sentences with only the spans of ``types``; also how many spans were left out."""
    wanted = set(types)
    dropped = sum(1 for s in pool for sp in s.spans if sp.label not in wanted)
    return [s.with_spans(sp for sp in s.spans if sp.label in wanted) for s in pool], dropped


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
    from fewner.data.io import write_corpus

    settings = config.pipeline_settings()
    run = RunDir(outputs.run_dir)
    pool, pool_dropped = restrict_pool(pool, types)
    method = config.retrieval.method
    if method not in RETRIEVERS:
        raise ConfigError(
            f"retrieval.method: unknown {method!r}; known: {', '.join(RETRIEVERS.names())}"
        )
    started = time.perf_counter()
    if RETRIEVERS[method].needs_encoder and encoder is None:
        from fewner.icl.encoder import SentenceTransformerEncoder

        encoder = SentenceTransformerEncoder(
            config.retrieval.encoder, threads=config.retrieval.encoder_threads
        )
    retriever = make_retriever(
        method,
        encoder=encoder,
        seed=config.seed,
        max_words=config.retrieval.max_words,
        max_candidates=config.retrieval.max_candidates,
    ).fit(pool)
    retrieval_fit_s = time.perf_counter() - started
    prompter = IclPrompter(tuple(types), definitions or {})

    started = time.perf_counter()
    members = build_members(config, cache, make=make, log=log)
    load_s = time.perf_counter() - started
    try:
        pipeline = IclPipeline(members, prompter, retriever, settings)
    except BaseException:
        close_members(members)
        raise
    try:
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
        outputs.answers.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with outputs.answers.open("w", encoding="utf-8") as sidecar:
            for result in pipeline.run(sentences, progress=progress):
                final.append(result.final)
                unvalidated.append(result.unvalidated)
                record = {
                    "sentence_id": result.sentence.id,
                    "demonstrations": result.demonstrations,
                    "proposals": result.proposals,
                    "kept": result.kept,
                    "unvalidated": [[s.start, s.end, s.label] for s in result.unvalidated.spans],
                    "final": [[s.start, s.end, s.label] for s in result.final.spans],
                    "answers": result.answers,
                }
                sidecar.write(json.dumps(record, ensure_ascii=False) + "\n")
                sidecar.flush()
        seconds = time.perf_counter() - started
        cache_counts = {
            m.name: {
                "hits": getattr(m.backend, "hits", None),
                "misses": getattr(m.backend, "misses", None),
            }
            for m in members
        }
        model_stats = pipeline.model_stats()
        totals = dict(sorted(pipeline.totals.items()))
    finally:
        pipeline.close()
        close_members(members)

    write_corpus(final, outputs.predictions, "jsonl")
    write_corpus(unvalidated, outputs.unvalidated, "jsonl")
    metrics: dict[str, Any] = {
        "sentences": len(final),
        "seconds": round(seconds, 3),
        "sentences_per_second": round(len(final) / seconds, 4) if seconds > 0 else None,
        "retrieval_fit_seconds": round(retrieval_fit_s, 3),
        "model_load_seconds": round(load_s, 3),
        "models": model_stats,
        "cache": cache_counts,
        "totals": totals,
    }
    if gold is not None:
        from fewner.eval.metrics import score
        from fewner.eval.pairing import pair_gold

        paired, _left_out = pair_gold(gold, final, types)
        metrics["scores"] = {
            "validated": score(paired, final).to_dict() if settings.validate else None,
            "unvalidated": score(paired, unvalidated).to_dict(),
        }
    run.write_metrics(metrics)
    return metrics
