"""Public entry points for reading and writing NER data files.

``read_corpus`` turns any supported file into a :class:`~fewner.types.Corpus`, ``write_corpus``
writes one back; ``read_episodes`` / ``write_episodes`` handle Few-NERD episode JSONL. The formats
themselves live in :mod:`fewner.data.formats` (see each module for its exact rules), each
registered in :data:`fewner.data.formats.FORMATS`; this module only resolves options (``auto``
format, label maps) and dispatches through that registry.

Encoding policy: files are decoded strictly as UTF-8 by default, so a stray byte is reported (file,
line, byte offset) instead of silently becoming garbage. ``encoding_errors="replace"`` loads such a
file with U+FFFD in place of each bad byte; ``encoding="latin-1"`` decodes a whole Latin-1 file.
(``bbc_news/sport/199.txt`` is UTF-8 with one Latin-1 "£" byte: strict fails, ``replace`` loads it
with one U+FFFD, ``latin-1`` loads it with "£".)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from fewner.data.formats import FORMATS, ReadOptions, Sample
from fewner.data.formats._source import Source, read_lines
from fewner.data.formats.fewnerd import fewnerd_label, read_episode_lines, write_episode_file
from fewner.data.reading import codec as _codec
from fewner.data.reading import reading
from fewner.data.schemes import POLICIES, SCHEMES
from fewner.errors import DataFormatError
from fewner.types import Corpus, Episode, Sentence

__all__ = [
    "ReadResult",
    "detect_format",
    "fewnerd_label",
    "read_corpus",
    "read_corpus_detailed",
    "read_episodes",
    "read_text_lines",
    "reading",
    "write_corpus",
    "write_episodes",
]

LabelMap = Callable[[str], str] | Mapping[str, str]
_SNIFF_LINES = 200


@dataclass
class ReadResult:
    """A corpus plus what ``auto`` resolved to (``scheme`` is None for jsonl and text)."""

    corpus: Corpus
    format: str
    scheme: str | None


def read_corpus(
    path: str | Path,
    format: str = "auto",
    scheme: str = "auto",
    policy: str = "repair",
    encoding: str | None = None,
    encoding_errors: str | None = None,
    *,
    label_map: LabelMap | None = None,
    normalize_fewnerd: bool = False,
) -> Corpus:
    """Read a data file into a :class:`Corpus`.

    ``format``: ``auto`` (from extension and content) or a registered format name (``conll``,
    ``tags``, ``jsonl``, ``text``, ...: :data:`fewner.data.formats.FORMATS`).
    ``scheme``: ``auto`` (detected over the whole file), ``io``, ``bio`` or ``bioes``; column
    formats only. ``policy``: ``repair`` or ``strict`` for invalid tag sequences (see
    :mod:`fewner.data.schemes`); repairs are counted in ``Corpus.repaired``.
    ``label_map``: rename entity labels (a function or a dict; unmapped labels stay).
    ``normalize_fewnerd=True``: map ``person_actor`` -> ``person-actor`` (:func:`fewnerd_label`),
    for the unofficial BIO Few-NERD INTER test file. ``encoding`` / ``encoding_errors``: how bytes
    are decoded (module docstring); None: those of the enclosing :func:`reading` block, else
    ``utf-8`` / ``strict``.
    """
    return read_corpus_detailed(
        path, format, scheme, policy, encoding, encoding_errors,
        label_map=label_map, normalize_fewnerd=normalize_fewnerd,
    ).corpus


def read_corpus_detailed(
    path: str | Path,
    format: str = "auto",
    scheme: str = "auto",
    policy: str = "repair",
    encoding: str | None = None,
    encoding_errors: str | None = None,
    *,
    label_map: LabelMap | None = None,
    normalize_fewnerd: bool = False,
) -> ReadResult:
    """Like :func:`read_corpus`, also telling which format and scheme ``auto`` resolved to."""
    if format != "auto" and format not in FORMATS:
        raise DataFormatError(
            str(path), f"unknown format {format!r}; expected auto, {', '.join(FORMATS.names())}"
        )
    if scheme != "auto" and scheme not in SCHEMES:
        raise DataFormatError(str(path), f"unknown tag scheme {scheme!r}; expected auto, {', '.join(SCHEMES)}")
    if policy not in POLICIES:
        raise DataFormatError(str(path), f"unknown policy {policy!r}; expected {' or '.join(POLICIES)}")
    encoding, encoding_errors = _codec(encoding, encoding_errors)
    mapper = _label_mapper(label_map, normalize_fewnerd)
    fmt = format if format != "auto" else _binary_by_extension(Path(path))
    if fmt != "auto" and FORMATS[fmt].binary:  # e.g. docbin: the reader opens the file itself
        source = Source(Path(path), [])
    else:
        source = read_lines(path, encoding, encoding_errors)
        fmt = _sniff(source) if fmt == "auto" else fmt
    options = ReadOptions(scheme=scheme, policy=policy, label_map=mapper)
    corpus, resolved = FORMATS[fmt].read(source, options)
    return ReadResult(corpus, fmt, resolved)


def _label_mapper(label_map: LabelMap | None, normalize_fewnerd: bool) -> Callable[[str], str] | None:
    if label_map is not None and normalize_fewnerd:
        raise ValueError("pass either label_map or normalize_fewnerd, not both")
    if normalize_fewnerd:
        return fewnerd_label
    if isinstance(label_map, Mapping):
        table = dict(label_map)
        return lambda label: table.get(label, label)
    return label_map


def read_text_lines(
    path: str | Path, encoding: str | None = None, encoding_errors: str | None = None
) -> list[str]:
    """The decoded lines of any text file (a list of types, ...), under the same decoding
    policy and errors as the data readers (file, line and byte offset of a bad byte)."""
    return read_lines(path, *_codec(encoding, encoding_errors)).lines


def detect_format(path: str | Path, encoding: str = "utf-8", encoding_errors: str = "replace") -> str:
    """Guess a file's format (see :func:`_sniff`); ``replace`` so a bad byte cannot stop a guess."""
    return _sniff(read_lines(path, encoding, encoding_errors))


