"""One pipeline from a few examples to a deployed model: the support set and unlabeled in-domain
text go in; the teacher labels the text, a student learns from both, and the run says how the
teacher, the student from the support set alone and the distilled student compare.

::

    import fewner.distill.from_support as fs
    model = fs.distill_from_support("support.txt", "pool.txt", teacher="span",
                                    test="test.txt", out="runs/pipeline")
    model.predict("Apple hired Tim in Cupertino.")

Stages, each resumed by rerunning the same call (or command) with the same ``out``:

1. read the support set, the pool (:mod:`fewner.distill.pool`) and the test file; a pool that
   holds the test text is refused; everything that can fail cheaply fails before a model loads;
2. the teacher (:func:`fewner.distill.teacher_labels.make_teacher`) labels the pool into
   ``RUN/teacher/labels.jsonl`` (:func:`~fewner.distill.teacher_labels.label_pool`: a rerun
   asks only for what is missing), and is scored on the test file (``RUN/teacher/test.json``);
3. with ``verify.by`` support-only (the default for a span student): the span student adapted
   to the support set alone (``RUN/support-only``) checks the teacher's labels
   (:mod:`fewner.distill.verify`: ``RUN/teacher/verified-labels.jsonl``);
4. the student learns from support + (checked) teacher labels under the schedule
   (:func:`fewner.distill.pipeline.run_distill` in ``RUN/train``, resumed from its last epoch),
   and is saved as ``RUN/model`` (``fewner.load``, ``fewner predict --model``);
5. with a test file and ``evaluate.support_only``: the student from the support set alone is
   scored too (the baseline row);
6. ``RUN/metrics.json``: the three rows (F1, P, R, sentences/s) and what each stage did.

A run folder holds one config (``RUN/config.json``): a rerun with another config is refused.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fewner.distill.from_support_config import (
    FromSupportConfig,
    config_dict,
    load_from_support_config,
)
from fewner.errors import ConfigError
from fewner.recipes import RECIPES
from fewner.runs import RunDir, write_json_atomic, write_text_atomic
from fewner.types import Sentence

__all__ = ["ROWS", "distill_from_support", "fit_distill_from", "read_labelled", "results_table",
           "run_from_support"]

Log = Callable[[str], object]
#: The rows of the results table, in order: key in ``metrics["results"]`` -> what it is.
ROWS = {
    "teacher": "teacher",
    "support_only": "student, support set only",
    "student": "student, support + teacher labels",
}


def distill_from_support(
    support: Any,
    pool: str | Path,
    *,
    teacher: Any = "icl-fast",
    labels: Sequence[str] | None = None,
    student: str | Mapping[str, Any] = "span",
    test: str | Path | None = None,
    out: str | Path,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    progress: bool = True,
    log: Log = print,
    **values: Any,
) -> Any:
    """Run the pipeline (module docstring) into ``out`` and return the saved student.

    ``support``: a data file, or examples in memory (Sentences, ``(text, spans)`` pairs, JSONL
    records); ``pool``: unlabeled text (never the test text); ``teacher``: a recipe name
    (``icl-fast``, ``icl``, ``span``, ``dictionary``), ``openai:MODEL`` (with ``base_url=`` in
    ``values["teacher"]``), a model ``fewner.load`` takes, or a ready
    :class:`~fewner.predictors.base.Predictor`; ``student``: ``span`` or ``token``, or the
    config's ``student`` mapping (``{"kind": "token", "layers": 3}``);
    ``values``: other config keys (``pool={"limit": 500}``, ``epochs=2``); ``config`` a YAML
    file and ``overrides`` ``KEY=VALUE`` strings, as on the command line."""
    import fewner

    given: dict[str, Any] = dict(values)
    if isinstance(support, str | Path):
        given["support"] = {"path": str(support)}
    else:
        from fewner.data.examples import as_examples

        given["support"] = {"inline": as_examples(support)}
    given["pool"] = {**dict(given.get("pool") or {}), "path": str(pool)}
    teacher_object = None
    if isinstance(teacher, str):
        given["teacher"] = {**dict(given.get("teacher") or {}), "use": teacher}
    else:
        teacher_object = teacher
        given["teacher"] = {**dict(given.get("teacher") or {}), "use": f"<{teacher.kind} object>"}
    if isinstance(student, Mapping):
        given["student"] = {**dict(given.get("student") or {}), **dict(student)}
    else:
        given["student"] = {**dict(given.get("student") or {}), "kind": student}
    if labels is not None:
        given["types"] = list(labels)
    if test is not None:
        given["test"] = {"path": str(test)}
    resolved = load_from_support_config(config, overrides, values=given)
    run_from_support(resolved, Path(out), teacher=teacher_object, progress=progress, log=log)
    return fewner.load(Path(out) / "model")


def run_from_support(
    config: FromSupportConfig,
    out: Path,
    *,
    teacher: Any = None,
    progress: bool = True,
    log: Log = print,
) -> dict[str, Any]:
    """Run ``config`` into ``out`` (module docstring); returns what ``metrics.json`` holds.
    ``teacher``: a ready predictor instead of the one ``config.teacher`` names."""
    from fewner.distill.pool import check_not_test, read_pool_sources
    from fewner.distill.teacher_labels import label_pool, make_teacher

    out = Path(out)
    resolved = json.loads(json.dumps(config_dict(config), default=str))
    previous = out / "config.json"
    if previous.is_file() and json.loads(previous.read_text(encoding="utf-8")) != resolved:
        raise ConfigError(
            f"{out} holds a run with another config (its config.json); rerun the same "
            "command to resume it, or pick another --out"
        )

    # --- 1. data: everything that fails cheaply --------------------------------------------
    support, labels, test = read_labelled(config)
    pool, pool_report = read_pool_sources(
        [(config.resolve(x.path), x.format, x.limit, x.seed) for x in config.pool.sources()],
        min_words=config.pool.min_words,
    )
    pool_report["test_sentences_in_pool"] = check_not_test(
        pool, test, log, pool_name=f"pool {config.pool.path}",
        test_name=f"test {config.test.describe() if config.test else ''}",
    )
    pool_report["support_sentences_in_pool"] = _overlap(pool, support)
    run = RunDir(out)  # after the cheap checks: a refused run leaves no folder
    write_json_atomic(run.file("pool.json"), pool_report)
    write_json_atomic(previous, resolved)
    log(f"data: {len(support)} support sentences ({', '.join(labels)}), {len(pool)} pool "
        f"sentences, {len(test)} test sentences")

    # --- 2. the teacher labels the pool, then is scored ---------------------------------------
    teacher_dir = run.file("teacher")
    labels_path = teacher_dir / "labels.jsonl"
    metrics: dict[str, Any] = {"pool": pool_report, "labels": labels}
    if config.threads is not None:
        import torch

        torch.set_num_threads(config.threads)
    owned = teacher is None
    if owned and not _teacher_done(pool, labels_path, teacher_dir, bool(test)):
        log(f"teacher: {config.teacher.use}")
        teacher = make_teacher(config.teacher, support, labels, cache=teacher_dir / "cache.sqlite",
                               folder=teacher_dir / "fit", progress=progress)
    elif owned:
        teacher = _Finished()
    try:
        labelling = label_pool(
            teacher, pool, labels, labels_path, batch_size=config.teacher.batch_size,
            progress=progress, log=log,
        )
        metrics["teacher_labelling"] = _labelling_so_far(teacher_dir / "labelling.json", labelling)
        log(f"teacher labels: {labels_path} ({metrics['teacher_labelling']['statuses']})")
        results: dict[str, Any] = {}
        if test:
            results["teacher"] = _teacher_scores(teacher, test, labels, config, teacher_dir, log)
    finally:
        if owned:
            teacher.close()

    # --- 3. the support-only student checks the teacher's labels ---------------------------
    learned = _pool_labels(pool, labels_path, teacher_dir / "pool-labels.jsonl", log)
    verifier = None
    if config.verify.resolved(config.student.kind, _teacher_is_support_only(config)) != "none":
        from fewner.distill.verify import verify_labels

        verifier = _support_only_model(config, support, labels, run.file("support-only"),
                                       progress, log)
        checked = teacher_dir / "verified-labels.jsonl"
        metrics["verify"] = verify_labels(
            learned, pool, labels, verifier, checked, keep_above=config.verify.keep_above,
            add_above=config.verify.add_above, progress=progress,
        )
        v = metrics["verify"]
        log(f"verified by the support-only student: {v['kept']} of {v['teacher_spans']} teacher "
            f"spans kept, {v['added']} of its own added ({checked})")
        learned = checked

    # --- 4. the student on support + (checked) teacher labels -------------------------------
    student_metrics = _train(config, support, labels, learned, test, run.file("train"),
                             distilled=True, progress=progress, log=log)
    model = run.file("model")
    trained = run.file("train") / "student"
    if trained.is_dir():
        os.replace(trained, model)  # RUN/model is the result; train/ keeps the log
        (run.file("train") / "checkpoint.pt").unlink(missing_ok=True)
    metrics["training"] = student_metrics.get("training")
    if test:
        results["student"] = _row(student_metrics)

    # --- 5. the student from the support set alone ------------------------------------------
    if test and config.evaluate.support_only:
        results["support_only"] = _support_only(config, support, labels, test,
                                                run.file("support-only"), progress, log,
                                                model=verifier)
    metrics["results"] = results
    metrics["model"] = str(model)
    run.write_metrics(metrics)
    return metrics


def read_labelled(config: FromSupportConfig) -> tuple[list[Sentence], list[str], list[Sentence]]:
    """The support set, the run's labels (``types``, else the support set's) and the test
    sentences (empty without a test file), spans of other labels left out."""
    assert config.support is not None
    support, labels = config.support.sentences_and_types(config.data_root)
    if config.types is not None:
        labels = list(config.types)
        support = [s.with_spans(x for x in s.spans if x.label in labels) for s in support]
    test: list[Sentence] = []
    if config.test is not None:
        test = config.test.sentences(config.data_root)
        test = [s.with_spans(x for x in s.spans if x.label in labels) for s in test]
    return support, labels, test


def _pool_labels(pool: Sequence[Sentence], labels_path: Path, subset: Path, log: Log) -> Path:
    """The labels file the student learns from: ``labels_path`` itself, or, when it also holds
    sentences outside this run's pool (labels copied from a run over a larger pool), ``subset``
    written with the pool's sentences only, in pool order."""
    from fewner.distill.teacher_labels import done_labels

    done = done_labels(labels_path)
    ids = [s.id for s in pool]
    if set(done) <= set(ids):
        return labels_path
    lines = [json.dumps(done[i], ensure_ascii=False) + "\n" for i in ids]
    write_text_atomic(subset, "".join(lines))
    log(f"teacher labels: {len(done) - len(ids)} labelled sentences outside this pool left out "
        f"(the student learns from {subset})")
    return subset


