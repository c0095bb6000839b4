"""The source-stage readers on tiny fixtures: Pile-NER style tag files (types with spaces,
mismatched B/I types), passage splitting, cutting at ``max_words`` and Pile-NER definitions.

The real files are checked in ``test_source_readers_real.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fewner.data.io import read_corpus, read_corpus_detailed
from fewner.spanmodel.source import examples_from_sentences, split_passage
from fewner.train.source import pile_ner_definitions
from fewner.types import Sentence


def write_tags(path: Path, sentences: list[list[tuple[str, str]]]) -> Path:
    path.write_text(
        "".join("".join(f"{word}\t{tag}\n" for word, tag in s) + "\n" for s in sentences),
        encoding="utf-8",
    )
    return path


def mentions(sentence: Sentence) -> list[tuple[str, str]]:
    return [(sentence.mention(span), span.label) for span in sentence.spans]


# ----- tag files ------------------------------------------------------------------------------


def test_tags_with_spaces_split_on_tabs_only(tmp_path: Path) -> None:
    path = write_tags(
        tmp_path / "passages.bio",
        [[("She", "O"), ("studies", "O"), ("quantum", "B-field of study"),
          ("physics", "I-field of study"), ("at", "O"), ("MIT", "B-organization"), (".", "O")]],
    )
    result = read_corpus_detailed(path)
    assert (result.format, result.scheme) == ("tags", "bio")
    (sentence,) = result.corpus.sentences
    assert sentence.words == ["She", "studies", "quantum", "physics", "at", "MIT", "."]
    assert mentions(sentence) == [("quantum physics", "field of study"), ("MIT", "organization")]
    assert sentence.token_spans() == [(2, 4, "field of study"), (5, 6, "organization")]
    assert not result.corpus.repaired and not result.corpus.skipped


def test_token_with_inner_space_stays_one_token(tmp_path: Path) -> None:
    """Columns split at the tab, so ``New York<TAB>B-location`` is one token "New York" (the
    columns module's documented rule); its offsets still cover exactly that token."""
    path = write_tags(
        tmp_path / "t.tsv", [[("New York", "B-location"), ("is", "O"), ("big", "O")]]
    )
    (sentence,) = read_corpus(path).sentences
    assert sentence.words == ["New York", "is", "big"]
    assert sentence.text == "New York is big"
    assert (sentence.tokens[1].start, sentence.tokens[1].end) == (9, 11)
    assert mentions(sentence) == [("New York", "location")]


def test_mismatched_b_i_types_are_repaired_and_counted(tmp_path: Path) -> None:
    rows = [("in", "O"), ("Gyeonggi", "B-name"), ("Province", "I-province"), (",", "O"),
            ("Korea", "B-country")]
    path = write_tags(tmp_path / "p.bio", [rows])
    corpus = read_corpus(path)  # policy="repair": the I- starts a mention of its own type
    (sentence,) = corpus.sentences
    assert mentions(sentence) == [("Gyeonggi", "name"), ("Province", "province"), ("Korea", "country")]
    assert corpus.repaired == {"I- tag after a different type": 1}
    strict = read_corpus(path, policy="strict")  # the malformed I- token is left untagged
    assert mentions(strict.sentences[0]) == [("Gyeonggi", "name"), ("Korea", "country")]
    assert strict.skipped == {"I- tag after a different type (tokens left untagged, strict policy)": 1}
    assert not strict.repaired


# ----- passages -> pieces -----------------------------------------------------------------------

PASSAGE = "Ada visited St . Louis . She met Bob ! Why ? Dr . Who left .".split()
PASSAGE_SPANS = [(0, 1, "person"), (2, 5, "location"), (8, 9, "person"), (12, 15, "person")]


def passage() -> Sentence:
    return Sentence.from_words(PASSAGE, PASSAGE_SPANS, id="X")


@pytest.mark.parametrize(
    ("max_words", "expected"),
    [
        (100, [(0, 17)]),
        (8, [(0, 6), (6, 12), (12, 17)]),
        # as short as sentence ends allow; never after the "." inside "St . Louis" / "Dr . Who"
        (1, [(0, 6), (6, 10), (10, 12), (12, 17)]),
    ],
)
def test_split_passage_cuts_at_sentence_ends(max_words: int, expected: list[tuple[int, int]]) -> None:
    source = passage()
    pieces = split_passage(source, max_words)
    assert [p.id for p in pieces] == [f"X.{k}" for k in range(len(expected))]
    assert [p.words for p in pieces] == [PASSAGE[lo:hi] for lo, hi in expected]
    assert all(p.words[-1] in {".", "!", "?"} for p in pieces)
    # every mention survives, in the piece holding its words, with the same text and label
    got = [m for p in pieces for m in mentions(p)]
    assert got == mentions(source)
    assert got == [("Ada", "person"), ("St . Louis", "location"), ("Bob", "person"),
                   ("Dr . Who", "person")]
    for piece, (lo, _) in zip(pieces, expected, strict=True):
        for first, last, label in piece.token_spans():
            assert (first + lo, last + lo, label) in PASSAGE_SPANS


def test_split_passage_read_from_file(tmp_path: Path) -> None:
    """A passage read by ``read_corpus`` splits into pieces named after the passage's id."""
    tags = {0: "B-person", 2: "B-location", 3: "I-location", 4: "I-location", 8: "B-person"}
    rows = [(w, tags.get(i, "O")) for i, w in enumerate(PASSAGE)]
    (source,) = read_corpus(write_tags(tmp_path / "passages.bio", [rows])).sentences
    pieces = split_passage(source, 8)
    assert [p.id for p in pieces] == ["passages.bio:1.0", "passages.bio:1.1", "passages.bio:1.2"]
    assert [m for p in pieces for m in mentions(p)] == [
        ("Ada", "person"), ("St . Louis", "location"), ("Bob", "person")
    ]


def test_examples_from_sentences_cuts_long_sentences_and_counts_drops() -> None:
    long = Sentence.from_words(
        "a b c d e f g".split(),
        [(0, 1, "PER"), (2, 4, "ORG"), (4, 6, "Gene_or_gene_product"), (6, 7, "MISC")],
        id="long",
    )
    short = Sentence.from_words(["x", "y"], [(0, 2, "PER")], id="short")
    wide = Sentence.from_words("p q r s t u v".split(), [(1, 7, "LOC")], id="wide")
    pieces, counts = examples_from_sentences([long, short, wide], {"PER": "Person"}, max_words=3)
    assert pieces == [
        (("a", "b", "c"), ((0, 1, "person"),)),  # ORG (c d) crosses the cut after c: dropped
        (("d", "e", "f"), ((1, 3, "gene or gene product"),)),
        (("g",), ((0, 1, "misc"),)),
        (("x", "y"), ((0, 2, "person"),)),
        (("p", "q", "r"), ()),  # LOC (q .. v) crosses two cuts: dropped, counted once
        (("s", "t", "u"), ()),
        (("v",), ()),
    ]
    # each dropped mention counted once (it was counted in every piece it overlapped: 2 + 3)
    assert counts == {"sentences cut at max_words": 2, "mentions dropped at a cut": 2}
    whole, none_cut = examples_from_sentences([long, short])
    assert [len(words) for words, _ in whole] == [7, 2]
    assert [len(spans) for _, spans in whole] == [4, 1]
    assert not none_cut


# ----- Pile-NER definitions ---------------------------------------------------------------------


def _entry(definition: str | None = None, raw: str | None = None) -> dict[str, object]:
    answer = raw if raw is not None else json.dumps(
        {"Definition": definition, "Guidelines": "Do not label generic words."}
    )
    return {"named_entity": "x", "sentences_as_example": [], "gpt_answer": answer}


def test_pile_ner_definitions(tmp_path: Path) -> None:
    data = {
        "location": _entry("'location' refers to geographic entities such as cities and countries."),
        "Field of Study": _entry("'field of study' denotes academic disciplines, e.g. physics."),
        "award": _entry("'award' in this context refers to prizes and honours."),
        "broken": _entry(raw='{"Definition": "\'broken\' refers to'),  # not JSON
        "no answer": {"named_entity": "no answer"},
        "no definition": _entry(raw=json.dumps({"Guidelines": "none"})),
        "url": _entry("Uniform Resource Locators used to reach web pages."),
    }
    path = tmp_path / "definitions.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert pile_ner_definitions(path) == {
        "location": "geographic entities such as cities and countries",
        "field of study": "academic disciplines, e.g. physics",
        "award": "prizes and honours",
        "url": "Uniform Resource Locators used to reach web pages",  # no verb: whole text
    }
