"""The teacher of a pipeline run: built from the support set, it labels the pool, resumably.

:func:`make_teacher` turns a :class:`~fewner.distill.from_support_config.TeacherSpec` into a
:class:`~fewner.predictors.base.Predictor` (a recipe fitted on the support set, an
OpenAI-compatible server prompted with the annotation prompt, or anything :func:`fewner.load`
takes); a prompting teacher gets the run's answer cache (``RUN/teacher/cache.sqlite``).

:func:`label_pool` writes the teacher's labels to a JSON-lines file (fewner JSONL plus
``status``; what ``fewner distill`` reads), one batch at a time, appended and flushed. Why its
own file and not only the answer cache: every teacher resumes the same way, a span model as
well as an LLM. A rerun reads the file first (a line cut by a kill is dropped), and asks the
teacher only for the pool sentences it does not hold: after a kill, at most the batch in flight
is labelled twice.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fewner.errors import ConfigError
from fewner.types import Sentence

__all__ = ["done_labels", "label_pool", "make_teacher"]


def make_teacher(spec: Any, support: Sequence[Sentence], labels: Sequence[str],
                 *, cache: Path | None = None, folder: Path | None = None,
                 progress: bool = True) -> Any:
    """The predictor ``spec.use`` names (module docstring), ready to label ``labels``; a
    recipe that trains saves its model under ``folder`` (``folder/model``)."""
    import fewner
    from fewner.recipes import RECIPES

    use = spec.use.strip()
    options = dict(spec.options)
    if use.startswith("openai:"):
        from fewner.predictors.annotator import AnnotatorPredictor

        backend_options = {"base_url": spec.base_url, **options.pop("backend_options", {})}
        return AnnotatorPredictor(
            use.removeprefix("openai:"), labels, backend="openai", demos=list(support),
            definitions=spec.definitions, batch_size=spec.batch_size,
            backend_options=backend_options, cache=cache, **options,
        )
    if use in RECIPES:
        if use in ("icl", "icl-fast"):
            options.setdefault("cache", cache)
            if spec.definitions is not None:
                options.setdefault("definitions", spec.definitions)
        elif use == "span":
            options.setdefault("progress", progress)
            if folder is not None and (folder / "model" / "fewner.json").is_file():
                return fewner.load(folder / "model", labels=list(labels))  # adapted before
            if folder is not None:
                options.setdefault("out", folder)
        return fewner.fit(list(support), list(labels), recipe=use, **options)
    from fewner.api import saved_kind

    kind = saved_kind(use)
    if kind is None or _is_language_model(kind):
        options.setdefault("cache", cache)
        if spec.definitions is not None and kind is None:
            options.setdefault("definitions", spec.definitions)
    try:
        return fewner.load(use, labels=list(labels), **options)
    except ConfigError as err:
        raise ConfigError(
            f"teacher.use {use!r}: {err} (a teacher is a recipe name: "
            f"{', '.join(RECIPES.names())}; openai:MODEL; or a model fewner.load takes)"
        ) from None


def _is_language_model(kind: str) -> bool:
    from fewner.predictors import PREDICTORS

    cls = PREDICTORS.get(kind)
    return bool(getattr(cls, "language_model", False))


def done_labels(path: Path) -> dict[str, dict[str, Any]]:
    """The records already in a labels file, by sentence id; a last line cut short by a kill is
    removed from the file (it is asked again)."""
    if not path.is_file():
        return {}
    raw = path.read_bytes()
    end = raw.rfind(b"\n") + 1
    if end < len(raw):  # a partial last line: cut it off
        with path.open("r+b") as handle:
            handle.truncate(end)
    done: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(raw[:end].decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise ConfigError(f"{path}, line {number}: not JSON; delete the file to relabel") from None
        done[str(record.get("id"))] = record
    return done


def label_pool(
    teacher: Any,
    pool: Sequence[Sentence],
    labels: Sequence[str],
    path: Path,
    *,
    batch_size: int = 8,
    progress: bool | Callable[[int], object] = True,
    log: Callable[[str], object] = print,
) -> dict[str, Any]:
    """Label every pool sentence not yet in ``path`` with ``teacher``, appending batch by batch
    (module docstring); returns counts: sentences, newly labelled, statuses, seconds, speed."""
    from fewner.data.formats.jsonl import sentence_record
    from fewner.progress import progress_reporter
    from fewner.runs import writing

    done = done_labels(path)
    for sentence in pool:
        old = done.get(sentence.id)
        if old is not None and old.get("text") != sentence.text:
            raise ConfigError(
                f"{path}: sentence {sentence.id} holds another text than the pool's; the pool "
                "changed since the labels were written: use another --out"
            )
    todo = [s for s in pool if s.id not in done]
    ids = {s.id for s in pool}
    stats: Counter[str] = Counter(
        f"status_{r.get('status', 'ok')}" for i, r in done.items() if i in ids
    )
    if not todo:
        return _summary(pool, todo, stats, 0.0, {})
    if done:
        log(f"teacher: {len(pool) - len(todo)} of {len(pool)} pool sentences already labelled "
            f"({path}); labelling the other {len(todo)}")
    wanted = teacher.resolve_labels(list(labels))
    teacher.batch_sentences = max(1, min(teacher.batch_sentences, batch_size))
    started = time.perf_counter()
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a", encoding="utf-8", newline="\n")
    try:
        with progress_reporter(progress, len(todo), "teacher labelling the pool") as advance:
            for part in teacher.iter_predict(todo, wanted):
                per_sentence = len(part.records) == len(part.sentences)
                lines = []
                for i, sentence in enumerate(part.sentences):
                    record = sentence_record(sentence)
                    extra = part.records[i] if per_sentence else {}
                    record["status"] = str(extra.get("status", "ok"))
                    if "answer" in extra:
                        record["answer"] = extra["answer"]
                    stats[f"status_{record['status']}"] += 1
                    lines.append(json.dumps(record, ensure_ascii=False) + "\n")
                with writing(path):
                    handle.write("".join(lines))
                    handle.flush()
                advance(len(part.sentences))
    finally:
        handle.close()
    return _summary(pool, todo, stats, time.perf_counter() - started, teacher.runtime_counters())


def _summary(pool: Sequence[Sentence], todo: Sequence[Sentence], stats: Counter[str],
             seconds: float, counters: dict[str, Any]) -> dict[str, Any]:
    return {
        "sentences": len(pool),
        "labelled_now": len(todo),
        "labelled_before": len(pool) - len(todo),
        "statuses": {k.removeprefix("status_"): v for k, v in sorted(stats.items())},
        "seconds": round(seconds, 3),
        "sentences_per_second": round(len(todo) / seconds, 4) if todo and seconds > 0 else None,
        **counters,
    }