def _labelling_so_far(path: Path, now: dict[str, Any]) -> dict[str, Any]:
    """The labelling counts of this run added to those of the runs before it (kept in
    ``path``): sentences labelled, seconds and speed over every run, not only the last."""
    before = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    labelled = before.get("labelled", 0) + now["labelled_now"]
    seconds = before.get("seconds", 0.0) + now["seconds"]
    total = {
        **now,
        "labelled": labelled,
        "seconds": round(seconds, 3),
        "runs": before.get("runs", 0) + (1 if now["labelled_now"] else 0),
        "sentences_per_second": round(labelled / seconds, 4) if seconds > 0 else None,
    }
    if now["labelled_now"]:
        write_json_atomic(path, total)
    return total


class _Finished:
    """Stands in for a teacher whose work is all on disk (a rerun of a finished stage)."""

    def close(self) -> None:
        pass


def _teacher_done(pool: Sequence[Sentence], labels_path: Path, folder: Path, test: bool) -> bool:
    """Every pool sentence labelled and, with a test file, the teacher scored: no teacher is
    built on a rerun (an ICL ensemble loads three models)."""
    from fewner.distill.teacher_labels import done_labels

    if test and not (folder / "test.json").is_file():
        return False
    done = done_labels(labels_path)
    return all(s.id in done for s in pool)


