"""The unlabeled pool of a pipeline run: raw text or a data file -> sentences for the teacher.

* ``lines`` — one sentence or one document per line (``auto`` for a file that no labelled
  format recognises, e.g. plain text);
* ``files`` — a folder of ``.txt`` files, one document each (``auto`` for a folder);
* ``text-jsonl`` — JSON lines with a ``text`` field (and optional ``id``, ``meta``);
* a data format (``conll``, ``jsonl``, ...; ``auto`` when the file is one) — its labels dropped.

Documents are split into sentences by :func:`fewner.text.documents.split_document`; each keeps
where it came from in its meta (``document`` id and character ``offset`` in it), so a teacher
label can be traced back. Sentences under ``min_words`` words are skipped, repeated sentences
(same text) kept once; both are counted (a word: a token with a letter or digit). ``limit`` keeps the first N, or with ``seed`` a seeded
sample of N in reading order. :func:`read_pool_sources` joins several sources (each with its
own limit), a sentence repeated across them kept once. :func:`check_not_test` refuses a pool that holds the test text.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from fewner.errors import ConfigError
from fewner.types import Sentence

__all__ = ["check_not_test", "normalised", "read_pool", "read_pool_sources"]


def normalised(text: str) -> str:
    """The text compared for overlap: lower case, whitespace runs as one space."""
    return " ".join(text.split()).lower()


def _documents(path: Path, fmt: str) -> tuple[Any, str] | None:
    """The documents of a raw-text pool and the layout used; None for a labelled data file."""
    from fewner.text.documents import read_documents

    if fmt == "auto":
        if path.is_dir():
            fmt = "files"
        else:
            from fewner.data.io import detect_format

            if detect_format(path) != "text":
                return None
            fmt = "lines"
    if fmt not in ("lines", "files", "text-jsonl"):
        return None
    layout = "jsonl" if fmt == "text-jsonl" else fmt
    return read_documents(path, layout), fmt


def read_pool(
    path: str | Path,
    fmt: str = "auto",
    *,
    limit: int | None = None,
    seed: int | None = None,
    min_words: int = 3,
) -> tuple[list[Sentence], dict[str, Any]]:
    """The pool's sentences (no spans) and a report of what was read (module docstring)."""
    from fewner.text.documents import split_document

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"pool: no such file or folder: {path}")
    skipped: Counter[str] = Counter()
    candidates: list[Sentence] = []
    found = _documents(path, fmt)
    if found is not None:
        docs, layout = found
        skipped.update(docs.skipped)
        for doc in docs.documents:
            for offset, sentence in split_document(doc):
                meta = (*sentence.meta, ("document", doc.id), ("offset", str(offset)))
                candidates.append(replace(sentence, meta=meta))
        report: dict[str, Any] = {"documents": len(docs.documents), "layout": layout}
    else:
        from fewner.data.io import read_corpus

        corpus = read_corpus(path, format=fmt)
        candidates = [s.with_spans(()) for s in corpus.sentences]
        skipped.update(corpus.skipped)
        labelled = sum(1 for s in corpus.sentences if s.spans)
        report = {"layout": "data file", "labels_dropped_from": labelled}
    seen: set[str] = set()
    sentences = []
    for sentence in candidates:
        if sum(1 for t in sentence.tokens if any(c.isalnum() for c in t.text)) < min_words:
            skipped[f"sentence under {min_words} words"] += 1
            continue
        key = normalised(sentence.text)
        if key in seen:
            skipped["repeated sentence"] += 1
            continue
        seen.add(key)
        sentences.append(sentence)
    available = len(sentences)
    if limit is not None and limit < available:
        if seed is None:
            sentences = sentences[:limit]
        else:
            keep = sorted(random.Random(seed).sample(range(available), limit))
            sentences = [sentences[i] for i in keep]
    if not sentences:
        raise ConfigError(
            f"pool: no sentence of at least {min_words} words in {path} "
            f"(skipped: {dict(skipped) or 'nothing'}); give unlabeled in-domain text"
        )
    report.update(
        {"path": str(path), "sentences_available": available, "sentences": len(sentences),
         "skipped": dict(skipped)}
    )
    return sentences, report


def read_pool_sources(
    sources: Sequence[tuple[str | Path, str, int | None, int | None]], *, min_words: int = 3
) -> tuple[list[Sentence], dict[str, Any]]:
    """The sentences of every ``(path, format, limit, seed)`` source in order, as
    :func:`read_pool` reads each, and a report: the first source's, with the totals and, for
    more than one source, ``sources`` (each one's report). Sentence ids must be unique across
    sources (the teacher's labels are kept by id): two files of the same name are refused."""
    sentences: list[Sentence] = []
    reports: list[dict[str, Any]] = []
    seen_texts: set[str] = set()
    seen_ids: dict[str, str] = {}
    repeated = 0
    for path, fmt, limit, seed in sources:
        part, report = read_pool(path, fmt, limit=limit, seed=seed, min_words=min_words)
        reports.append(report)
        for sentence in part:
            other = seen_ids.get(sentence.id)
            if other is not None and other != str(path):
                raise ConfigError(
                    f"pool: sentence id {sentence.id!r} is in both {other} and {path}; give "
                    "sources with different file names"
                )
            key = normalised(sentence.text)
            if key in seen_texts:
                repeated += 1
                continue
            seen_texts.add(key)
            seen_ids[sentence.id] = str(path)
            sentences.append(sentence)
    report = dict(reports[0])
    if len(reports) > 1:
        report.update({"sentences": len(sentences), "sources": reports,
                       "repeated_across_sources": repeated})
    return sentences, report


def check_not_test(
    pool: Sequence[Sentence],
    test: Sequence[Sentence],
    warn: Callable[[str], object],
    *,
    pool_name: str = "pool",
    test_name: str = "test",
) -> int:
    """Refuse a pool that holds more than half the test sentences (it *is* the test text: the
    student would learn the test set from the teacher); warn when it holds any. Returns the
    number of test sentences found in the pool."""
    if not test:
        return 0
    texts = {normalised(s.text) for s in pool}
    found = sum(1 for s in test if normalised(s.text) in texts)
    if found * 2 > len(test):
        raise ConfigError(
            f"{pool_name} holds {found} of the {len(test)} sentences of {test_name}: the pool "
            "must be other unlabeled in-domain text, never the test text"
        )
    if found:
        warn(f"warning: {found} of the {len(test)} test sentences are also in the pool")
    return found
