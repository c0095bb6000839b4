"""Documents: split into sentences, joined back at document offsets, read from files
(fewner.text.documents, fewner.text.jobs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fewner.errors import ConfigError, DataFormatError
from fewner.text.documents import (
    Document,
    as_documents,
    join_document,
    read_documents,
    split_document,
)
from fewner.text.jobs import DocumentJob
from fewner.text.windows import Window
from fewner.types import Span

TEXT = "Ad sales boost Time Warner profit\n\nQuarterly profits at US media giant TimeWarner jumped 76%. Mr. Parsons said so."


def test_split_and_join_keep_document_offsets() -> None:
    doc = Document("d1", TEXT, (("source", "bbc"),))
    sentences = split_document(doc)
    assert [s.id for _, s in sentences] == ["d1:0", "d1:1", "d1:2"]
    for offset, sentence in sentences:
        assert TEXT[offset : offset + len(sentence.text)] == sentence.text
        assert sentence.meta == (("source", "bbc"),)
    joined = join_document(doc, sentences, [Span(15, 26, "ORG")])
    assert joined.id == "d1" and joined.text == TEXT and joined.meta == doc.meta
    assert all(TEXT[t.start : t.end] == t.text for t in joined.tokens)
    assert joined.mention(joined.spans[0]) == "Time Warner"


def test_sentences_without_tokens_are_left_out() -> None:
    assert split_document(Document("d", "\u200b\u200b")) == []
    assert split_document(Document("d", "")) == []


def test_as_documents() -> None:
    docs = as_documents(["a", Document("x", "b")])
    assert docs == [Document("text-0", "a"), Document("x", "b")]
    with pytest.raises(ConfigError, match=r"texts\[1\]"):
        as_documents(["a", 3])  # type: ignore[list-item]


def _predict_capitalised(piece):
    return piece.with_spans(
        piece.token_span_to_char(i, i + 1, "X") for i, w in enumerate(piece.words) if w[:1].isupper()
    )


def test_a_job_cuts_long_sentences_and_merges_to_document_offsets() -> None:
    words = [("Word" if i % 7 == 0 else "word") + str(i) for i in range(5000)]
    text = "Intro here. " + " ".join(words)
    job = DocumentJob(Document("d", text), Window(50, 10), lambda s: [[1] * len(x.tokens) for x in s])
    assert len(job.pieces) > 100 and not job.done
    for i in reversed(range(len(job.pieces))):  # any order
        predicted = _predict_capitalised(job.pieces[i])
        job.take(i, predicted, {(s.start, s.end, s.label): i / 1000 for s in predicted.spans})
    done = job.finish(["X"])
    spans = done.sentence.spans
    assert [done.sentence.mention(s) for s in spans] == ["Intro"] + [w for w in words if w[0] == "W"]
    assert all(text[s.start : s.end] == done.sentence.mention(s) for s in spans)
    assert done.stats["documents"] == 1 and done.stats["sentences"] == 2
    assert done.stats["long_sentences_split"] == 1 and done.stats["chunks"] == len(job.pieces) - 1
    assert done.stats["spans"] == len(spans)
    assert done.scores[(0, 5, "X")] == 0.0  # "Intro": the first piece's score, at document offsets
    assert set(done.scores) == {(s.start, s.end, s.label) for s in spans}


def test_a_job_without_window_or_text() -> None:
    job = DocumentJob(Document("d", " " * 10), None, lambda s: [])
    assert job.done and job.pieces == []
    done = job.finish()
    assert done.sentence.spans == () and done.stats["sentences"] == 0
    with pytest.raises(RuntimeError):
        DocumentJob(Document("d", "One. Two."), None, lambda s: []).finish()


# ----- reading -----------------------------------------------------------------------------------


def test_read_lines(tmp_path: Path) -> None:
    path = tmp_path / "docs.txt"
    path.write_bytes(b"First doc. Two sentences.\r\n\n  \nSecond \xa3 doc\n")
    docs = read_documents(path)
    assert [(d.id, d.text) for d in docs.documents] == [
        ("docs.txt:1", "First doc. Two sentences."),
        ("docs.txt:4", "Second \ufffd doc"),
    ]
    assert docs.skipped == {"blank line": 2}
    assert docs.repaired == {"undecodable byte replaced by U+FFFD": 1}
    assert [d.id for d in read_documents(path, "lines", limit=1).documents] == ["docs.txt:1"]


def test_read_files(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.txt").write_text("Second.\n\nMore.", encoding="utf-8")
    (tmp_path / "1.txt").write_text("\ufeffFirst.", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("\n", encoding="utf-8")
    (tmp_path / "skip.md").write_text("not read", encoding="utf-8")
    docs = read_documents(tmp_path)
    assert [(d.id, d.text) for d in docs.documents] == [("1.txt", "First."), ("b/2.txt", "Second.\n\nMore.")]
    assert docs.skipped == {"empty file": 1}
    one = read_documents(tmp_path / "b" / "2.txt", "files")
    assert [d.id for d in one.documents] == ["2.txt"]
    with pytest.raises(DataFormatError, match="one document per file"):
        read_documents(tmp_path, "lines")


def test_read_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    records = [
        {"id": "a", "text": "Line\u2028with a separator.", "meta": {"k": "v"}, "entities": []},
        {"text": "No id here."},
        {"id": 7, "text": "  "},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n\n", encoding="utf-8")
    docs = read_documents(path)
    assert [(d.id, d.text, d.meta) for d in docs.documents] == [
        ("a", "Line\u2028with a separator.", (("k", "v"),)),
        ("docs.jsonl:2", "No id here.", ()),
    ]
    assert docs.skipped == {"empty text": 1, "blank line": 1}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "a"}\n{"text": 3}', r"docs\.jsonl:2: .*string \"text\""),
        ('{"id": "x", "text": "a"}\n{"id": "x", "text": "b"}', "already used on line 1"),
        ("{oops", r"docs\.jsonl:1: bad JSON"),
        ('{"id": [1], "text": "a"}', "must be a string or an integer"),
        ('{"text": "a", "meta": {"k": 1}}', "string values"),
        ('{"text": ""}', "no documents found"),
    ],
)
def test_read_jsonl_errors_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError, match=message):
        read_documents(path)


def test_read_errors(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no such file"):
        read_documents(tmp_path / "missing.txt")
    with pytest.raises(DataFormatError, match="no .txt files"):
        read_documents(tmp_path)
    with pytest.raises(ConfigError, match="unknown document layout"):
        read_documents(tmp_path, "pdf")
