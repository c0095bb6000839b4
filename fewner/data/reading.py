"""The decoding that data reads use when they are not told: set per block by :func:`reading`.

A CLI command's ``--encoding`` / ``--encoding-errors`` must reach every data file it reads,
including the files a training config or recipe names deep inside the library; a context
variable carries them there without threading two arguments through every call. Kept apart
from :mod:`fewner.data.io` so the CLI can set it without importing the readers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

__all__ = ["DataWarning", "codec", "read_utf8", "reading"]

#: (encoding, encoding_errors) for reads that do not pass their own: set by :func:`reading`.
_READING: ContextVar[tuple[str, str]] = ContextVar("fewner_reading", default=("utf-8", "strict"))


@contextmanager
def reading(encoding: str = "utf-8", encoding_errors: str = "strict") -> Iterator[None]:
    """Within the block, every ``read_corpus`` / ``read_episodes`` / ``read_text_lines`` call
    (:mod:`fewner.data.io`) that does not pass ``encoding`` / ``encoding_errors`` uses these."""
    token = _READING.set((encoding, encoding_errors))
    try:
        yield
    finally:
        _READING.reset(token)


def codec(encoding: str | None, encoding_errors: str | None) -> tuple[str, str]:
    """``(encoding, encoding_errors)``: the given ones, else the enclosing block's."""
    default_encoding, default_errors = _READING.get()
    return encoding or default_encoding, encoding_errors or default_errors


class DataWarning(UserWarning):
    """Data that reads fine but will not do what the user likely wants (e.g. a training file
    without a single entity); the CLI prints it as one ``warning:`` line."""


def read_utf8(path: str | Path, what: str = "file") -> str:
    """The text of a file fewner itself defines the format of (a config, definitions or a
    template: always UTF-8); an undecodable byte is a :class:`~fewner.errors.DataFormatError`
    naming the file, line and byte and saying to save ``what`` as UTF-8 (not a traceback, and
    not the data readers' ``--encoding`` advice, which does not apply to such files)."""
    from fewner.errors import DataFormatError

    p = Path(path)
    data = p.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.end].hex(" ")
        raise DataFormatError(
            str(p),
            f"not UTF-8: cannot decode byte(s) 0x{bad} at byte offset {exc.start}; save the "
            f"{what} as UTF-8",
            line,
        ) from None
    return text.removeprefix("\ufeff")
