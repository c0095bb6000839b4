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
* Only text encodings (not ``rot13`` / ``hex``...) and the handlers ``strict``, ``replace``,
  ``ignore`` and ``backslashreplace`` are accepted: other handlers fail on decoding
  (``namereplace``) or leave unpaired surrogates (``surrogateescape``) that no writer can write.
  A file that decodes to unpaired surrogates (UTF-7, UTF-16 escapes in JSON) is refused with the
  line, for the same reason.

JSON lines (fewner JSONL, Few-NERD episodes) go through :func:`json_line`, so every JSON problem
(syntax, a 5,000-digit number, nesting too deep, a ``"\\ud800"`` escape) is one error naming
the line.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from pathlib import Path

from fewner.errors import DataFormatError

#: Codec error handlers that decode to valid text.
DECODE_HANDLERS = ("strict", "replace", "ignore", "backslashreplace")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


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
        info = codecs.lookup(encoding)
    except LookupError:
        raise DataFormatError(str(path), f"unknown text encoding {encoding!r}") from None
    if not getattr(info, "_is_text_encoding", True):
        raise DataFormatError(
            str(path), f"{encoding!r} is not a text encoding (e.g. utf-8, latin-1)"
        )
    if errors not in DECODE_HANDLERS:
        raise DataFormatError(
            str(path),
            f"unknown or unsupported encoding error handler {errors!r}; "
            "use strict, replace or ignore",
        )
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
    except UnicodeError as exc:  # codecs such as idna report problems without byte offsets
        raise DataFormatError(str(path), f"cannot decode the file as {encoding} ({exc})") from None
    if (bad_char := _SURROGATE.search(text)) is not None:
        raise DataFormatError(
            str(path),
            f"decoding as {encoding} gives an unpaired surrogate "
            f"U+{ord(bad_char.group()):04X} (not valid Unicode text); is the encoding right?",
            text.count("\n", 0, bad_char.start()) + 1,
        )
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


def json_line(source: Source, line: str, lineno: int) -> object:
    """The JSON value on one line; any problem is a DataFormatError naming the line."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise source.error(f"bad JSON at column {exc.colno}: {exc.msg}", lineno) from None
    except (ValueError, RecursionError) as exc:  # a number too long to convert, nesting too deep
        problem = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
        raise source.error(f"bad JSON: {problem}", lineno) from None
    if _SURROGATE_ESCAPE.search(line) and _SURROGATE.search(json.dumps(value, ensure_ascii=False)):
        raise source.error(
            "the JSON holds an unpaired surrogate escape (\\ud800-\\udfff), not valid Unicode text",
            lineno,
        )
    return value
