"""The student adapted to the support set checks the teacher's labels before a student learns them.

A small prompting teacher labels an unlabeled pool with low precision, and a student trained on
every label it gave learns its mistakes along with its finds. The span model adapted to the
support set scores every span of a sentence, so it can act as a second opinion:

* a teacher span stays when that model gives it a score above ``keep_above`` (low: it only has to
  find the span plausible), and goes otherwise;
* that model's own spans scoring above ``add_above`` join where no kept span overlaps them.

The teacher supplies what the support-only model misses, the model vetoes what the teacher
invents (agreement filtering as in co-training, plus self-training on confident spans).
:func:`verify_records` is the rule on plain records; :func:`verify_labels` runs it over a labels
file with a model and writes the checked file (``RUN/teacher/verified-labels.jsonl``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fewner.errors import ConfigError
from fewner.runs import write_json_atomic, write_text_atomic
from fewner.types import Sentence

__all__ = ["VERIFY_BY", "check_thresholds", "verify_labels", "verify_records"]

#: ``verify.by`` values: ``auto`` (support-only for a span student, none for a token student),
#: ``support-only`` (the span student adapted to the support set alone), ``none`` (learn
#: every teacher label).
VERIFY_BY = ("auto", "support-only", "none")

Key = tuple[int, int, str]


def check_thresholds(keep_above: float, add_above: float) -> None:
    """Both thresholds inside (0, 1]; ``keep_above`` below 1 (a score is at most 1)."""
    if not 0.0 < keep_above < 1.0 or not 0.0 < add_above <= 1.0:
        raise ConfigError(
            f"verify: keep_above must be in (0, 1) and add_above in (0, 1], got {keep_above}, "
            f"{add_above} (add_above 1: add nothing)"
        )


def verify_records(
    records: Iterable[Mapping[str, Any]],
    scores: Mapping[str, Mapping[Key, float]],
    *,
    keep_above: float,
    add_above: float,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The records with their ``entities`` checked (module docstring) and the counts: teacher
    spans ``kept`` / ``dropped``, model spans ``added``. ``scores``: sentence id -> {(start,
    end, label): score} of the checking model (a span it did not return scores 0)."""
    check_thresholds(keep_above, add_above)
    counts = {"sentences": 0, "teacher_spans": 0, "kept": 0, "dropped": 0, "added": 0}
    checked = []
    for record in records:
        own = scores.get(record["id"], {})
        kept = []
        for entity in record.get("entities", []):
            key = (int(entity["start"]), int(entity["end"]), str(entity["label"]))
            if own.get(key, 0.0) > keep_above:
                kept.append(dict(entity))
        counts["teacher_spans"] += len(record.get("entities", []))
        counts["kept"] += len(kept)
        taken = [(e["start"], e["end"]) for e in kept]
        added = []
        for (start, end, label), score in sorted(own.items(), key=lambda kv: -kv[1]):
            if score <= add_above or any(start < b and a < end for a, b in taken):
                continue
            taken.append((start, end))
            added.append({"start": start, "end": end, "label": label})
        counts["added"] += len(added)
        counts["sentences"] += 1
        entities = sorted(kept + added, key=lambda e: (e["start"], e["end"], e["label"]))
        checked.append({**record, "entities": entities})
    counts["dropped"] = counts["teacher_spans"] - counts["kept"]
    return checked, counts


def verify_labels(
    labels_path: Path,
    pool: Sequence[Sentence],
    labels: Sequence[str],
    model: Any,
    out: Path,
    *,
    keep_above: float,
    add_above: float,
    progress: bool = True,
) -> dict[str, Any]:
    """Check the pool's teacher labels in ``labels_path`` with ``model`` (a predictor that
    scores spans: the span model) into ``out``; returns the counts (also in ``out`` with
    ``.json`` for a suffix). A finished check (both files there) is read back, not redone."""
    from fewner.distill.teacher_labels import done_labels

    report_path = out.with_suffix(".json")
    if out.is_file() and report_path.is_file():
        return json.loads(report_path.read_text(encoding="utf-8"))
    done = done_labels(labels_path)
    records = [done[s.id] for s in pool if s.id in done]
    wanted = {r["id"] for r in records}
    sentences = [s for s in pool if s.id in wanted]
    previous = getattr(model, "threshold", None)
    if previous is None:
        raise ConfigError(
            f"verify: the {getattr(model, 'kind', '?')} model does not score spans; verify.by: "
            "support-only needs a span student (or set verify.by: none)"
        )
    model.threshold = min(keep_above, add_above, previous)  # every span it finds plausible
    try:
        predictions = model.predict_sentences(sentences, list(labels), progress=progress)
    finally:
        model.threshold = previous
    checked, counts = verify_records(records, predictions.scores, keep_above=keep_above,
                                     add_above=add_above)
    write_text_atomic(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in checked))
    report = {**counts, "keep_above": keep_above, "add_above": add_above, "labels": str(out)}
    write_json_atomic(report_path, report)
    return report
