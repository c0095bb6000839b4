"""The bugs the fuzz tests found, one plain test each (each failed before its fix)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fewner.data.formats._source import decode
from fewner.data.formats.jsonl import read_abstentions
from fewner.data.io import read_corpus, read_episodes, write_corpus, write_episodes
from fewner.distill.answers import parse_dictionary
from fewner.errors import DataFormatError
from fewner.icl.prompts import parse_type
from fewner.types import Episode, Sentence, Token


@pytest.mark.parametrize(
    ("data", "encoding", "handler", "problem"),
    [
        (b"ab", "rot13", "strict", "not a text encoding"),  # was LookupError
        (b"ab\xff", "utf-8", "namereplace", "unsupported encoding error handler"),  # was TypeError
        (b"ab\xff", "utf-8", "surrogateescape", "unsupported encoding error handler"),  # unwritable
        (b"ab+2AA-", "utf-7", "strict", "unpaired surrogate"),
    ],  # "+2AA-" decodes to U+D800
)
def test_decoding_options_that_cannot_give_text_are_one_clear_error(
    data, encoding, handler, problem
) -> None:
    with pytest.raises(DataFormatError, match=problem):
        decode(data, Path("x.txt"), encoding, handler)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"text": "\\ud800 x"}', "unpaired surrogate"),  # read, then every writer failed
        ('{"text": "a", "id": ' + "1" * 5000 + "}", "Exceeds the limit"),  # was ValueError
        ('{"text": ' + "[" * 100000 + "]}", "nested too deeply"),
    ],  # was RecursionError
)
def test_json_lines_that_are_not_valid_text_are_one_clear_error(
    tmp_path: Path, line, problem
) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(DataFormatError, match=rf"x.jsonl:1: .*{problem}"):
        read_corpus(path, "jsonl")
    with pytest.raises(DataFormatError, match=rf"x.jsonl:1: .*{problem}"):
        read_episodes(path)


def test_abstentions_of_an_undecodable_file_are_a_data_format_error(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"text": "caf\xe9", "abstained_types": []}\n')  # was UnicodeDecodeError
    with pytest.raises(DataFormatError, match="cannot decode byte"):
        read_abstentions(path)


@pytest.mark.parametrize("fmt", ["conll", "tags"])
@pytest.mark.parametrize("word", ["-DOCSTART-", "a\xa0"])
def test_column_writers_refuse_tokens_that_would_not_read_back(tmp_path: Path, fmt, word) -> None:
    # "-DOCSTART-" read back as a document marker (the sentence vanished); "a\xa0" as "a".
    sentence = Sentence("s", f"x {word}", (Token("x", 0, 1), Token(word, 2, 2 + len(word))))
    with pytest.raises(DataFormatError, match="read back|whitespace"):
        write_corpus([sentence], tmp_path / "out.txt", fmt)


@pytest.mark.parametrize("types", [("B-x",), ("I-y", "y")])
def test_episode_types_that_look_prefixed_read_back(tmp_path: Path, types) -> None:
    words = ["a", "b"][: len(types)]
    sentence = Sentence.from_words(words, [(i, i + 1, t) for i, t in enumerate(types)], id="s")
    episode = Episode(types=types, support=(sentence,), query=())
    write_episodes([episode], tmp_path / "e.jsonl")
    (back,) = read_episodes(tmp_path / "e.jsonl")  # was "label 'B-x' is neither O nor ..."
    assert back.support[0].spans == sentence.spans


def test_an_episode_mention_of_a_type_named_o_is_refused_not_dropped(tmp_path: Path) -> None:
    sentence = Sentence.from_words(["a"], [(0, 1, "O")], id="s")
    with pytest.raises(DataFormatError, match="type named 'O'"):
        write_episodes([Episode(types=("O",), support=(sentence,), query=())], tmp_path / "e.jsonl")


def test_a_teacher_dictionary_with_a_huge_number_or_an_answer_mark_inside_parses() -> None:
    assert parse_dictionary('{"PER": [' + "1" * 5000 + "]}", ["PER"]).mentions is None  # ValueError
    parsed = parse_dictionary('{"PER": ["Answer: {"]}', ["PER"])  # was unparseable
    assert parsed.mentions == {"PER": ["Answer: {"]}
    cot = parse_dictionary('Draft {"PER": ["x"]}. Answer: {"PER": ["y"]}', ["PER"])
    assert cot.mentions == {"PER": ["y"]}  # a real mark still selects the final dictionary


def test_a_type_name_ending_in_punctuation_reads_back() -> None:
    assert parse_type(" U.S.", ["U.S.", "PER"]) == "U.S."  # was None
    assert parse_type(" PER.", ["U.S.", "PER"]) == "PER"


@pytest.mark.parametrize("damage", ["lost string", "I without B"])
def test_a_docbin_with_corrupt_token_data_is_one_clear_error(tmp_path: Path, damage: str) -> None:
    pytest.importorskip("spacy")
    from spacy.attrs import ENT_IOB
    from spacy.tokens import Doc, DocBin
    from spacy.vocab import Vocab

    docbin = DocBin(attrs=["ORTH", "ENT_IOB", "ENT_TYPE"])
    docbin.add(Doc(Vocab(), words=["Sao", "Paulo"], ents=["B-LOC", "I-LOC"]))
    if damage == "lost string":  # was KeyError [E018] from spaCy's StringStore
        docbin.strings.discard("Paulo")
    else:  # was ValueError [E093]: token.ent_iob values make invalid sequence
        docbin.tokens[0][0, docbin.attrs.index(ENT_IOB)] = 1  # I- on the first token
    path = tmp_path / "x.spacy"
    path.write_bytes(docbin.to_bytes())
    with pytest.raises(DataFormatError, match="x.spacy: document 1 of this DocBin is corrupt"):
        read_corpus(path)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"text": "\\ud800 x"}', "unpaired surrogate"),  # was UnicodeEncodeError downstream
        ('{"text": "a", "id": ' + "1" * 5000 + "}", "Exceeds the limit"),  # was ValueError
        ('{"text": ' + "[" * 100000 + "]}", "nested too deeply"),
    ],  # was RecursionError
)
def test_predict_documents_with_json_that_is_not_valid_text(tmp_path: Path, line, problem) -> None:
    from fewner.text.documents import read_documents

    path = tmp_path / "x.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(DataFormatError, match=rf"x.jsonl:1: .*{problem}"):
        read_documents(path)
