"""Readers and writers on hand-written fixtures: every format, line-ending and whitespace
variants, error cases with file/line, and read -> write -> read round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from fewner.data.formats import FORMATS
from fewner.data.io import (
    detect_format,
    fewnerd_label,
    read_corpus,
    read_corpus_detailed,
    read_episodes,
    write_corpus,
    write_episodes,
)
from fewner.errors import DataFormatError
from fewner.types import Sentence, Span


@pytest.fixture(scope="module")
def data_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "data"


def mentions(sentence: Sentence) -> list[tuple[str, str]]:
    return [(sentence.mention(s), s.label) for s in sentence.spans]


def same_content(a: list[Sentence], b: list[Sentence]) -> None:
    assert [s.text for s in a] == [s.text for s in b]
    assert [s.tokens for s in a] == [s.tokens for s in b]
    assert [s.spans for s in a] == [s.spans for s in b]


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


# ----- CoNLL ----------------------------------------------------------------------------------


def test_conll_documents_tokens_and_spans(data_dir: Path) -> None:
    result = read_corpus_detailed(data_dir / "mini.conll")
    corpus = result.corpus
    assert (result.format, result.scheme) == ("conll", "bio")
    assert len(corpus) == 3
    assert corpus.skipped == {"-DOCSTART- line": 2}
    assert not corpus.repaired
    first, second, third = corpus.sentences
    assert first.id == "mini.conll:3"
    assert dict(first.meta) == {"file": "mini.conll", "line": "3", "doc": "0"}
    assert mentions(first) == [("EU", "ORG"), ("German", "MISC")]
    assert mentions(second) == [("Peter Blackburn", "PER")]
    assert dict(third.meta)["doc"] == "1"
    # the last line has no final newline; non-ASCII tokens keep exact offsets
    assert mentions(third) == [("Zürich", "LOC"), ("São Paulo", "LOC")]
    assert third.text == "Zürich vs São Paulo"


def test_conll_round_trip_keeps_documents(data_dir: Path, tmp_path: Path) -> None:
    corpus = read_corpus(data_dir / "mini.conll")
    out = tmp_path / "out.conll"
    write_corpus(corpus, out, "conll")
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "-DOCSTART- -X- -X- O"
    assert lines[2] == "EU _ _ B-ORG"
    again = read_corpus(out, format="conll")
    same_content(corpus.sentences, again.sentences)
    assert [dict(s.meta)["doc"] for s in again] == ["0", "0", "1"]
    assert again.skipped == {"-DOCSTART- line": 2}


# ----- two-column tags ------------------------------------------------------------------------


def test_tags_unicode_fixture(data_dir: Path) -> None:
    result = read_corpus_detailed(data_dir / "mini.tsv")
    assert (result.format, result.scheme) == ("tags", "bio")
    first, second = result.corpus.sentences
    assert mentions(first) == [("Empire State Building", "location"), ("ESB", "location")]
    assert second.words == ["こんにちは", "Müller", "😀", "Café", "Olé"]
    assert mentions(second) == [("Müller", "person"), ("Café Olé", "creative-work")]


@pytest.mark.parametrize(
    "variant",
    ["crlf", "spaces", "trailing_whitespace", "no_final_blank", "tab_blank_lines"],
)
def test_tags_layout_variants_read_identically(data_dir: Path, tmp_path: Path, variant: str) -> None:
    base = (data_dir / "mini.tsv").read_text(encoding="utf-8")
    text = {
        "crlf": base.replace("\n", "\r\n"),
        "spaces": base.replace("\t", " "),
        "trailing_whitespace": "\n".join(ln + " \t" if ln else ln for ln in base.split("\n")),
        "no_final_blank": base.rstrip("\n"),
        "tab_blank_lines": base.replace("\n\n", "\n\t\n"),  # WNUT-17 train separates with "\t"
    }[variant]
    expected = read_corpus(data_dir / "mini.tsv")
    got = read_corpus(write(tmp_path, "v.tsv", text), format="tags")
    same_content(expected.sentences, got.sentences)
    assert not got.skipped


def test_tags_leading_and_double_blank_lines_are_counted(tmp_path: Path) -> None:
    path = write(tmp_path, "g.tsv", "\nA\tB-x\n\n\nB\tO\n")
    corpus = read_corpus(path)
    assert len(corpus) == 2
    assert corpus.skipped == {"empty sentence (extra blank line)": 2}


def test_io_bare_labels_detected(data_dir: Path) -> None:
    result = read_corpus_detailed(data_dir / "mini_io.tsv")
    assert result.scheme == "io"
    assert [mentions(s) for s in result.corpus] == [
        [("Adam Sandler", "person-actor"), ("Hamlet", "art-writtenart")],
        [("Amazon", "location-bodiesofwater")],
    ]


def test_bioes_and_fewnerd_label_normalization(data_dir: Path) -> None:
    result = read_corpus_detailed(data_dir / "mini_bioes.tsv", normalize_fewnerd=True)
    assert result.scheme == "bioes"
    assert mentions(result.corpus.sentences[0]) == [("Adam Sandler", "person-actor"), ("Cher", "person-actor")]
    mapped = read_corpus(data_dir / "mini_bioes.tsv", label_map={"person_actor": "PER"})
    assert mapped.labels == ["PER"]


def test_fewnerd_label() -> None:
    assert fewnerd_label("person_actor") == "person-actor"
    assert fewnerd_label("organization_government/governmentagency") == "organization-government/governmentagency"
    assert fewnerd_label("person-actor") == "person-actor"
    assert fewnerd_label("a_b_c") == "a_b_c"  # not a Few-NERD underscore label: unchanged


def test_repair_and_strict_policies_are_counted(tmp_path: Path) -> None:
    path = write(tmp_path, "r.tsv", "New\tB-org\nLabour\tI-party\nwon\tO\n")
    repaired = read_corpus(path)
    assert mentions(repaired.sentences[0]) == [("New", "org"), ("Labour", "party")]
    assert repaired.repaired == {"I- tag after a different type": 1}
    strict = read_corpus(path, policy="strict")
    assert mentions(strict.sentences[0]) == [("New", "org")]
    assert strict.skipped == {"I- tag after a different type (tokens left untagged, strict policy)": 1}


@pytest.mark.parametrize("scheme", ["io", "bio", "bioes"])
def test_tags_round_trip_each_scheme(data_dir: Path, tmp_path: Path, scheme: str) -> None:
    corpus = read_corpus(data_dir / "mini.tsv")
    out = tmp_path / f"out.{scheme}.tsv"
    write_corpus(corpus, out, "tags", scheme=scheme)
    again = read_corpus(out, format="tags", scheme=scheme)
    # no two same-type mentions touch in this fixture, so even IO is lossless here
    same_content(corpus.sentences, again.sentences)


# ----- JSONL ------------------------------------------------------------------------------------


def test_jsonl_fixture(data_dir: Path) -> None:
    corpus = read_corpus(data_dir / "mini.jsonl")
    assert [s.id for s in corpus] == ["j1", "j2", "j3", "mini.jsonl:5"]
    assert corpus.skipped == {"blank line": 1}
    j1, j2, j3, plain = corpus.sentences
    assert mentions(j1) == [("Angela Merkel", "PER"), ("São Paulo", "LOC")]
    # tokenized with a forced break at the entity end: "York-based" -> "York", "-based"
    assert mentions(j2) == [("New York", "LOC")]
    assert j2.token_spans() == [(1, 3, "LOC")]
    assert dict(j2.meta) == {"source": "hand"}
    assert j3.words == ["北京", "is", "big"]
    assert plain.spans == ()


def test_jsonl_round_trip_is_identical(data_dir: Path, tmp_path: Path) -> None:
    corpus = read_corpus(data_dir / "mini.jsonl")
    out = tmp_path / "out.jsonl"
    write_corpus(corpus, out, "jsonl")
    again = read_corpus(out)
    assert again.sentences == corpus.sentences  # ids, text, tokens, spans and meta


def test_conll_to_jsonl_to_conll(data_dir: Path, tmp_path: Path) -> None:
    corpus = read_corpus(data_dir / "mini.conll")
    write_corpus(corpus, tmp_path / "a.jsonl", "jsonl")
    via_json = read_corpus(tmp_path / "a.jsonl")
    assert via_json.sentences == corpus.sentences
    write_corpus(via_json, tmp_path / "b.conll", "conll")
    same_content(corpus.sentences, read_corpus(tmp_path / "b.conll").sentences)


def test_jsonl_char_spans_to_tags_non_ascii(tmp_path: Path) -> None:
    """Character offsets count code points: 'Zürich' and '😀' are one character each."""
    text = "😀 Zürich und Ærø"
    sentence = Sentence(id="u", text=text, tokens=(), spans=())
    from fewner.data.tokenize import tokenize

    sentence = Sentence(id="u", text=text, tokens=tuple(tokenize(text)),
                        spans=(Span(2, 8, "LOC"), Span(13, 16, "LOC")))
    write_corpus([sentence], tmp_path / "u.tsv", "tags")
    assert (tmp_path / "u.tsv").read_text(encoding="utf-8").splitlines() == [
        "😀\tO", "Zürich\tB-LOC", "und\tO", "Ærø\tB-LOC", ""]
    back = read_corpus(tmp_path / "u.tsv").sentences[0]
    assert mentions(back) == [("Zürich", "LOC"), ("Ærø", "LOC")]


# ----- plain text -------------------------------------------------------------------------------


def test_text_fixture(data_dir: Path, tmp_path: Path) -> None:
    result = read_corpus_detailed(data_dir / "mini_text.txt")
    assert result.format == "text"
    corpus = result.corpus
    assert [s.text for s in corpus] == [
        "First line of text.",
        "Second line, with spaces around.",
        "Don't split O’Neil or state-of-the-art!",
    ]
    assert [s.id for s in corpus] == ["mini_text.txt:1", "mini_text.txt:3", "mini_text.txt:4"]
    assert corpus.skipped == {"blank line": 1}
    write_corpus(corpus, tmp_path / "t.txt", "text")
    same_content(corpus.sentences, read_corpus(tmp_path / "t.txt", format="text").sentences)


# ----- Few-NERD episodes ------------------------------------------------------------------------


def test_episodes_read_and_round_trip(data_dir: Path, tmp_path: Path) -> None:
    episodes = read_episodes(data_dir / "mini_episodes.jsonl")
    assert len(episodes) == 2
    first = episodes[0]
    assert first.types == ("art-writtenart", "person-actor", "person-athlete")
    assert first.id == "mini_episodes.jsonl:1"
    assert [mentions(s) for s in first.support] == [
        [("Adam Sandler", "person-actor"), ("Hamlet", "art-writtenart")],
        [("Serena Williams", "person-athlete")],
    ]
    assert first.query[0].id == "mini_episodes.jsonl:1:query:0"
    write_episodes(episodes, tmp_path / "e.jsonl")
    assert (tmp_path / "e.jsonl").read_text(encoding="utf-8") == (
        data_dir / "mini_episodes.jsonl"
    ).read_text(encoding="utf-8")


def test_episode_label_outside_types(tmp_path: Path) -> None:
    path = write(tmp_path, "e.jsonl", '{"support": {"word": [["A"]], "label": [["person-actor"]]}, '
                 '"query": {"word": [], "label": []}, "types": ["art-music"]}\n')
    with pytest.raises(DataFormatError, match=r"e\.jsonl:1: .*neither O nor one of the episode types"):
        read_episodes(path)


def test_episode_file_given_to_read_corpus(data_dir: Path) -> None:
    with pytest.raises(DataFormatError, match="read_episodes"):
        read_corpus(data_dir / "mini_episodes.jsonl")


# ----- format detection -------------------------------------------------------------------------


def test_detect_format(data_dir: Path) -> None:
    assert detect_format(data_dir / "mini.conll") == "conll"
    assert detect_format(data_dir / "mini.tsv") == "tags"
    assert detect_format(data_dir / "mini_io.tsv") == "tags"
    assert detect_format(data_dir / "mini.jsonl") == "jsonl"
    assert detect_format(data_dir / "mini_text.txt") == "text"


# ----- errors: file, line and problem -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "kwargs", "line", "problem"),
    [
        ("cols.tsv", "A\tO\nB\tI-x\tz\n", {}, 2, "inconsistent columns: 3 column"),
        ("four.tsv", "A NN B-NP O\n", {"format": "tags"}, 1, "use --format conll"),
        ("one.txt", "A\tO\nB\n", {"format": "tags"}, 2, "inconsistent columns"),
        ("tab2.tsv", "A\t\tO\n", {"format": "conll"}, 1, "empty column 2"),
        ("bad.tsv", "A\tB-x\nB\tPER\n", {}, 2, "tag 'PER' fits no BIO scheme"),
        ("bioes.tsv", "A\tS-x\n", {"scheme": "bio"}, 1, "not a BIO tag"),
        ("empty.tsv", "", {"format": "tags"}, None, "no sentences"),
        ("blank.tsv", "\n\n \n", {"format": "tags"}, None, "no sentences"),
        ("empty.txt", "", {}, None, "empty"),
        ("bad.jsonl", '{"text": "a"}\n{"text": \n', {}, 2, "bad JSON"),
        ("arr.jsonl", "[1, 2]\n", {}, 1, "expected a JSON object"),
        ("notext.jsonl", '{"entities": []}\n', {}, 1, '"text"'),
        ("out.jsonl", '{"text": "abc", "entities": [{"start": 1, "end": 9, "label": "X"}]}\n', {}, 1,
         "outside the text"),
        ("neg.jsonl", '{"text": "abc", "entities": [{"start": -1, "end": 2, "label": "X"}]}\n', {}, 1,
         "outside the text"),
        ("ws.jsonl", '{"text": "a bc", "entities": [{"start": 1, "end": 4, "label": "X"}]}\n', {}, 1,
         "whitespace"),
        ("ovl.jsonl", '{"text": "a b c", "entities": [{"start": 0, "end": 3, "label": "X"}, '
         '{"start": 2, "end": 5, "label": "Y"}]}\n', {}, 1, "overlap"),
        ("mis.jsonl", '{"text": "ab c", "entities": [{"start": 0, "end": 1, "label": "X"}], '
         '"tokens": [["ab", 0, 2], ["c", 3, 4]]}\n', {}, 1, "token boundaries"),
        ("tok.jsonl", '{"text": "ab c", "tokens": [["ab", 0, 2], ["x", 3, 4]]}\n', {}, 1,
         "does not match the text"),
        ("scheme.tsv", "A\tO\n", {"scheme": "iob9"}, None, "unknown tag scheme"),
        ("fmt.tsv", "A\tO\n", {"format": "xml"}, None, "unknown format"),
        ("pol.tsv", "A\tO\n", {"policy": "lenient"}, None, "unknown policy"),
    ],
)
def test_errors_name_file_line_and_problem(
    tmp_path: Path, name: str, content: str, kwargs: dict, line: int | None, problem: str
) -> None:
    path = write(tmp_path, name, content)
    with pytest.raises(DataFormatError) as info:
        read_corpus(path, **kwargs)
    assert info.value.path == str(path)
    assert info.value.line == line
    assert problem in info.value.problem
    assert str(info.value).startswith(f"{path}:{line}: " if line else f"{path}: ")


def test_undecodable_byte_reports_line_and_offset(tmp_path: Path) -> None:
    path = write(tmp_path, "l1.txt", "first line\nprice \xa310 here\n".encode("latin-1"))
    with pytest.raises(DataFormatError) as info:
        read_corpus(path)
    assert info.value.line == 2
    assert "0xa3 at byte offset 17 (column 7)" in info.value.problem
    assert "--encoding-errors replace" in info.value.problem and "--encoding latin-1" in info.value.problem
    assert read_corpus(path, encoding_errors="replace").sentences[1].text == "price \ufffd10 here"
    assert read_corpus(path, encoding="latin-1").sentences[1].text == "price £10 here"


def test_unknown_encoding(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="unknown text encoding"):
        read_corpus(write(tmp_path, "x.txt", "a\n"), encoding="utf-99")


def test_bom_is_dropped(tmp_path: Path) -> None:
    corpus = read_corpus(write(tmp_path, "bom.tsv", "\ufeffA\tB-x\n"), format="tags")
    assert corpus.sentences[0].words == ["A"]


# ----- writer errors ----------------------------------------------------------------------------


def test_writer_rejects_misaligned_spans(tmp_path: Path) -> None:
    sentence = Sentence.from_words(["New", "York"], id="s")
    sentence = sentence.with_spans([Span(0, 2, "X")])  # "Ne": not on token boundaries
    with pytest.raises(DataFormatError, match="sentence s"):
        write_corpus([sentence], tmp_path / "x.tsv", "tags")


def test_writer_rejects_tokens_with_spaces_in_conll(tmp_path: Path) -> None:
    sentence = Sentence.from_words(["New York"], [(0, 1, "LOC")], id="s")
    with pytest.raises(DataFormatError, match="whitespace"):
        write_corpus([sentence], tmp_path / "x.conll", "conll")
    write_corpus([sentence], tmp_path / "x.tsv", "tags")  # tab-separated: a space is fine
    assert read_corpus(tmp_path / "x.tsv").sentences[0].words == ["New York"]


def test_writer_rejects_empty_sentence(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no tokens"):
        write_corpus([Sentence(id="e", text="", tokens=())], tmp_path / "x.tsv", "tags")


def test_jsonl_empty_text_is_counted(tmp_path: Path) -> None:
    corpus = read_corpus(write(tmp_path, "e.jsonl", '{"text": ""}\n{"text": "a"}\n'))
    assert len(corpus) == 1
    assert corpus.skipped == {"empty sentence (no text)": 1}


@pytest.mark.parametrize("fmt", sorted(n for n, info in FORMATS.items() if info.writable))
def test_every_writable_format_round_trips(data_dir: Path, tmp_path: Path, fmt: str) -> None:
    """Contract over the format registry: what a writer writes, its reader reads back."""
    if fmt == "docbin":  # the spaCy extra
        pytest.importorskip("spacy")
    corpus = read_corpus(data_dir / "mini.conll")
    out = tmp_path / f"out.{fmt}"
    write_corpus(corpus, out, fmt)
    again = read_corpus(out, format=fmt)
    assert [s.text for s in again] == [s.text for s in corpus]
    if fmt != "text":  # plain text carries no entities
        same_content(corpus.sentences, again.sentences)


def test_writer_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="cannot write format"):
        write_corpus([], tmp_path / "x", "xml")


def test_a_registered_format_is_read_written_and_recognised(tmp_path: Path) -> None:
    """The format registry is the only dispatch: a format registered from outside fewner is
    read, written, chosen by ``auto`` from its extension and offered by ``format_names``."""
    from fewner.data.formats import DataFormat, format_names
    from fewner.data.formats.jsonl import read_jsonl

    def read(source, options):
        return read_jsonl(source, options.label_map), None

    def write_pipe(sentences, path, scheme):
        write_corpus(sentences, path, "jsonl")

    FORMATS.register("pipe", DataFormat("pipe", "test", read, write_pipe, extensions=(".pipe",)))
    try:
        assert "pipe" in format_names() and "pipe" in format_names(writable=True)
        sentences = [Sentence.from_words(["Rome", "is", "far"], [(0, 1, "LOC")], id="r1")]
        path = tmp_path / "x.pipe"
        write_corpus(sentences, path, "pipe")
        assert detect_format(path) == "pipe"
        result = read_corpus_detailed(path, label_map={"LOC": "place"})
        assert result.format == "pipe" and result.scheme is None
        assert mentions(result.corpus.sentences[0]) == [("Rome", "place")]
    finally:
        FORMATS.unregister("pipe")
    assert "pipe" not in format_names()


def test_every_builtin_format_registers_itself_with_its_module() -> None:
    infos = FORMATS.load_all()
    assert {"conll", "tags", "jsonl", "text"} <= set(infos)
    for name, info in infos.items():
        assert info.name == name and info.description and info.sniff is not None
        assert info.read.__module__.startswith("fewner.data.formats.")
