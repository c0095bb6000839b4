"""Documents: texts of any length with an id, split into sentences and put back together.

A :class:`Document` is what a user has (an article, a page, a line of a file). To predict it,
:func:`split_document` cuts it into sentences (:func:`fewner.text.sentences.sentence_spans`),
each a :class:`~fewner.types.Sentence` with offset-exact tokens and the character offset where
it starts in the document; after prediction, :func:`join_document` makes the document one
Sentence again (its whole text, every token, the spans at **document** offsets), which is what
fewner JSONL writes and :class:`~fewner.predictors.base.Predictions` holds.

:func:`read_documents` reads the inputs ``fewner predict --documents`` takes: plain text with
one document per line, a folder of ``.txt`` files (one document each), or JSONL with a ``text``
field (and optional ``id`` and ``meta``). Nothing is skipped silently: blank lines, empty files
and undecodable bytes are counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fewner.data.formats._source import Source, json_line
from fewner.data.tokenize import sentence_from_text
from fewner.errors import ConfigError, DataFormatError
from fewner.text.sentences import ABBREVIATIONS, sentence_spans
from fewner.types import Sentence, Span, Token

__all__ = [
    "DOCUMENT_LAYOUTS",
    "Document",
    "DocumentSet",
    "as_document",
    "as_documents",
    "join_document",
    "read_documents",
    "split_document",
]

#: How ``read_documents`` finds documents in a path (``auto`` picks by the path).
DOCUMENT_LAYOUTS = ("auto", "lines", "files", "jsonl")


@dataclass(frozen=True)
class Document:
    """A text of any length with an id; ``meta``: string pairs kept on the output."""

    id: str
    text: str
    meta: tuple[tuple[str, str], ...] = ()


@dataclass
class DocumentSet:
    """Documents read from ``name``, and what was skipped or repaired while reading."""

    name: str
    documents: list[Document]
    skipped: Counter[str] = field(default_factory=Counter)
    repaired: Counter[str] = field(default_factory=Counter)


def as_document(item: str | Document, index: int, prefix: str = "text") -> Document:
    """``item`` as a document: a string gets the id ``<prefix>-<index>``."""
    if isinstance(item, Document):
        return item
    if isinstance(item, str):
        return Document(f"{prefix}-{index}", item)
    raise ConfigError(f"texts[{index}]: expected a string or a Document, got {type(item).__name__}")


def as_documents(items: Iterable[str | Document], prefix: str = "text") -> list[Document]:
    """Strings (ids ``text-0``, ``text-1``, ...) or :class:`Document` objects, checked."""
    return [as_document(item, i, prefix) for i, item in enumerate(items)]


def split_document(
    document: Document, abbreviations: Collection[str] = ABBREVIATIONS
) -> list[tuple[int, Sentence]]:
    """Each sentence of ``document`` (id ``<document id>:<k>``) with the offset where it starts;
    sentences without a token (only invisible characters) are left out."""
    out = []
    for k, (start, end) in enumerate(sentence_spans(document.text, abbreviations)):
        sentence = sentence_from_text(document.text[start:end], f"{document.id}:{k}", document.meta)
        if sentence.tokens:
            out.append((start, sentence))
    return out


def join_document(
    document: Document, sentences: Sequence[tuple[int, Sentence]], spans: Iterable[Span] = ()
) -> Sentence:
    """``document`` as one Sentence: its text, its sentences' tokens at document offsets, and
    ``spans`` (already at document offsets)."""
    tokens = tuple(
        Token(t.text, t.start + offset, t.end + offset)
        for offset, sentence in sentences
        for t in sentence.tokens
    )
    return Sentence(document.id, document.text, tokens, tuple(spans), document.meta)


# ----- reading -----------------------------------------------------------------------------------


def read_documents(
    path: str | Path, layout: str = "auto", limit: int | None = None
) -> DocumentSet:
    """Documents from ``path`` by ``layout`` (module docstring): ``lines`` (ids
    ``<file name>:<line>``), ``files`` (a folder of ``*.txt`` read recursively in sorted order,
    ids the relative paths; or one file), ``jsonl`` (ids from ``id``, else ``<file name>:<line>``),
    ``auto`` (a folder: files; ``*.jsonl``: jsonl; else lines). ``limit``: the first N."""
    path = Path(path)
    if layout not in DOCUMENT_LAYOUTS:
        raise ConfigError(f"unknown document layout {layout!r}; use one of {', '.join(DOCUMENT_LAYOUTS)}")
    if not path.exists():
        raise DataFormatError(str(path), "no such file or folder")
    if layout == "auto":
        layout = "files" if path.is_dir() else "jsonl" if path.suffix == ".jsonl" else "lines"
    if path.is_dir() and layout != "files":
        raise DataFormatError(str(path), f"a folder: read it as one document per file ('files'), not {layout!r}")
    result = DocumentSet(name=str(path), documents=[])
    if layout == "files":
        _read_files(path, result, limit)
    else:
        text = _decode(path.read_bytes(), result)
        (_read_jsonl if layout == "jsonl" else _read_lines)(path, text, result, limit)
    if not result.documents:
        raise DataFormatError(str(path), "no documents found (every text is empty)")
    return result


def _decode(raw: bytes, result: DocumentSet) -> str:
    text = raw.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - raw.decode("utf-8", errors="ignore").count("\ufffd")
    if bad:
        result.repaired["undecodable byte replaced by U+FFFD"] += bad
    return text.removeprefix("\ufeff")


def _lines(text: str) -> list[str]:
    """Lines split at ``\n`` only (a JSON string may hold U+2028), without their ``\r``."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def _full(result: DocumentSet, limit: int | None) -> bool:
    return limit is not None and len(result.documents) >= limit


