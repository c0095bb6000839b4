"""Fuzzed readers: every data reader on random and mutated files.

Properties: reading raises nothing but :class:`~fewner.errors.FewnerError` (a one-line message
naming the file); whatever is read is a valid corpus (tokens index the text, spans lie on token
boundaries without overlap, the text is writable Unicode); and whatever is read survives a
write -> read round trip through fewner JSONL unchanged. Seeds are the small real fixtures in
tests/fixtures/data, mutated byte-, line- and column-wise (:func:`tests.fuzz.kit.mutated`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fewner.data.formats._source import decode, read_lines
from fewner.data.formats.jsonl import read_abstentions
from fewner.data.io import read_corpus, read_episodes, write_corpus, write_episodes
from fewner.errors import DataFormatError
from tests.fuzz.kit import FIXTURES, check_sentence, fuzz, mutated, only_fewner_errors, scratch_file

SEED_FILES = {
    "conll": ["mini.conll"],
    "tags": ["mini.tsv", "mini_bioes.tsv", "mini_io.tsv"],
    "jsonl": ["mini.jsonl"],
    "text": ["mini_text.txt"],
    "episodes": ["mini_episodes.jsonl"],
}
SEEDS = {
    fmt: [(FIXTURES / name).read_bytes() for name in names] for fmt, names in SEED_FILES.items()
}
ALL_SEEDS = [data for seeds in SEEDS.values() for data in seeds]
SCHEMES = st.sampled_from(["auto", "io", "bio", "bioes"])
POLICIES = st.sampled_from(["repair", "strict"])
HANDLERS = st.sampled_from(["strict", "replace", "ignore"])


def _check_corpus_round_trip(corpus, folder: Path) -> None:
    """Every sentence valid, and identical after writing and reading fewner JSONL."""
    for sentence in corpus.sentences:
        check_sentence(sentence)
    out = folder / "round-trip.jsonl"
    write_corpus(corpus, out, "jsonl")
    again = read_corpus(out, "jsonl")
    assert again.sentences == corpus.sentences


@pytest.mark.parametrize("fmt", ["conll", "tags", "jsonl", "text"])
@fuzz(60)
@given(data=st.data())
def test_each_reader_on_its_own_mutated_files(fmt: str, data) -> None:
    raw = data.draw(mutated(SEEDS[fmt]))
    scheme, policy, handler = data.draw(SCHEMES), data.draw(POLICIES), data.draw(HANDLERS)
    with scratch_file(raw, ".dat") as path, only_fewner_errors() as caught:
        corpus = read_corpus(path, fmt, scheme, policy, encoding_errors=handler)
        _check_corpus_round_trip(corpus, path.parent)
    assert not caught or isinstance(caught[0], DataFormatError)


@fuzz(120)
@given(
    raw=mutated(ALL_SEEDS, max_ops=6),
    suffix=st.sampled_from([".txt", ".conll", ".tsv", ".jsonl", ".spacy", ""]),
    scheme=SCHEMES,
    policy=POLICIES,
    handler=HANDLERS,
)
@example(
    raw=b"-DOCSTART- -X- -X- O\n\n", suffix=".txt", scheme="auto", policy="repair", handler="strict"
)
@example(raw=b"a\tO\n\x1c\tO\n", suffix=".tsv", scheme="auto", policy="repair", handler="strict")
def test_format_auto_on_anything(
    raw: bytes, suffix: str, scheme: str, policy: str, handler: str
) -> None:
    with scratch_file(raw, suffix) as path, only_fewner_errors():
        corpus = read_corpus(path, "auto", scheme, policy, encoding_errors=handler)
        _check_corpus_round_trip(corpus, path.parent)


@fuzz(80)
@given(raw=mutated(SEEDS["episodes"] + SEEDS["jsonl"], max_ops=5), handler=HANDLERS)
def test_episode_reader_on_mutated_files(raw: bytes, handler: str) -> None:
    with scratch_file(raw, ".jsonl") as path, only_fewner_errors():
        episodes = read_episodes(path, encoding_errors=handler)
        for ep in episodes:
            for sentence in ep.support + ep.query:
                check_sentence(sentence)
                assert {s.label for s in sentence.spans} <= set(ep.types)
        out = path.parent / "again.jsonl"
        write_episodes(episodes, out)
        again = read_episodes(out)
        assert [(e.types, [s.spans for s in e.support + e.query]) for e in again] == [
            (e.types, [s.spans for s in e.support + e.query]) for e in episodes
        ]


# ----- structure-aware JSON mutations --------------------------------------------------------

KEYS = [
    "id",
    "text",
    "entities",
    "tokens",
    "meta",
    "start",
    "end",
    "label",
    "support",
    "query",
    "types",
    "word",
    "abstained_types",
]
JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 40),
    st.sampled_from([10**30, -(10**30), 2**63]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    st.sampled_from(["", " ", "O", "PER", "\ud800", "a\u0301", "😀", "I-PER"]),
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=10,
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _replace(value, path, new):
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


def _delete(value, path):
    head, rest = path[0], path[1:]
    if rest:
        return _replace(value, (head,), _delete(value[head], rest))
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k != head}
    return [v for i, v in enumerate(value) if i != head]


@st.composite
def json_mutated_file(draw, seeds: list[bytes]) -> bytes:
    """A fixture's JSON lines with values at random places replaced by random JSON values (or
    keys deleted), serialised with or without ASCII escapes."""
    lines = [ln for ln in draw(st.sampled_from(seeds)).decode("utf-8").split("\n") if ln.strip()]
    records = [json.loads(ln) for ln in lines]
    for _ in range(draw(st.integers(1, 3))):
        k = draw(st.integers(0, len(records) - 1))
        paths = list(_paths(records[k]))
        path = draw(st.sampled_from(paths))
        if path and draw(st.booleans()):
            records[k] = _delete(records[k], path)
        else:
            records[k] = _replace(records[k], path, draw(JSON_VALUE))
    ascii_only = draw(st.booleans())
    text = "\n".join(json.dumps(r, ensure_ascii=ascii_only) for r in records) + "\n"
    return text.encode("utf-8", "surrogatepass")


@fuzz(150)
@given(raw=json_mutated_file(SEEDS["jsonl"]))
@example(raw=b'{"text": "\\ud800 x", "entities": []}\n')
def test_jsonl_reader_on_structurally_mutated_records(raw: bytes) -> None:
    with scratch_file(raw, ".jsonl") as path, only_fewner_errors():
        corpus = read_corpus(path, "jsonl")
        _check_corpus_round_trip(corpus, path.parent)
    with scratch_file(raw, ".jsonl") as path, only_fewner_errors():
        read_abstentions(path)


@fuzz(120)
@given(raw=json_mutated_file(SEEDS["episodes"]))
@example(
    raw=b'{"support": {"word": [["a"]], "label": [["B-x"]]}, "query": {"word": [], "label": []},'
    b' "types": ["B-x"]}\n'
)
def test_episode_reader_on_structurally_mutated_records(raw: bytes) -> None:
    with scratch_file(raw, ".jsonl") as path, only_fewner_errors():
        episodes = read_episodes(path)
        out = path.parent / "again.jsonl"
        write_episodes(episodes, out)
        again = read_episodes(out)
        assert [(e.types, [s.spans for s in e.support + e.query]) for e in again] == [
            (e.types, [s.spans for s in e.support + e.query]) for e in episodes
        ]


# ----- decoding ------------------------------------------------------------------------------


@fuzz(150)
@given(
    raw=st.one_of(st.binary(max_size=40), mutated(ALL_SEEDS)),
    encoding=st.sampled_from(
        [
            "utf-8",
            "utf-8-sig",
            "latin-1",
            "ascii",
            "utf-16",
            "utf-32",
            "utf-7",
            "cp1252",
            "idna",
            "punycode",
            "rot13",
            "hex",
            "base64",
            "nope",
        ]
    ),
    handler=st.sampled_from(
        [
            "strict",
            "replace",
            "ignore",
            "backslashreplace",
            "surrogateescape",
            "surrogatepass",
            "namereplace",
            "xmlcharrefreplace",
            "bogus",
        ]
    ),
)
@example(raw=b"ab", encoding="rot13", handler="strict")
@example(raw=b"ab\xff", encoding="utf-8", handler="namereplace")
@example(raw=b"ab\xff", encoding="utf-8", handler="surrogateescape")
def test_decoding_any_bytes_with_any_options(raw: bytes, encoding: str, handler: str) -> None:
    with only_fewner_errors():
        decode(raw, Path("x.txt"), encoding, handler).encode("utf-8")
    with scratch_file(raw, ".txt") as path, only_fewner_errors():
        for line in read_lines(path, encoding, handler).lines:
            assert "\n" not in line
            line.encode("utf-8")


# ----- spaCy DocBin ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def docbin_seed() -> bytes:
    pytest.importorskip("spacy")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "mini.spacy"
        write_corpus(read_corpus(FIXTURES / "mini.jsonl"), out, "docbin")
        return out.read_bytes()


@fuzz(60)
@given(data=st.data())
def test_docbin_reader_on_mutated_files(docbin_seed: bytes, data) -> None:
    """Mutations of the compressed bytes, and of the msgpack inside (recompressed), which gets
    past zlib into spaCy's own checks."""
    import zlib

    if data.draw(st.booleans()):
        raw = data.draw(mutated([docbin_seed], max_ops=3))
    else:
        inner = data.draw(mutated([zlib.decompress(docbin_seed)], max_ops=3))
        raw = zlib.compress(inner)
    with scratch_file(raw, ".spacy") as path, only_fewner_errors():
        corpus = read_corpus(path)
        _check_corpus_round_trip(corpus, path.parent)


@fuzz(60)
@given(raw=mutated([b"B-PER\nI-PER\nO\nB-LOC\nI-LOC\n", b"B-person\nI-person\n"], max_ops=4))
@example(raw=b"B-PER\nB-caf\xe9\n")  # was UnicodeDecodeError
def test_support_set_label_files(raw: bytes) -> None:
    from fewner.data.support_sets import read_types

    with scratch_file(raw, ".txt") as path, only_fewner_errors():
        types = read_types(path)
        assert types and all(isinstance(t, str) and t for t in types)


@fuzz(80)
@given(
    raw=st.one_of(
        mutated(SEEDS["jsonl"] + SEEDS["text"], max_ops=4), json_mutated_file(SEEDS["jsonl"])
    ),
    layout=st.sampled_from(["auto", "lines", "jsonl"]),
)
def test_document_reader_of_predict_inputs(raw: bytes, layout: str) -> None:
    """``fewner predict``'s document reader (:func:`fewner.text.documents.read_documents`)."""
    from fewner.text.documents import read_documents

    with scratch_file(raw, ".jsonl") as path, only_fewner_errors():
        for document in read_documents(path, layout).documents:
            assert isinstance(document.text, str) and document.text.strip()
            document.text.encode("utf-8")
