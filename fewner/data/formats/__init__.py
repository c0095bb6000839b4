"""File formats fewner reads and writes, registered by name in :data:`FORMATS`.

Each format lives in its own module and registers a :class:`DataFormat` there: its reader, its
writer (None: read only), the file extensions that name it and how to recognise its content
(``sniff``, tried in ``sniff_rank`` order by ``format: auto``). :mod:`fewner.data.io` only
dispatches through the registry, CLI ``--format`` choices are its names, and the contract tests
iterate over it, so a new format is one module (plus a ``lazy`` entry below, or an entry point
in the group ``fewner.formats``) and is covered by the existing round-trip tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fewner.registry import Registry
from fewner.types import Corpus, Sentence

__all__ = ["FORMATS", "DataFormat", "ReadOptions", "Sample", "format_names"]


@dataclass(frozen=True)
class ReadOptions:
    """What a reader may use besides the lines: the tag ``scheme`` (``auto`` or a name) and the
    invalid-sequence ``policy`` of column formats, and a label renaming function."""

    scheme: str = "auto"
    policy: str = "repair"
    label_map: Callable[[str], str] | None = None


@dataclass(frozen=True)
class Sample:
    """What ``format: auto`` looks at: the file's extension and its first non-blank lines
    (``rows``: each line split at tabs when it has one, else at whitespace)."""

    suffix: str
    lines: Sequence[str]
    rows: Sequence[Sequence[str]] = field(init=False)

    def __post_init__(self) -> None:
        rows = [ln.split("\t") if "\t" in ln else ln.split() for ln in self.lines]
        object.__setattr__(self, "rows", rows)

    def column_width(self, tag_hint: Callable[[str], bool]) -> int | None:
        """The usual column count when at least half the lines have it (>= 2) and some last
        column passes ``tag_hint``: a column file even if some lines deviate (the reader then
        reports the bad line); else None."""
        if not self.rows:
            return None
        width, count = Counter(len(row) for row in self.rows).most_common(1)[0]
        if width >= 2 and 2 * count >= len(self.rows):
            if any(tag_hint(row[-1].strip()) for row in self.rows):
                return width
        return None


#: ``read(source, options) -> (corpus, resolved tag scheme or None)``; ``source`` is a
#: :class:`fewner.data.formats._source.Source` (decoded lines).
Reader = Callable[..., tuple[Corpus, str | None]]
#: ``write(sentences, path, scheme)``; ``scheme`` (io, bio, bioes) matters to tag formats only.
Writer = Callable[[Sequence[Sentence], Path, str], None]


@dataclass(frozen=True)
class DataFormat:
    """A registered file format (see the module docstring)."""

    name: str
    description: str
    read: Reader
    write: Writer | None = None
    extensions: tuple[str, ...] = ()
    sniff: Callable[[Sample], bool] | None = None
    sniff_rank: int = 100  # lower ranks are tried first by ``format: auto``
    binary: bool = False  # the reader reads ``source.path`` itself: no lines are decoded

    @property
    def writable(self) -> bool:
        return self.write is not None


FORMATS: Registry[DataFormat] = Registry(
    "format",
    lazy={
        "conll": "fewner.data.formats.columns",
        "docbin": "fewner.data.formats.docbin",
        "tags": "fewner.data.formats.columns",
        "jsonl": "fewner.data.formats.jsonl",
        "text": "fewner.data.formats.text",
    },
)


def format_names(*, writable: bool = False) -> list[str]:
    """Every registered format name (sorted); ``writable=True``: only those with a writer."""
    if not writable:
        return FORMATS.names()
    return [name for name in FORMATS.names() if FORMATS[name].writable]