def _overlap(pool: Sequence[Sentence], other: Sequence[Sentence]) -> int:
    from fewner.distill.pool import normalised

    texts = {normalised(s.text) for s in pool}
    return sum(1 for s in other if normalised(s.text) in texts)


def _teacher_scores(
    teacher: Any, test: list[Sentence], labels: list[str], config: FromSupportConfig,
    folder: Path, log: Log,
) -> dict[str, Any]:
    """The teacher's scores on the first ``evaluate.teacher_limit`` test sentences (kept in
    ``folder/test.json``: a rerun does not ask again)."""
    done = folder / "test.json"
    if done.is_file():
        return json.loads(done.read_text(encoding="utf-8"))
    from fewner.eval.metrics import score

    limit = config.evaluate.teacher_limit
    part = test[:limit] if limit is not None else test
    hits_before, _ = cache_counts(teacher.runtime_counters())
    started = time.perf_counter()
    predictions = teacher.predict_sentences(part, labels, progress=True).sentences
    seconds = time.perf_counter() - started
    row = _scored(score(part, predictions), len(part), seconds)
    hits, _ = cache_counts(teacher.runtime_counters())
    if hits is not None and hits_before is not None and hits > hits_before:
        # answers read back from a cache say nothing of the teacher's speed
        row["cached_answers"] = hits - hits_before
        row["sentences_per_second"] = None
    write_json_atomic(done, row)
    speed = row["sentences_per_second"]
    log(f"teacher on {len(part)} test sentences: F1 {row['f1']:.4f}, "
        + (f"{speed} sentences/s" if speed is not None else
           f"{row['cached_answers']} answers from the cache (no speed)"))
    return row


