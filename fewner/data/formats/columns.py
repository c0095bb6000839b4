"""Column files: CoNLL-2003 (``token POS chunk NER``) and two-column ``token<TAB>tag`` files.

One reader serves both because they differ only in how many columns a line has: the token is the
first column and the entity tag the last; columns in between (POS, chunk) are not kept.

Reading rules (all counted in ``Corpus.skipped`` / ``Corpus.repaired``, nothing dropped silently):

* Columns are split at tabs when the line has a tab (so a token may contain a space), otherwise
  at runs of whitespace. Trailing whitespace and ``\\r`` are ignored.
* The column count must be the same on every line (``tags`` requires exactly 2, ``conll`` at
  least 2); the first token line sets it and a deviating line is an error naming both lines.
* A blank or whitespace-only line ends a sentence. A blank line that ends no sentence (at the
  start of the file, or a second one in a row) is counted as ``empty sentence (extra blank line)``;
  a missing final blank line is fine. The blank line after a ``-DOCSTART-`` line is its separator.
* ``-DOCSTART-`` lines start a new document: they are skipped (counted) and every following
  sentence carries ``("doc", "<n>")`` in its meta, ``n`` counting documents from 0.
* Tags are decoded by :mod:`fewner.data.schemes`; ``scheme="auto"`` detects the scheme from all
  tags of the file at once. Invalid transitions are repaired (or dropped under ``strict``) and
  counted.

Sentence ids are ``<file name>:<line of the first token>`` and meta holds ``file`` and ``line``,
so any sentence can be found again in its source. Text is the tokens joined by single spaces.

Writing: ``tags`` writes ``token<TAB>tag``. ``conll`` writes ``token _ _ TAG`` (space separated,
``_`` = unknown POS/chunk, the CoNLL-U convention) so that four-column CoNLL-2003 readers accept
the file; sentences whose meta has a ``doc`` get a ``-DOCSTART- -X- -X- O`` line and a blank line
whenever the document changes. Both end every sentence with a blank line. What would not read
back as written is refused with a DataFormatError: a token ``-DOCSTART-`` (a document marker), a
token or tag that is empty, starts or ends with whitespace, or holds a tab or line break (and, in
``conll``, any whitespace).

Recognising (``format: auto``): a ``-DOCSTART-`` line means ``conll``; otherwise, when at least
half the sampled lines have one column count and some last column holds ``O`` or a
``B-/I-/E-/S-`` tag, 2 columns mean ``tags`` and 3 or more ``conll``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from itertools import accumulate
from operator import add
from pathlib import Path

from fewner.data.formats import FORMATS, DataFormat, ReadOptions, Sample
from fewner.data.formats._source import Source
from fewner.data.schemes import OUTSIDE, Policy, Scheme, detect_scheme, split_tag, tags_to_spans
from fewner.errors import DataFormatError, SpanAlignmentError
from fewner.types import Corpus, Sentence, Span, Token

DOCSTART = "-DOCSTART-"
EXTRA_BLANK = "empty sentence (extra blank line)"
DOCSTART_SKIP = "-DOCSTART- line"

LabelMap = Callable[[str], str]
_TAG_HINT = re.compile(r"^(O|[BIES]-\S+)$")


class _Block:
    """Tokens and tags of one sentence as read, before decoding."""

    __slots__ = ("line", "doc", "words", "tags")

    def __init__(self, line: int, doc: int | None) -> None:
        self.line = line
        self.doc = doc
        self.words: list[str] = []
        self.tags: list[str] = []


def read_columns(
    source: Source,
    *,
    columns: str,
    scheme: str,
    policy: Policy,
    label_map: LabelMap | None = None,
) -> tuple[Corpus, Scheme]:
    """Read a column file. ``columns`` is ``"tags"`` (exactly 2) or ``"conll"`` (2 or more)."""
    blocks, skipped, tag_lines = _split_blocks(source, columns)
    if not blocks:
        raise source.error("no sentences found: the file is empty or holds only blank/-DOCSTART- lines")
    resolved = _resolve_scheme(source, scheme, tag_lines)
    corpus = Corpus(name=source.name, sentences=[], skipped=skipped)
    for block in blocks:
        corpus.sentences.append(_decode(source, block, resolved, policy, label_map, corpus))
    return corpus, resolved


def _split_blocks(source: Source, columns: str) -> tuple[list[_Block], Counter[str], dict[str, int]]:
    blocks: list[_Block] = []
    skipped: Counter[str] = Counter()
    tag_lines: dict[str, int] = {}  # first line of each distinct tag, for error messages
    width = 0
    width_line = 0
    doc: int | None = None
    block: _Block | None = None
    after_docstart = False  # the blank line that follows a -DOCSTART- line is its separator
    for lineno, raw in enumerate(source.lines, start=1):
        line = raw.rstrip()
        if not line:
            if after_docstart:
                after_docstart = False
            elif block is None:
                skipped[EXTRA_BLANK] += 1
            else:
                blocks.append(block)
                block = None
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        first = fields[0].strip()
        if first == DOCSTART:
            if block is not None:
                blocks.append(block)
                block = None
            doc = 0 if doc is None else doc + 1
            skipped[DOCSTART_SKIP] += 1
            after_docstart = True
            continue
        after_docstart = False
        if len(fields) != width:
            if width == 0:
                width, width_line = len(fields), lineno
                _check_width(source, columns, width, lineno)
            else:
                raise source.error(
                    f"inconsistent columns: {len(fields)} column(s) here but {width} on line "
                    f"{width_line}; every token line needs the same columns (token ... tag)",
                    lineno,
                )
        tag = fields[-1].strip()
        if not first or not tag or (width > 2 and "\t" in line and not all(f.strip() for f in fields)):
            empty = next(i for i, f in enumerate(fields) if not f.strip())
            raise source.error(f"empty column {empty + 1} (two tabs in a row?)", lineno)
        if block is None:
            block = _Block(lineno, doc)
        block.words.append(first)
        block.tags.append(tag)
        if tag not in tag_lines:
            tag_lines[tag] = lineno
    if block is not None:
        blocks.append(block)
    return blocks, skipped, tag_lines


def _check_width(source: Source, columns: str, width: int, lineno: int) -> None:
    if columns == "tags" and width != 2:
        hint = "; is this a CoNLL file? use --format conll" if width > 2 else ""
        raise source.error(f"expected 2 columns (token and tag), found {width}{hint}", lineno)
    if width < 2:
        raise source.error(f"expected a token and a tag column, found {width} column(s)", lineno)


def _resolve_scheme(source: Source, scheme: str, tag_lines: dict[str, int]) -> Scheme:
    if scheme == "auto":
        resolved: Scheme = detect_scheme(list(tag_lines))
    elif scheme in ("io", "bio", "bioes"):
        resolved = scheme  # type: ignore[assignment]
    else:
        raise source.error(f"unknown tag scheme {scheme!r}; expected auto, io, bio or bioes")
    allowed = {"io": {"I", "B"}, "bio": {"B", "I"}, "bioes": {"B", "I", "E", "S"}}[resolved]
    for tag, lineno in tag_lines.items():
        try:
            prefix, _ = split_tag(tag, resolved)
        except ValueError:
            raise source.error(
                f"tag {tag!r} fits no {resolved.upper()} scheme (expected O or B-/I-/E-/S- + type)",
                lineno,
            ) from None
        if prefix != OUTSIDE and prefix not in allowed:
            raise source.error(
                f"tag {tag!r} is not a {resolved.upper()} tag; pass --scheme bioes (or auto)", lineno
            )
    return resolved


def _decode(
    source: Source,
    block: _Block,
    scheme: Scheme,
    policy: Policy,
    label_map: LabelMap | None,
    corpus: Corpus,
) -> Sentence:
    words = block.words
    starts = list(accumulate([len(w) + 1 for w in words[:-1]], initial=0))
    tokens = list(map(Token, words, starts, map(add, starts, map(len, words))))
    spans: list[Span] = []
    if block.tags.count(OUTSIDE) != len(block.tags):
        token_spans, problems = tags_to_spans(block.tags, scheme, policy)
        for reason, count in problems.items():
            if policy == "repair":
                corpus.repaired[reason] += count
            else:
                corpus.skipped[f"{reason} (tokens left untagged, strict policy)"] += count
        for first, last, label in token_spans:
            spans.append(Span(starts[first], tokens[last - 1].end, label_map(label) if label_map else label))
    meta = [("file", source.name), ("line", str(block.line))]
    if block.doc is not None:
        meta.append(("doc", str(block.doc)))
    return Sentence(
        id=f"{source.name}:{block.line}",
        text=" ".join(words),
        tokens=tuple(tokens),
        spans=tuple(spans),
        meta=tuple(meta),
    )


# ----- writing ------------------------------------------------------------------------------


def sentence_tags(sentence: Sentence, scheme: Scheme, path: Path) -> list[str]:
    """Encode a sentence's spans as tags; misaligned or overlapping spans are DataFormatErrors."""
    from fewner.data.schemes import spans_to_tags

    try:
        token_spans = sentence.token_spans()
        return spans_to_tags(token_spans, len(sentence.tokens), scheme)
    except (SpanAlignmentError, ValueError) as exc:
        raise DataFormatError(str(path), f"cannot write sentence {sentence.id} as tags: {exc}") from None


