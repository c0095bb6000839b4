""":func:`run_job`: a corpus predicted shard by shard on an engine, into one output in input order.

What ``fewner bulk`` runs. The driver (this process) reads the corpus as a stream of shards
(:mod:`fewner.bulk.corpus`), skips the shards a job folder already holds (verified,
:mod:`fewner.bulk.jobdir`), hands the others to the engine (:mod:`fewner.bulk.engines`; the
workers load the model once each and predict), writes each shard as it comes back, and at the
end concatenates the shards in order into the output. Re-running the same call after a crash
or a kill resumes: done shards are not predicted again, and the output is byte-identical to an
uninterrupted run's.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fewner.bulk.corpus import Shard, count_documents, read_shards, sniff_format
from fewner.bulk.engines import Engine, make_engine
from fewner.bulk.jobdir import CONFIG, MANIFEST, METRICS, JobFolder, default_job_dir, output_record
from fewner.bulk.worker import ModelSpec
from fewner.errors import ConfigError

__all__ = ["run_job"]

DEFAULT_SHARD_SIZE = 1000


def run_job(
    input: str | Path,
    output: str | Path,
    model: str | Path,
    *,
    labels: list[str] | None = None,
    options: dict[str, Any] | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    engine: str | Engine = "local",
    engine_options: dict[str, Any] | None = None,
    job_dir: str | Path | None = None,
    input_format: str = "auto",
    include_text: bool = True,
    progress: bool | Callable[[int], object] = False,
    log: Callable[[str], object] = lambda _m: None,
    log_every: float = 30.0,
) -> dict[str, Any]:
    """Predict every document of ``input`` into ``output`` (JSONL, one line per document in
    input order: ``id``, ``text``, ``entities`` as :meth:`Entity.as_dict`, ``meta``); returns
    the metrics (also in ``JOB/metrics.json``).

    ``model``, ``labels`` and ``options`` are what :func:`fewner.load` gets on every worker
    (``labels=None``: the model's own; ``options`` must be JSON values). ``shard_size``:
    documents per shard, the unit of work, of the output files and of resuming. ``engine``:
    ``local`` or ``dask`` (``engine_options``: ``workers``, ``address``, ``in_flight``), or an
    :class:`~fewner.bulk.engines.Engine` already entered (``with DaskEngine(workers=8) as e:``),
    which several jobs can share; it is left running.
    ``job_dir``: the job folder [default: ``OUT.job`` beside ``output``]; a folder holding the
    same job resumes it. ``progress``: a bar with an ETA over shards, or a callable given 1 per
    shard finished; ``log`` gets a status line with the rate and ETA every ``log_every`` seconds
    and the resume notes.
    """
    from fewner.progress import progress_reporter

    started = time.perf_counter()
    if isinstance(engine, Engine):
        if engine_options:
            raise ConfigError("engine_options apply when engine is a name; this engine is built")
        engine_name, engine_cm = engine.name, contextlib.nullcontext(engine)
    else:
        engine_name, engine_cm = engine, None
    source = Path(input).resolve()
    output = Path(output)
    if not source.is_file():
        raise ConfigError(f"{source}: no such corpus file")
    if shard_size < 1:
        raise ConfigError(f"shard_size must be at least 1, got {shard_size}")
    fmt = sniff_format(source) if input_format == "auto" else input_format
    spec = ModelSpec.of(str(model), labels, options)
    job = JobFolder(Path(job_dir) if job_dir is not None else default_job_dir(output))
    identity = {
        "input": str(source),
        "input_bytes": source.stat().st_size,
        "format": fmt,
        "model": spec.model,
        "labels": None if labels is None else list(spec.labels or ()),
        "options": spec.options,
        "shard_size": shard_size,
        "include_text": include_text,
    }
    documents = count_documents(source)
    if documents == 0:
        raise ConfigError(f"{source}: no documents (the file is empty or holds only blank lines)")
    total = math.ceil(documents / shard_size)
    resumed = job.start(identity)
    done = job.verified_done() if resumed else {}
    for problem in job.problems:
        log(problem)
    if resumed:
        log(f"resuming {job.path}: {len(done)} of {total} shards already done")

    counts: Counter[str] = Counter()
    per_worker: Counter[str] = Counter()
    state: dict[str, Any] = {"status": "incomplete", "workers": None}

    def write_metrics() -> dict[str, Any]:
        seconds = time.perf_counter() - started
        predict_seconds = state.get("predict_seconds") or seconds
        metrics = {
            "status": state["status"],
            "documents": documents,
            "shards": total,
            "shard_size": shard_size,
            "shards_done_before": counts["skipped"],
            "shards_predicted": counts["predicted"],
            "documents_predicted": counts["documents"],
            "entities_predicted": counts["entities"],
            "engine": engine_name,
            "workers": state["workers"],
            "setup_seconds": state.get("setup_seconds"),
            "predict_seconds": round(predict_seconds, 3),
            "documents_per_second": round(counts["documents"] / predict_seconds, 2)
            if predict_seconds > 0 and counts["documents"]
            else None,
            "worker_seconds": round(counts["worker_ms"] / 1000, 3),
            "shards_per_worker": dict(sorted(per_worker.items())),
            "seconds": round(seconds, 3),
            "resume_notes": job.problems,
        }
        job.write_json(METRICS, metrics)
        return metrics

    def pending(advance: Callable[[int], object]) -> Iterator[Shard]:
        for shard in read_shards(source, shard_size, fmt):
            entry = done.get(shard.index)
            if entry is None:
                yield shard
                continue
            if entry.get("input_sha256") != shard.digest:
                raise ConfigError(
                    f"{source}: shard {shard.index} (documents from {shard.documents[0].id!r}) "
                    f"differs from the input it was predicted from in {job.path}; the corpus "
                    "changed: give a new job folder to start over"
                )
            counts["skipped"] += 1
            advance(1)

    try:
        with progress_reporter(progress, total, f"bulk ({engine_name}): shards") as advance:
            if len(done) >= total:  # nothing to predict: check the input, start no engine
                for _ in pending(advance):
                    raise ConfigError(f"{job.path}: the manifest and the input disagree")
            else:
                if engine_cm is None:
                    engine_cm = make_engine(engine_name, **(engine_options or {}))
                with engine_cm as runner:
                    loads = runner.load(spec)
                    state["workers"] = len(loads)
                    state["setup_seconds"] = round(time.perf_counter() - started, 3)
                    job.write_json(CONFIG, {
                        "job": identity,
                        "labels_used": loads[0]["labels"],
                        "predictor": {"kind": loads[0]["kind"], **loads[0]["settings"]},
                        "runner": runner.describe(),
                        "workers_loaded": [
                            {"worker": x["worker"], "load_seconds": x["load_seconds"]} for x in loads
                        ],
                        "documents": documents,
                        "shards": total,
                        "resumed": resumed,
                        "manifest": MANIFEST,
                    })
                    log(f"{engine_name}: {len(loads)} worker(s) ready in {state['setup_seconds']:.1f}s; "
                        f"{total - len(done)} of {total} shards to predict")
                    predict_started = time.perf_counter()
                    last_log = predict_started
                    for shard, result in runner.run(spec, pending(advance)):
                        records = [
                            output_record(doc, ents, include_text)
                            for doc, ents in zip(shard.documents, result["entities"], strict=True)
                        ]
                        entry = job.write_shard(shard.index, records, {
                            "input_sha256": shard.digest,
                            "worker": result["worker"],
                            "seconds": result["seconds"],
                        })
                        counts["predicted"] += 1
                        counts["documents"] += entry["documents"]
                        counts["entities"] += entry["entities"]
                        counts["worker_ms"] += round(result["seconds"] * 1000)
                        per_worker[result["worker"]] += 1
                        advance(1)
                        now = time.perf_counter()
                        state["predict_seconds"] = now - predict_started
                        if now - last_log >= log_every:
                            last_log = now
                            log(_status(counts, total, now - predict_started))
        missing = [i for i in range(total) if not job.shard_path(i).is_file()]
        if missing:
            raise ConfigError(f"{job.path}: shards {missing[:5]} were not written; rerun to resume")
        job.assemble(total, output)
        state["status"] = "done"
    finally:
        metrics = write_metrics()
    log(
        f"wrote {output}: {documents} documents in {total} shards "
        f"({counts['skipped']} done before, {counts['predicted']} predicted now) in {metrics['seconds']:.1f}s"
    )
    return metrics


def _status(counts: Counter[str], total: int, seconds: float) -> str:
    """``12/100 shards, 34.5 documents/s, ETA 0:04:12`` (ETA from this run's shard rate)."""
    done = counts["skipped"] + counts["predicted"]
    rate = counts["predicted"] / seconds if seconds > 0 else 0.0
    eta = (total - done) / rate if rate > 0 else float("nan")
    eta_text = time.strftime("%H:%M:%S", time.gmtime(eta)) if math.isfinite(eta) else "?"
    return (
        f"{done}/{total} shards, {counts['documents'] / seconds if seconds > 0 else 0:.1f} "
        f"documents/s, ETA {eta_text}"
    )
