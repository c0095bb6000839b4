"""One distillation run: read the data, train the student under its schedule, test it.

Run folder::

    RUN/config.json              the resolved config (group applied, defaults filled in)
    RUN/data.json                what was read: sentences per set, statuses kept and dropped
    RUN/log.jsonl                step and epoch records (see fewner.distill.trainer)
    RUN/checkpoint.pt            the latest finished epoch (resume with --resume)
    RUN/student/                 the trained student (fewner predict --student RUN/student);
                                 a span student's is a model folder (fewner.load, --model)
    RUN/test/predictions.jsonl   test predictions with character offsets
    RUN/metrics.json             training summary, test scores, test inference speed

Everything that can fail cheaply (config, files, types) fails before the encoder loads.
``student.kind`` chooses the student: ``token`` (:class:`fewner.distill.student.Student`) or
``span`` (:class:`fewner.distill.span_student.SpanStudent`); both train in the same loop.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fewner.data.spec import DataSpec
from fewner.distill.config import DistillConfig, DistilledFile, config_dict
from fewner.errors import ConfigError
from fewner.runs import RunDir, write_json_atomic
from fewner.types import Sentence

__all__ = ["build_student", "read_distilled", "read_labelled", "run_distill"]

Log = Callable[[str], None]


def read_labelled(config: DistillConfig, spec: DataSpec) -> list[Sentence]:
    """The sentences a labelled data spec selects (``skip``, then ``limit``), spans restricted
    to the spec's ``types`` (default: the run's)."""
    wanted = set(spec.types if spec.types is not None else config.types)
    sentences = spec.sentences(config.data_root)
    return [s.with_spans(x for x in s.spans if x.label in wanted) for s in sentences]


def read_distilled(spec: DistilledFile, types: list[str]) -> tuple[list[Sentence], Counter[str]]:
    """Sentences of a ``fewner annotate`` output whose status is kept, and counts by status."""
    from fewner.data.io import read_corpus

    path = Path(spec.path).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"distilled file not found: {path}; create it with `fewner annotate INPUT -o {path}` "
            "(see experiments/distill_conll.sh)"
        )
    corpus = read_corpus(path, format="jsonl")  # validates every record, names bad lines
    records = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    statuses = Counter(str(r.get("status", "ok")) for r in records)
    keep = set(spec.statuses)
    kept = [
        s.with_spans(x for x in s.spans if x.label in types)
        for s, r in zip(corpus.sentences, records, strict=True)
        if str(r.get("status", "ok")) in keep
    ]
    if spec.limit is not None:
        kept = kept[: spec.limit]
    return kept, statuses


def build_student(config: DistillConfig) -> Any:
    """The untrained student of ``config.student`` (its kind, model and options)."""
    spec = config.student
    if spec.kind == "span":
        from fewner.distill.span_student import SpanStudent

        return SpanStudent.build(spec, config.types, config.seed)
    from fewner.distill.config import DEFAULT_STUDENT_MODELS
    from fewner.distill.student import Student

    return Student.build(
        spec.model or DEFAULT_STUDENT_MODELS["token"],
        config.types,
        spec.max_length,
        spec.layers,
        config.seed,
    )


def run_distill(
    config: DistillConfig,
    out: Path,
    *,
    resume: bool = False,
    log: Log = print,
    progress: Any = None,
) -> dict[str, Any]:
    """Run ``config`` into folder ``out``; returns the metrics written to ``metrics.json``."""
    import time

    import torch

    from fewner.distill.trainer import TrainSettings, train_student
    from fewner.eval.metrics import score
    from fewner.eval.report import scores_json

    previous = Path(out) / "config.json"
    if previous.is_file() and not resume:
        raise ConfigError(
            f"{out} already holds a run; continue it with --resume or pick another --out"
        )
    run = RunDir(out)
    resolved = config_dict(config)
    if resume and previous.is_file():
        old = _normalised(json.loads(previous.read_text(encoding="utf-8")))
        if old != json.loads(json.dumps(resolved)):
            raise ConfigError(f"--resume: the config differs from the one {out} started with")
    run.write_config(resolved)

    # --- data: everything that can fail cheaply, before the encoder loads ----------------
    original = read_labelled(config, config.original) if config.original is not None else []
    distilled: list[Sentence] = []
    data_report: dict[str, Any] = {"original": len(original), "distilled": []}
    for spec in config.distilled:
        kept, statuses = read_distilled(spec, config.types)
        distilled += kept
        data_report["distilled"].append(
            {"path": spec.path, "kept": len(kept), "statuses": dict(statuses)}
        )
    test = read_labelled(config, config.test) if config.test is not None else []
    data_report["test"] = len(test)
    write_json_atomic(run.file("data.json"), data_report)
    log(f"data: {len(original)} original, {len(distilled)} distilled, {len(test)} test sentences")

    if config.threads is not None:
        torch.set_num_threads(config.threads)
    schedule = config.resolved_schedule()
    student = build_student(config)
    settings = TrainSettings(
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        lr_decay=config.lr_decay,
        weight_decay=config.weight_decay,
        mix=config.mix,
        seed=config.seed,
        checkpoint=config.checkpoint,
    )
    dev = read_labelled(config, config.dev) if config.dev is not None else []

    def on_epoch(record: dict[str, Any]) -> None:
        if dev:
            scores = score(dev, student.predict(dev, config.predict_batch_size))
            record["dev_f1"] = round(scores.micro.f1, 5)
            with run.file("log.jsonl").open("a", encoding="utf-8") as handle:
                handle.write(
                    json.dumps({"event": "dev", "epoch": record["epoch"], "f1": record["dev_f1"]})
                    + "\n"
                )
        log(
            f"epoch {record['epoch'] + 1}/{config.epochs}: w_distilled {record['w_distilled']:.3f}, "
            f"w_original {record['w_original']:.3f}, {record['distilled_examples']} distilled + "
            f"{record['original_examples']} original, loss {record['mean_loss']}, {record['seconds']:.0f}s"
            + (f", dev F1 {record['dev_f1']:.4f}" if "dev_f1" in record else "")
        )

    on_step = None
    if progress is not None:
        task = progress.add_task(f"training ({schedule.label})", total=None)

        def on_step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

    summary = train_student(
        student,
        distilled,
        original,
        schedule,
        settings,
        run.path,
        resume=resume,
        on_step=on_step,
        on_epoch=on_epoch,
    )
    if config.student.kind == "span":
        student.save(run.file("student"), training=_distill_record(config, data_report, summary))
    else:
        student.save(run.file("student"))
    metrics: dict[str, Any] = {
        "group": config.group,
        "schedule": schedule.label,
        "data": data_report,
        "training": summary,
    }
    if test:
        started = time.perf_counter()
        predictions = student.predict(test, config.predict_batch_size)
        seconds = time.perf_counter() - started
        from fewner.data.io import write_corpus

        write_corpus(predictions, run.file("test") / "predictions.jsonl", "jsonl")
        scores = score(test, predictions)
        assert config.test is not None
        where = config.test.describe() if config.test.path is None else config.data_path(config.test)
        metrics["test"] = scores_json(scores, path=str(where))
        metrics["test_inference"] = {
            "sentences": len(test),
            "seconds": round(seconds, 3),
            "sentences_per_second": round(len(test) / seconds, 2) if seconds > 0 else None,
            "threads": torch.get_num_threads(),
            "batch_size": config.predict_batch_size,
        }
        log(
            f"test: micro F1 {scores.micro.f1:.4f} (P {scores.micro.precision:.4f}, "
            f"R {scores.micro.recall:.4f}) on {len(test)} sentences; {len(test) / seconds:.1f} sentences/s"
        )
    run.write_metrics(metrics)
    return metrics


def _distill_record(
    config: DistillConfig, data: dict[str, Any], summary: dict[str, Any]
) -> dict[str, Any]:
    """What a span student's manifest records of its distillation run."""
    return {
        "schedule": config.resolved_schedule().label,
        "mix": config.mix,
        "epochs": config.epochs,
        "steps": summary.get("steps"),
        "lr": config.lr,
        "original": data.get("original", 0),
        "distilled": [{"path": d["path"], "kept": d["kept"]} for d in data.get("distilled", [])],
        "base_model": config.student.model,
    }


def _normalised(old: dict[str, Any]) -> dict[str, Any]:
    """A stored ``config.json`` as the current loader resolves it: a run started before a key
    got a default (e.g. a data spec's ``skip``) still resumes when nothing else changed."""
    from fewner.config_schema import build_dataclass

    old.pop("_run", None)
    try:
        return json.loads(json.dumps(config_dict(build_dataclass(DistillConfig, old))))
    except ConfigError:
        return old  # compared as stored: the run's config differs