def _check_column_safe(text: str, what: str, sentence: Sentence, path: Path, spaces_ok: bool) -> None:
    if what == "token" and text == DOCSTART:
        raise DataFormatError(
            str(path),
            f"sentence {sentence.id}: token {DOCSTART!r} would read back as a document marker; "
            "use --to jsonl",
        )
    bad = "\t\n\r" if spaces_ok else None
    if (
        (bad and any(c in text for c in bad))
        or (not spaces_ok and len(text.split()) != 1)
        or not text
        or text != text.strip()  # the reader strips each column
    ):
        raise DataFormatError(
            str(path),
            f"sentence {sentence.id}: {what} {text!r} is empty or contains whitespace and cannot be "
            "written as a column; use --to jsonl",
        )


def write_columns(
    sentences: Iterable[Sentence], path: Path, *, columns: str, scheme: Scheme
) -> None:
    """Write ``tags`` (``token<TAB>tag``) or ``conll`` (``token _ _ TAG``) files."""
    spaces_ok = columns == "tags"
    sep = "\t" if columns == "tags" else " "
    out: list[str] = []
    current_doc: str | None = None
    for sentence in sentences:
        if columns == "conll":
            doc = dict(sentence.meta).get("doc")
            if doc is not None and doc != current_doc:
                out.append(f"{DOCSTART} -X- -X- O\n\n")
            current_doc = doc
        if not sentence.tokens:
            raise DataFormatError(
                str(path), f"sentence {sentence.id} has no tokens; a column file cannot hold it"
            )
        tags = sentence_tags(sentence, scheme, path)
        for token, tag in zip(sentence.tokens, tags, strict=True):
            _check_column_safe(token.text, "token", sentence, path, spaces_ok)
            _check_column_safe(tag, "tag", sentence, path, False)
            middle = "" if columns == "tags" else f"_{sep}_{sep}"
            out.append(f"{token.text}{sep}{middle}{tag}\n")
        out.append("\n")
    path.write_text("".join(out), encoding="utf-8", newline="\n")


