"""A corpus of documents read as a stream of fixed-size shards.

Input formats (``format``):

* ``jsonl`` - one JSON object per line with a string ``text``; ``id`` (string or integer) is
  kept as given, else ``<file name>:<line>``; an object ``meta`` is carried to the output.
* ``text`` - one document per line, kept as it is (entity offsets index the line), id
  ``<file name>:<line>`` (as :func:`fewner.text.documents.read_documents` reads lines).
* ``auto`` - ``jsonl`` when the first non-blank line is a JSON object with a ``text`` string,
  else ``text``.

Blank lines are skipped in both formats (they hold no document). Lines end at ``\\n`` only (a
trailing ``\\r`` is dropped), as in :mod:`fewner.data.formats._source`. The file is streamed, never
held whole: shard ``i`` holds documents ``i * size`` to ``(i + 1) * size - 1``, and its
:attr:`Shard.digest` (SHA-256 of its ids and texts) lets a resumed job check that a shard done
earlier was made from the same input.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fewner.errors import ConfigError, DataFormatError

__all__ = ["FORMATS", "Document", "Shard", "count_documents", "read_documents", "read_shards"]

FORMATS = ("auto", "jsonl", "text")


@dataclass(frozen=True)
class Document:
    """One input document: its id (as given, else ``<file>:<line>``), text and optional meta."""

    id: str | int
    text: str
    meta: dict[str, Any] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Shard:
    """Documents ``index * size ...`` of the corpus, in input order."""

    index: int
    documents: tuple[Document, ...]

    @property
    def texts(self) -> list[str]:
        return [d.text for d in self.documents]

    @property
    def digest(self) -> str:
        """SHA-256 of the ids and texts: equal digests, equal input."""
        h = hashlib.sha256()
        for doc in self.documents:
            h.update(json.dumps([doc.id, doc.text], ensure_ascii=False).encode("utf-8"))
            h.update(b"\n")
        return h.hexdigest()


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its end) for every line, streamed."""
    lineno = 0
    try:
        # utf-8-sig: a leading byte-order mark is an encoding artefact, not text
        with path.open(encoding="utf-8-sig", newline="\n") as handle:
            for lineno, raw in enumerate(handle, start=1):  # noqa: B007 - lineno used on error
                yield lineno, raw.removesuffix("\n").removesuffix("\r")
    except UnicodeDecodeError as exc:
        raise DataFormatError(
            str(path), f"cannot decode the file as UTF-8 after line {lineno}: {exc.reason}", lineno + 1
        ) from None


def sniff_format(path: Path) -> str:
    """``jsonl`` or ``text`` (module docstring)."""
    for _, line in _lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            return "text"
        return "jsonl" if isinstance(record, dict) and isinstance(record.get("text"), str) else "text"
    return "text"


def read_documents(path: str | Path, format: str = "auto") -> Iterator[Document]:
    """The documents of ``path`` in order (module docstring), streamed."""
    path = Path(path)
    if format not in FORMATS:
        raise ConfigError(f"unknown corpus format {format!r}; use one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise ConfigError(f"{path}: no such corpus file")
    if format == "auto":
        format = sniff_format(path)
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        if format == "text":
            yield Document(f"{path.name}:{lineno}", line)
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(str(path), f"bad JSON at column {exc.colno}: {exc.msg}", lineno) from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise DataFormatError(str(path), 'expected a JSON object with a string "text"', lineno)
        doc_id = record.get("id", f"{path.name}:{lineno}")
        if isinstance(doc_id, bool) or not isinstance(doc_id, str | int):
            raise DataFormatError(str(path), '"id" must be a string or an integer', lineno)
        meta = record.get("meta")
        if meta is not None and not isinstance(meta, dict):
            raise DataFormatError(str(path), '"meta" must be an object', lineno)
        yield Document(doc_id, record["text"], meta)


def count_documents(path: str | Path) -> int:
    """The number of documents (non-blank lines) without parsing them: a quick first pass that
    gives the progress bar its total."""
    count = 0
    with Path(path).open("rb") as handle:
        for raw in handle:
            if raw.strip():
                count += 1
    return count


def shard_documents(documents: Iterable[Document], size: int) -> Iterator[Shard]:
    """Consecutive shards of ``size`` documents (the last one may be shorter)."""
    if size < 1:
        raise ConfigError(f"shard size must be at least 1, got {size}")
    batch: list[Document] = []
    index = 0
    for doc in documents:
        batch.append(doc)
        if len(batch) == size:
            yield Shard(index, tuple(batch))
            index, batch = index + 1, []
    if batch:
        yield Shard(index, tuple(batch))


def read_shards(path: str | Path, size: int, format: str = "auto") -> Iterator[Shard]:
    """:func:`read_documents` in shards of ``size``."""
    return shard_documents(read_documents(path, format), size)
