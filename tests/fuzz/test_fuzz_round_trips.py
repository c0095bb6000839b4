"""Fuzzed round trips: for every format with a writer, write -> read gives back what was written.

Random sentences (:func:`tests.fuzz.kit.sentences`: odd words such as ``-DOCSTART-``, ``O``,
``B-PER``, combining marks, emoji; labels such as ``B-x``, ``O``, ``person-actor``) are written
and read back. The writer may refuse a sentence its format cannot hold (a label with a space in
a tag file, a line break in a text file), but only with a :class:`~fewner.errors.DataFormatError`;
what it writes must read back as written, up to what the format documents it does not keep:

* ``jsonl`` and ``docbin``: everything (id, text, tokens, spans, meta);
* ``conll`` / ``tags``: words and spans (ids and meta are positions in the new file); in IO,
  adjacent mentions of one type merge (IO cannot mark their boundary);
* ``text``: the text only (no entities), as the reader strips it;
* Few-NERD episodes: types, words and spans (IO, so adjacent mentions of one type merge).
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fewner.data.formats import format_names
from fewner.data.io import read_corpus, read_episodes, write_corpus, write_episodes
from fewner.errors import DataFormatError
from fewner.types import Episode, Sentence, Span, Token
from tests.fuzz.kit import check_sentence, fuzz, sentences

HAS_SPACY = importlib.util.find_spec("spacy") is not None
META = st.dictionaries(
    st.sampled_from(["file", "doc", "src"]), st.text(max_size=4), max_size=2
).map(lambda d: list(d.items()))


def _merged_io(sentence: Sentence) -> list[tuple[int, int, str]]:
    """Token spans as IO reads them back: adjacent spans of one label become one."""
    merged: list[list] = []
    for first, last, label in sentence.token_spans():
        if merged and merged[-1][1] == first and merged[-1][2] == label:
            merged[-1][1] = last
        else:
            merged.append([first, last, label])
    return [tuple(m) for m in merged]


def _write_or_refuse(sents: list[Sentence], path: Path, fmt: str, scheme: str) -> bool:
    try:
        write_corpus(sents, path, fmt, scheme)
    except DataFormatError:
        return False
    return True


@pytest.mark.parametrize("fmt", [f for f in format_names(writable=True) if f != "docbin"])
@fuzz(60)
@given(data=st.data())
def test_write_then_read_gives_back_what_was_written(fmt: str, data) -> None:
    gaps = fmt in ("jsonl", "text")
    sents = data.draw(st.lists(sentences(gaps=gaps), min_size=1, max_size=4))
    if fmt == "jsonl":
        sents = [
            s.__class__(s.id, s.text, s.tokens, s.spans, tuple(data.draw(META))) for s in sents
        ]
    scheme = data.draw(st.sampled_from(["io", "bio", "bioes"]))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"out.{fmt}"
        if not _write_or_refuse(sents, path, fmt, scheme):
            return
        if fmt == "text" and not any(s.text.strip() for s in sents):
            with pytest.raises(DataFormatError, match="no text found"):
                read_corpus(path, fmt)
            return
        back = read_corpus(path, fmt, scheme=scheme if fmt in ("conll", "tags") else "auto")
    for sentence in back.sentences:
        check_sentence(sentence)
    if fmt == "jsonl":
        assert back.sentences == sents
    elif fmt == "text":
        assert [s.text for s in back.sentences] == [s.text.strip() for s in sents if s.text.strip()]
    else:
        assert [s.words for s in back.sentences] == [s.words for s in sents]
        if scheme == "io":
            assert [_merged_io(s) for s in back.sentences] == [_merged_io(s) for s in sents]
        else:
            assert [s.token_spans() for s in back.sentences] == [s.token_spans() for s in sents]


@pytest.mark.skipif(not HAS_SPACY, reason="spaCy is not installed (pip install 'fewner[spacy]')")
@fuzz(40)
@given(sents=st.lists(sentences(gaps=True), min_size=1, max_size=3), meta=META)
@example(
    sents=[
        Sentence(
            "x",
            " a\n\nb  c ",
            (Token("a", 1, 2), Token("b", 4, 5), Token("c", 7, 8)),
            (Span(1, 5, "PER"),),
        )
    ],
    meta=[],
)
def test_docbin_round_trip_is_exact(sents: list[Sentence], meta) -> None:
    sents = [s.__class__(s.id, s.text, s.tokens, s.spans, tuple(meta)) for s in sents]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.spacy"
        if not _write_or_refuse(sents, path, "docbin", "bio"):
            return
        back = read_corpus(path)
    kept = [s for s in sents if s.text.strip()]  # docs without text are skipped (and counted)
    assert back.sentences == [
        s.__class__(s.id, s.text, s.tokens, s.spans, tuple((k, v) for k, v in dict(s.meta).items()))
        for s in kept
    ]


@st.composite
def episodes(draw) -> Episode:
    support = draw(st.lists(sentences(), min_size=1, max_size=3))
    query = draw(st.lists(sentences(), max_size=2))
    labels = sorted({s.label for x in support + query for s in x.spans})
    extra = draw(st.lists(st.sampled_from(["PER", "x", "B-x", "O"]), max_size=2))
    types = tuple(dict.fromkeys([*labels, *extra])) or ("PER",)
    return Episode(types=types, support=tuple(support), query=tuple(query), id="e")


@fuzz(60)
@given(eps=st.lists(episodes(), min_size=1, max_size=2))
@example(
    eps=[
        Episode(
            types=("B-x",), support=(Sentence.from_words(["a"], [(0, 1, "B-x")], id="s"),), query=()
        )
    ]
)
@example(
    eps=[
        Episode(
            types=("I-y", "y"),
            support=(Sentence.from_words(["a", "b"], [(0, 1, "I-y"), (1, 2, "y")], id="s"),),
            query=(),
        )
    ]
)
def test_episode_files_round_trip(eps: list[Episode]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "episodes.jsonl"
        try:
            write_episodes(eps, path)
        except DataFormatError as err:
            assert "'O'" in str(err)  # the one type IO files cannot hold
            return
        back = read_episodes(path)
    assert [e.types for e in back] == [e.types for e in eps]
    for got, want in zip(back, eps, strict=True):
        pairs = list(zip(got.support + got.query, want.support + want.query, strict=True))
        for g, w in pairs:
            check_sentence(g)
            assert g.words == w.words and _merged_io(g) == _merged_io(w)