def _read_lines(path: Path, text: str, result: DocumentSet, limit: int | None) -> None:
    for lineno, line in enumerate(_lines(text), start=1):
        if _full(result, limit):
            return
        if not line.strip():
            result.skipped["blank line"] += 1
            continue
        result.documents.append(Document(f"{path.name}:{lineno}", line))


def _read_files(root: Path, result: DocumentSet, limit: int | None) -> None:
    files = sorted(p for p in root.rglob("*.txt") if p.is_file()) if root.is_dir() else [root]
    if not files:
        raise DataFormatError(str(root), "no .txt files found")
    for file in files:
        if _full(result, limit):
            return
        text = _decode(file.read_bytes(), result)
        if not text.strip():
            result.skipped["empty file"] += 1
            continue
        rel = file.relative_to(root).as_posix() if root.is_dir() else file.name
        result.documents.append(Document(rel, text))


def _read_jsonl(path: Path, text: str, result: DocumentSet, limit: int | None) -> None:
    seen: dict[str, int] = {}
    for lineno, line in enumerate(_lines(text), start=1):
        if _full(result, limit):
            return
        if not line.strip():
            result.skipped["blank line"] += 1
            continue
        record = json_line(Source(path, []), line, lineno)  # any JSON problem: DataFormatError
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise DataFormatError(str(path), 'expected a JSON object with a string "text"', lineno)
        doc_id = record.get("id", f"{path.name}:{lineno}")
        if not isinstance(doc_id, str | int) or isinstance(doc_id, bool):
            raise DataFormatError(str(path), '"id" must be a string or an integer', lineno)
        doc_id = str(doc_id)
        if doc_id in seen:
            raise DataFormatError(str(path), f"id {doc_id!r} already used on line {seen[doc_id]}", lineno)
        seen[doc_id] = lineno
        meta = record.get("meta", {})
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise DataFormatError(str(path), '"meta" must be an object with string values', lineno)
        if not record["text"].strip():
            result.skipped["empty text"] += 1
            continue
        result.documents.append(Document(doc_id, record["text"], tuple((str(k), v) for k, v in meta.items())))