# ----- registration ---------------------------------------------------------------------------


def _reader(columns: str) -> Callable[[Source, ReadOptions], tuple[Corpus, str | None]]:
    def read(source: Source, options: ReadOptions) -> tuple[Corpus, str | None]:
        return read_columns(
            source,
            columns=columns,
            scheme=options.scheme,
            policy=options.policy,  # type: ignore[arg-type]
            label_map=options.label_map,
        )

    return read


def _writer(columns: str) -> Callable[[Iterable[Sentence], Path, str], None]:
    def write(sentences: Iterable[Sentence], path: Path, scheme: str) -> None:
        write_columns(sentences, path, columns=columns, scheme=scheme)  # type: ignore[arg-type]

    return write


def _is_tag(text: str) -> bool:
    return _TAG_HINT.match(text) is not None


def _sniff_conll(sample: Sample) -> bool:
    if any(row[0] == DOCSTART for row in sample.rows):
        return True
    width = sample.column_width(_is_tag)
    return width is not None and width >= 3


def _sniff_tags(sample: Sample) -> bool:
    return sample.column_width(_is_tag) == 2


FORMATS.register(
    "conll",
    DataFormat(
        "conll",
        "CoNLL-2003 columns `token POS chunk NER`; -DOCSTART- lines mark documents",
        _reader("conll"),
        _writer("conll"),
        sniff=_sniff_conll,
        sniff_rank=20,
    ),
)
FORMATS.register(
    "tags",
    DataFormat(
        "tags",
        "two columns `token<TAB>tag` (WNUT-17, GUM, Few-NERD), BIO / IO / BIOES",
        _reader("tags"),
        _writer("tags"),
        sniff=_sniff_tags,
        sniff_rank=30,
    ),
)