def cache_counts(counters: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """(hits, misses) of a predictor's answer cache(s) from its ``runtime_counters()``: one
    backend's ``cache_hits``/``cache_misses`` or an ensemble's per-model ``cache`` counts,
    summed; None where the predictor has no cache."""
    per_model = counters.get("cache")
    if isinstance(per_model, Mapping):
        pairs = [(c.get("hits"), c.get("misses")) for c in per_model.values() if isinstance(c, Mapping)]
    else:
        pairs = [(counters.get("cache_hits"), counters.get("cache_misses"))]
    hits = [h for h, _ in pairs if h is not None]
    misses = [m for _, m in pairs if m is not None]
    return (sum(hits) if hits else None, sum(misses) if misses else None)


def _distill_config(config: FromSupportConfig, support: list[Sentence], labels: list[str],
                    labels_path: Path | None, test: list[Sentence], *, support_only: bool) -> Any:
    """The ``fewner distill`` config of one training (support + labels, or support alone)."""
    import dataclasses

    from fewner.data.formats.jsonl import sentence_record
    from fewner.data.spec import DataSpec
    from fewner.distill.config import DistillConfig, DistilledFile

    distilled = [] if labels_path is None else [
        DistilledFile(str(labels_path.resolve()), statuses=list(config.teacher.statuses))
    ]
    student = dataclasses.replace(config.student, label_names=dict(config.student.label_names))
    assert config.epochs is not None and config.batch_size is not None and config.lr is not None
    result = DistillConfig(
        student=student, types=list(labels), data_root=config.data_root,
        original=DataSpec(inline=[sentence_record(s) for s in support]), distilled=distilled,
        schedule="original" if support_only else config.schedule, mix=config.mix,
        epochs=(config.evaluate.support_epochs or config.epochs) if support_only else config.epochs,
        batch_size=config.batch_size, lr=config.lr, lr_decay=config.lr_decay,
        weight_decay=config.weight_decay, seed=config.seed, threads=config.threads,
        test=_test_spec(config) if test else None,
        predict_batch_size=config.predict_batch_size,
    )
    result.check()
    return result


def _test_spec(config: FromSupportConfig) -> Any:
    """The test spec with an absolute path (run_distill reads it under its own data_root)."""
    import dataclasses

    spec = config.test
    assert spec is not None
    if spec.path is None:
        return spec
    return dataclasses.replace(spec, path=str(config.resolve(spec.path).resolve()))


def _train(config: FromSupportConfig, support: list[Sentence], labels: list[str],
           labels_path: Path | None, test: list[Sentence], folder: Path, *, distilled: bool,
           progress: bool, log: Log) -> dict[str, Any]:
    """One ``run_distill`` in ``folder``: skipped when finished, resumed when interrupted."""
    from fewner.distill.pipeline import run_distill

    done = folder / "metrics.json"
    if done.is_file():
        log(f"{folder}: done before")
        return json.loads(done.read_text(encoding="utf-8"))
    distill = _distill_config(config, support, labels, labels_path if distilled else None, test,
                              support_only=not distilled)
    resume = (folder / "config.json").is_file()
    if progress:
        from fewner.progress import progress_bar

        with progress_bar() as bar:
            return run_distill(distill, folder, resume=resume, log=log, progress=bar)
    return run_distill(distill, folder, resume=resume, log=log)


def _support_only(config: FromSupportConfig, support: list[Sentence], labels: list[str],
                  test: list[Sentence], folder: Path, progress: bool, log: Log,
                  model: Any = None) -> dict[str, Any]:
    """The student from the support set alone, scored on ``test``: a span student is adapted as
    ``fewner fit --recipe span`` does (``model``: that student, when already built); a token
    student trains ``evaluate.support_epochs`` epochs."""
    if config.student.kind != "span":
        return _row(_train(config, support, labels, None, test, folder, distilled=False,
                           progress=progress, log=log))
    done = folder / "test.json"
    if done.is_file():
        return json.loads(done.read_text(encoding="utf-8"))
    from fewner.eval.metrics import score

    if model is None:
        model = _support_only_model(config, support, labels, folder, progress, log)
    model.batch_sentences = config.predict_batch_size
    started = time.perf_counter()
    predictions = model.predict_sentences(test, labels).sentences
    row = _scored(score(test, predictions), len(test), time.perf_counter() - started)
    write_json_atomic(done, row)
    return row


def _support_only_model(config: FromSupportConfig, support: list[Sentence], labels: list[str],
                        folder: Path, progress: bool, log: Log) -> Any:
    """The span student adapted to the support set alone (``folder/model``, reloaded on a
    rerun), or the ``span`` teacher when it is that same model."""
    import fewner
    from fewner.predictors.manifest import MANIFEST_FILE

    adapted = folder.parent / "teacher" / "fit" / "model"
    if _teacher_is_support_only(config) and adapted.is_dir():
        log(f"student from the support set alone: the teacher ({adapted})")
        return fewner.load(adapted)
    if (folder / "model" / MANIFEST_FILE).is_file():
        return fewner.load(folder / "model")
    return fewner.fit(support, labels, recipe="span", model=config.student.model,
                      label_names=config.student.label_names, out=folder, progress=progress)


def _teacher_is_support_only(config: FromSupportConfig) -> bool:
    """The ``span`` teacher is the span student adapted to the support set alone (same base
    model, label names and settings): the support-only row reuses it, no second training."""
    from fewner.spanmodel.shipped import DEFAULT_SPAN_MODEL

    options = dict(config.teacher.options)
    teacher_model = str(options.pop("model", None) or DEFAULT_SPAN_MODEL)
    names = options.pop("label_names", None) or {}
    return (
        config.teacher.use == "span" and not options
        and teacher_model == str(config.student.model or DEFAULT_SPAN_MODEL)
        and names == dict(config.student.label_names)
    )


def _scored(scores: Any, sentences: int, seconds: float) -> dict[str, Any]:
    micro = scores.micro
    return {
        "f1": round(micro.f1, 5), "precision": round(micro.precision, 5),
        "recall": round(micro.recall, 5), "sentences": sentences, "seconds": round(seconds, 3),
        "sentences_per_second": round(sentences / seconds, 3) if seconds > 0 else None,
    }


def _row(metrics: dict[str, Any]) -> dict[str, Any]:
    """A results row from a ``run_distill`` metrics document."""
    micro = metrics["test"]["micro"]
    speed = metrics["test_inference"]
    return {
        "f1": round(micro["f1"], 5), "precision": round(micro["precision"], 5),
        "recall": round(micro["recall"], 5), "sentences": speed["sentences"],
        "seconds": speed["seconds"], "sentences_per_second": speed["sentences_per_second"],
    }


def results_table(metrics: dict[str, Any]) -> list[list[str]]:
    """The results as rows of text: what, F1, P, R, test sentences, sentences/s."""
    rows = []
    for key, name in ROWS.items():
        if key == "student" and metrics.get("verify"):
            name = "student, support + teacher labels checked by the support-only student"
        row = metrics.get("results", {}).get(key)
        if row is None:
            continue
        rows.append([
            name, f"{row['f1']:.4f}", f"{row['precision']:.4f}", f"{row['recall']:.4f}",
            str(row["sentences"]),
            "cached" if row.get("sentences_per_second") is None else f"{row['sentences_per_second']}",
        ])
    return rows


@RECIPES.register("distill-from")
def fit_distill_from(
    sentences: list[Sentence],
    labels: list[str],
    *,
    pool: str | Path,
    teacher: Any = "icl-fast",
    student: str | Mapping[str, Any] = "span",
    test: str | Path | None = None,
    out: str | Path | None = None,
    progress: bool = True,
    log: Log | None = None,
    **values: Any,
) -> Any:
    """Recipe ``distill-from`` of ``fewner.fit``: the whole pipeline (module docstring) with the
    examples as the support set, ``pool`` the unlabeled in-domain text; returns the student.
    ``out``: the run folder (the model in ``OUT/model``; a temporary folder when not given);
    other keyword arguments are config keys, as for :func:`distill_from_support`."""
    import tempfile

    folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="fewner-distill-from-"))
    return distill_from_support(
        sentences, pool, teacher=teacher, labels=labels, student=student, test=test, out=folder,
        progress=progress, log=log or (lambda _message: None), **values,
    )