def _binary_by_extension(path: Path) -> str:
    """The binary format whose extensions include ``path``'s, else ``auto`` (decode, then sniff)."""
    suffix = path.suffix.lower()
    for name in FORMATS.names():
        info = FORMATS[name]
        if info.binary and suffix in info.extensions:
            return name
    return "auto"


def _sniff(source: Source) -> str:
    """Extension first (``.jsonl``), then the first 200 non-blank lines, shown to each format's
    ``sniff`` in ``sniff_rank`` order (jsonl: a JSON object; conll: ``-DOCSTART-`` or 3+
    columns ending in tags; tags: 2 such columns; text: anything, unless every line has the
    same tab-separated columns: :func:`_tab_columns`). A heuristic: pass the format explicitly
    when it guesses wrong."""
    formats = sorted((FORMATS[n] for n in FORMATS.names()), key=lambda f: (f.sniff_rank, f.name))
    suffix = source.path.suffix.lower()
    for info in formats:
        if suffix in info.extensions:
            return info.name
    sample = [ln.rstrip() for ln in source.lines[: _SNIFF_LINES * 3] if ln.strip()][:_SNIFF_LINES]
    if not sample:
        raise source.error("the file is empty")
    shown = Sample(suffix, sample)
    for info in formats:
        if info.sniff is not None and info.sniff(shown):
            if info.name == "text" and (columns := _tab_columns(sample)) is not None:
                return columns
            return info.name
    raise source.error("cannot tell the file's format; pass it explicitly (--format)")


def _tab_columns(sample: list[str]) -> str | None:
    """``tags`` / ``conll`` when every sampled line has the same 2 / 3+ tab-separated, non-empty
    columns: a column file whose tags the sniffers did not recognise (IO labels such as ``ORG``
    with no ``O`` line, as in a one-line file), never plain text. Space-separated columns stay
    text here: ``EU NNP ORG`` is also a three-word sentence."""
    widths = set()
    for line in sample:
        fields = line.strip().split("\t")
        if len(fields) < 2 or not all(f.strip() for f in fields):
            return None
        widths.add(len(fields))
    if len(widths) != 1:
        return None
    return "tags" if widths.pop() == 2 else "conll"


def write_corpus(
    corpus_or_sentences: Corpus | Iterable[Sentence],
    path: str | Path,
    format: str,
    scheme: str = "bio",
) -> None:
    """Write sentences as ``conll`` (``token _ _ TAG`` with -DOCSTART- per ``doc`` meta), ``tags``
    (``token<TAB>tag``), ``jsonl`` (with tokens and meta, lossless), ``text`` (one text per line,
    entities dropped) or any other writable registered format. ``scheme`` (io, bio, bioes)
    applies to the column formats. Atomic: an error leaves no half-written file."""
    p = Path(path)
    info = FORMATS.get(format) if isinstance(format, str) else None
    if info is None or info.write is None:
        writable = [n for n in FORMATS.names() if FORMATS[n].writable]
        raise DataFormatError(
            str(p), f"cannot write format {format!r}; expected one of {', '.join(writable)}"
        )
    if scheme not in SCHEMES:
        raise DataFormatError(str(p), f"unknown tag scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    sentences = list(corpus_or_sentences)
    p.parent.mkdir(parents=True, exist_ok=True)
    # written beside and renamed: ``path`` is the old file or the whole new one, never half
    # of one (a sentence a format cannot hold is found while writing)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    try:
        info.write(sentences, tmp, scheme)
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)


def read_episodes(
    path: str | Path, encoding: str | None = None, encoding_errors: str | None = None
) -> list[Episode]:
    """Read a Few-NERD episode JSONL file (see :mod:`fewner.data.formats.fewnerd`)."""
    return read_episode_lines(read_lines(path, *_codec(encoding, encoding_errors)))


def write_episodes(episodes: Iterable[Episode], path: str | Path) -> None:
    """Write episodes as Few-NERD episode JSONL (bare IO labels)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    write_episode_file(episodes, p)
