"""Shared pieces of the fuzz tests: the settings decorator, input mutators, random sentences,
and the invariants every read sentence and every parsed span must satisfy."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st

from fewner.errors import FewnerError
from fewner.types import Sentence, Span, Token

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"


def fuzz(examples: int) -> Callable:
    """The ``fewner-fuzz`` profile (tests/fuzz/conftest.py) with ``examples`` examples, or
    ``$FEWNER_FUZZ_EXAMPLES`` when set."""
    wanted = int(os.environ.get("FEWNER_FUZZ_EXAMPLES", "0") or 0)
    return settings(settings.get_profile("fewner-fuzz"), max_examples=wanted or examples)


@contextmanager
def only_fewner_errors() -> Iterator[list[FewnerError]]:
    """Let a FewnerError through (recorded), fail on any other exception (hypothesis shrinks it)."""
    caught: list[FewnerError] = []
    try:
        yield caught
    except FewnerError as err:
        assert str(err).strip(), "a FewnerError must carry a message"
        caught.append(err)


@contextmanager
def scratch_file(data: bytes, suffix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="fewner-fuzz-") as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes(data)
        yield path


# ----- mutations -----------------------------------------------------------------------------

#: Fragments that mean something to some reader or parser.
TEXT_PIECES = [
    "O",
    "B-PER",
    "I-PER",
    "E-LOC",
    "S-X",
    "I-",
    "B-",
    "B-B-x",
    "I-O",
    "-DOCSTART-",
    "-DOCSTART- -X- -X- O",
    "person-actor",
    "\t",
    " ",
    "  ",
    "\r",
    "\n",
    "\r\n",
    "\ufeff",
    "\u2028",
    "\x85",
    "\x0b",
    "\x1c",
    "\xa0",
    "\u200b",
    "\x00",
    "{",
    "}",
    "[",
    "]",
    '"',
    ":",
    ",",
    "null",
    "true",
    "-1",
    "0",
    "1e309",
    "9" * 30,
    "9" * 5000,
    "[" * 5000,
    "é",
    "e\u0301",
    "😀",
    "東京",
    "\\ud800",
    "\\u0000",
    '"text"',
    '"entities"',
    '"tokens"',
    '"start"',
    '"end"',
    '"label"',
    '"word"',
    '"support"',
    '"query"',
    '"types"',
    "NaN",
    "Infinity",
]
BYTE_PIECES = [b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\x00", b"\x80"]


def _piece() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.sampled_from(TEXT_PIECES).map(lambda s: s.encode("utf-8")),
        st.sampled_from(BYTE_PIECES),
        st.binary(min_size=1, max_size=4),
        st.text(min_size=1, max_size=6).map(lambda s: s.encode("utf-8", "surrogatepass")),
    )


def _split_fields(line: bytes) -> tuple[list[bytes], bytes]:
    sep = b"\t" if b"\t" in line else b" "
    return line.split(sep), sep


def _apply(data: bytes, op: tuple) -> bytes:
    kind, a, b, piece = op
    lines = data.split(b"\n")
    n = len(lines)
    if kind == "byte" and data:
        i = a % len(data)
        return data[:i] + bytes([b % 256]) + data[i + 1 :]
    if kind == "insert":
        i = a % (len(data) + 1)
        return data[:i] + piece + data[i:]
    if kind == "delete" and data:
        i = a % len(data)
        return data[:i] + data[i + 1 + b % 8 :]
    if kind == "dup_line":
        i = a % n
        return b"\n".join(lines[: i + 1] + lines[i:])
    if kind == "drop_line":
        i = a % n
        return b"\n".join(lines[:i] + lines[i + 1 :])
    if kind == "swap_lines":
        i, j = a % n, b % n
        lines[i], lines[j] = lines[j], lines[i]
        return b"\n".join(lines)
    if kind == "insert_line":
        i = a % (n + 1)
        return b"\n".join(lines[:i] + [piece] + lines[i:])
    if kind == "truncate":
        return data[: a % (len(data) + 1)]
    if kind.startswith("col_"):
        i = a % n
        fields, sep = _split_fields(lines[i])
        j = b % len(fields)
        if kind == "col_drop" and len(fields) > 1:
            del fields[j]
        elif kind == "col_add":
            fields.insert(j, piece)
        elif kind == "col_set":
            fields[j] = piece
        elif kind == "col_swap":
            fields[0], fields[j] = fields[j], fields[0]
        elif kind == "col_sep":
            sep = b" " if sep == b"\t" else b"\t"
        lines[i] = sep.join(fields)
        return b"\n".join(lines)
    return data


OPS = [
    "byte",
    "insert",
    "delete",
    "dup_line",
    "drop_line",
    "swap_lines",
    "insert_line",
    "truncate",
    "col_drop",
    "col_add",
    "col_set",
    "col_swap",
    "col_sep",
]


def mutated(seeds: list[bytes], max_ops: int = 4) -> st.SearchStrategy[bytes]:
    """One of ``seeds`` after up to ``max_ops`` byte, line and column mutations."""
    op = st.tuples(st.sampled_from(OPS), st.integers(0, 1 << 20), st.integers(0, 1 << 20), _piece())

    def build(seed: bytes, ops: list[tuple]) -> bytes:
        for o in ops:
            seed = _apply(seed, o)
        return seed

    return st.builds(build, st.sampled_from(seeds), st.lists(op, max_size=max_ops))


# ----- random sentences ----------------------------------------------------------------------

WORD_ALPHABET = st.characters(
    blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc"), blacklist_characters="\u200b\u2060\ufeff"
)
WORD = st.one_of(
    st.text(WORD_ALPHABET, min_size=1, max_size=6),
    st.sampled_from(["-DOCSTART-", "O", "B-PER", "{", "[", '"', "<<<", ">>>", "é", "e\u0301"]),
)
LABEL = st.one_of(
    st.sampled_from(["PER", "LOC", "person-actor", "B-x", "I-y", "S-z", "E", "O", "a_b"]),
    st.text(WORD_ALPHABET, min_size=1, max_size=5),
)
GAP = st.sampled_from([" ", " ", " ", "  ", "\t", "\n", ""])


@st.composite
def sentences(draw, gaps: bool = False, min_words: int = 1) -> Sentence:
    """A sentence of random words (no whitespace inside) with random non-overlapping spans;
    ``gaps=True``: words separated by random whitespace (or nothing) instead of one space."""
    words = draw(st.lists(WORD, min_size=min_words, max_size=8))
    tokens: list[Token] = []
    text = draw(GAP) if gaps else ""
    for k, w in enumerate(words):
        if k:
            text += draw(GAP) if gaps else " "
        tokens.append(Token(w, len(text), len(text) + len(w)))
        text += w
    if gaps:
        text += draw(GAP)
    cuts = sorted(draw(st.sets(st.integers(0, len(tokens)), max_size=2 * len(tokens))))
    spans = []
    for a, b in zip(cuts[::2], cuts[1::2], strict=False):
        if a < b and draw(st.booleans()):
            spans.append(Span(tokens[a].start, tokens[b - 1].end, draw(LABEL)))
    sid = draw(st.one_of(st.just("s1"), st.text(min_size=1, max_size=5).filter(_encodable)))
    return Sentence(id=sid, text=text, tokens=tuple(tokens), spans=tuple(spans))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# ----- invariants -----------------------------------------------------------------------------


def check_sentence(sentence: Sentence) -> None:
    """Tokens index the text exactly, in order, without overlap; spans lie inside the text, fall
    on token boundaries and do not overlap; the text is valid Unicode (it can be written)."""
    text = sentence.text
    assert isinstance(text, str) and isinstance(sentence.id, str)
    text.encode("utf-8")
    prev = 0
    for token in sentence.tokens:
        assert prev <= token.start < token.end <= len(text), (sentence.id, token)
        assert text[token.start : token.end] == token.text
        prev = token.end
    for a, b in zip(sentence.spans, sentence.spans[1:], strict=False):
        assert not a.overlaps(b), (a, b)
    for span in sentence.spans:
        assert 0 <= span.start < span.end <= len(text)
        assert isinstance(span.label, str) and span.label
        if sentence.tokens:
            sentence.char_span_to_tokens(span)  # raises when not on token boundaries


def aligned(span: Span, sentence: Sentence) -> bool:
    starts = {t.start for t in sentence.tokens}
    ends = {t.end for t in sentence.tokens}
    return span.start in starts and span.end in ends
