"""Turning a file into decoded lines, with errors that say where the bytes went wrong.

Every reader goes through :func:`read_lines`, so all formats share one policy:

* The file is decoded as a whole with ``encoding`` / ``encoding_errors`` (Python's codec error
  handlers: ``strict``, ``replace``, ``ignore``, ...). Under ``strict`` an undecodable byte becomes
  a :class:`~fewner.errors.DataFormatError` naming the line, the byte offset and the byte, and
  suggesting ``--encoding-errors replace`` (load with U+FFFD) or ``--encoding latin-1``.
  Example: ``bbc_news/sport/199.txt`` holds one Latin-1 byte 0xA3 ("£") in otherwise UTF-8 text.
* A leading byte-order mark is dropped (it is an encoding artefact, not text).
* Lines end at ``\\n`` only, and a trailing ``\\r`` is removed, so CRLF files read like LF files.
  ``str.splitlines`` is deliberately not used: it also breaks at U+2028, U+0085, form feed, ...,
  which can occur inside tokens.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

from fewner.errors import DataFormatError


@dataclass(frozen=True)
class Source:
    """A decoded file: its path, display name and lines (1-based line ``i`` is ``lines[i - 1]``)."""

    path: Path
    lines: list[str]

    @property
    def name(self) -> str:
        return self.path.name

    def error(self, problem: str, line: int | None = None) -> DataFormatError:
        return DataFormatError(str(self.path), problem, line)


def decode(data: bytes, path: Path, encoding: str = "utf-8", errors: str = "strict") -> str:
    """Decode ``data``; undecodable bytes raise DataFormatError with line and byte offset."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataFormatError(str(path), f"unknown text encoding {encoding!r}") from None
    try:
        codecs.lookup_error(errors)
    except LookupError:
        raise DataFormatError(
            str(path), f"unknown encoding error handler {errors!r}; use strict, replace or ignore"
        ) from None
    try:
        text = data.decode(encoding, errors)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = data[exc.start : exc.end].hex(" ")
        raise DataFormatError(
            str(path),
            f"cannot decode byte(s) 0x{bad} at byte offset {exc.start} (column {column}) as "
            f"{encoding} ({exc.reason}); pass --encoding-errors replace to load it with U+FFFD, "
            "or --encoding latin-1 if the whole file is Latin-1",
            line,
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def read_lines(path: str | Path, encoding: str = "utf-8", errors: str = "strict") -> Source:
    """Read and decode ``path`` into lines (no line terminators)."""
    p = Path(path)
    if p.is_dir():
        raise DataFormatError(str(p), "is a directory, not a data file")
    text = decode(p.read_bytes(), p, encoding, errors)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start a new one
    return Source(p, [ln[:-1] if ln.endswith("\r") else ln for ln in lines])
