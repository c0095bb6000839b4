"""The readers on the real benchmark files: counts must equal those in each folder's README."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from fewner.data.io import read_corpus, read_corpus_detailed, write_corpus
from fewner.errors import DataFormatError
from fewner.types import Corpus


def type_counts(corpus: Corpus) -> Counter[str]:
    return Counter(span.label for sentence in corpus for span in sentence.spans)


def totals(corpus: Corpus) -> tuple[int, int, int]:
    """(sentences, tokens, mentions)"""
    return len(corpus), sum(len(s.tokens) for s in corpus), sum(len(s.spans) for s in corpus)


# ----- CoNLL-2003 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sentences", "docs", "tokens", "mentions"),
    [
        ("train.txt", 14_041, 946, 203_621, 23_499),
        ("valid.txt", 3_250, 216, 51_362, 5_942),
        ("test.txt", 3_453, 231, 46_435, 5_648),
    ],
)
def test_conll2003(shared_data: Path, name: str, sentences: int, docs: int, tokens: int, mentions: int) -> None:
    result = read_corpus_detailed(shared_data / "conll2003" / name)
    corpus = result.corpus
    assert (result.format, result.scheme) == ("conll", "bio")
    assert totals(corpus) == (sentences, tokens, mentions)
    assert len({dict(s.meta)["doc"] for s in corpus}) == docs
    assert corpus.skipped == {"-DOCSTART- line": docs}
    assert not corpus.repaired  # README: all B-/I- sequences are valid
    counts = type_counts(corpus)
    if name == "train.txt":
        assert counts == {"PER": 6_600, "LOC": 7_140, "ORG": 6_321, "MISC": 3_438}
    if name == "test.txt":
        assert counts == {"LOC": 1_668, "ORG": 1_661, "PER": 1_617, "MISC": 702}


def test_conll2003_round_trip(shared_data: Path, tmp_path: Path) -> None:
    """test.txt -> conll (``token _ _ TAG``) -> read again: same tokens, spans and documents;
    and every character span maps back to exactly its tokens."""
    corpus = read_corpus(shared_data / "conll2003" / "test.txt")
    write_corpus(corpus, tmp_path / "test.conll", "conll")
    again = read_corpus(tmp_path / "test.conll")
    assert [(s.text, s.tokens, s.spans) for s in again] == [(s.text, s.tokens, s.spans) for s in corpus]
    assert [dict(s.meta)["doc"] for s in again] == [dict(s.meta)["doc"] for s in corpus]
    for sentence in corpus:
        for span, (first, last, label) in zip(sentence.spans, sentence.token_spans(), strict=True):
            assert sentence.mention(span) == " ".join(sentence.words[first:last])
            assert label == span.label


# ----- WNUT-17 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sentences", "tokens", "mentions"),
    [
        ("wnut17train.conll", 3_394, 62_730, 1_975),  # separates sentences with "\t" lines
        ("emerging.dev.conll", 1_009, 15_733, 836),
        ("emerging.test.annotated", 1_287, 23_394, 1_079),
    ],
)
def test_wnut17(shared_data: Path, tmp_path: Path, name: str, sentences: int, tokens: int, mentions: int) -> None:
    result = read_corpus_detailed(shared_data / "wnut17" / name)
    corpus = result.corpus
    assert (result.format, result.scheme) == ("tags", "bio")
    assert totals(corpus) == (sentences, tokens, mentions)
    assert not corpus.repaired and not corpus.skipped
    assert set(type_counts(corpus)) == {"corporation", "creative-work", "group", "location", "person", "product"}
    if name == "emerging.test.annotated":
        assert type_counts(corpus) == {
            "person": 429, "creative-work": 142, "group": 165,
            "location": 150, "product": 127, "corporation": 66,
        }
    # non-ASCII tokens (emoji, zero-width space, BOM inside a token in dev) survive JSONL exactly
    write_corpus(corpus, tmp_path / "w.jsonl", "jsonl")
    assert read_corpus(tmp_path / "w.jsonl").sentences == corpus.sentences


# ----- GUM --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sentences", "tokens", "mentions"),
    [("gum-train.conll", 2_495, 44_111, 8_285), ("gum-test.conll", 1_000, 18_236, 3_439)],
)
def test_gum(shared_data: Path, name: str, sentences: int, tokens: int, mentions: int) -> None:
    corpus = read_corpus(shared_data / "gum" / name)
    assert totals(corpus) == (sentences, tokens, mentions)
    # both files start with one empty line: counted, not silently dropped
    assert corpus.skipped == {"empty sentence (extra blank line)": 1}
    assert len(type_counts(corpus)) == 11
    if name == "gum-test.conll":
        assert type_counts(corpus) == {
            "person": 823, "abstract": 798, "place": 469, "object": 420, "event": 315,
            "organization": 192, "time": 179, "substance": 95, "plant": 62, "quantity": 44, "animal": 42,
        }


# ----- domain-transfer support sets -------------------------------------------------------------

SUPPORT_SET_SIZES = {
    ("conll", 1): [4, 4, 2, 1, 2, 3, 2, 3, 3, 1],
    ("conll", 5): [11, 10, 8, 7, 7, 8, 8, 11, 7, 10],
    ("wnut", 1): [6, 5, 5, 4, 5, 5, 5, 5, 6, 5],
    ("wnut", 5): [23, 21, 20, 23, 25, 20, 24, 20, 22, 18],
    ("gum", 1): [5, 8, 4, 4, 6, 5, 6, 5, 5, 6],
    ("gum", 5): [21, 19, 16, 22, 21, 21, 17, 18, 22, 23],
}


@pytest.mark.parametrize(("dataset", "shot"), sorted(SUPPORT_SET_SIZES))
def test_domain_transfer_support_sets(shared_data: Path, dataset: str, shot: int) -> None:
    root = shared_data / "domain_transfer_support_sets"
    labels = {
        line.split("-", 1)[1]
        for line in (root / f"labels-{dataset}.txt").read_text(encoding="utf-8").split()
        if line != "O"
    }
    sizes = []
    for index in range(10):
        result = read_corpus_detailed(root / f"samples-{dataset}-{shot}shot" / f"{index}.txt")
        assert (result.format, result.scheme) == ("tags", "bio")
        assert not result.corpus.repaired and not result.corpus.skipped
        counts = type_counts(result.corpus)
        # README: every set covers all types of its dataset, each with at least K mentions
        assert set(counts) == labels
        assert min(counts.values()) >= shot
        sizes.append(len(result.corpus))
    assert sizes == SUPPORT_SET_SIZES[(dataset, shot)]


# ----- Few-NERD INTER test (unofficial BIO) -----------------------------------------------------

FEWNERD_B_RUNS = {  # README: mentions per type, counting runs that start with B-
    "person-athlete": 5_444, "event-sportsevent": 2_798, "other-livingthing": 2_835,
    "location-other": 2_523, "person-actor": 2_181, "organization-government/governmentagency": 1_829,
    "location-bodiesofwater": 1_559, "product-car": 1_539, "organization-politicalparty": 1_486,
    "product-weapon": 1_346, "other-medical": 1_136, "art-music": 1_125, "art-writtenart": 1_104,
    "other-educationaldegree": 440, "building-hospital": 411, "building-theater": 380, "event-election": 203,
}


@pytest.fixture(scope="module")
def big_test(shared_data: Path) -> Path:
    return shared_data / "fewnerd" / "inter_test_bio_unofficial" / "big_test.txt"


def test_fewnerd_inter_test_repair(big_test: Path, shared_data: Path) -> None:
    corpus = read_corpus(big_test, normalize_fewnerd=True)  # ~1.3 s on an idle 2-core machine
    assert totals(corpus)[:2] == (14_006, 312_762)
    official = set((shared_data / "fewnerd" / "type_splits" / "inter" / "labels_test.txt")
                   .read_text(encoding="utf-8").split()) - {"O"}
    assert set(corpus.labels) == official and len(official) == 17
    # The converter decided B/I by the third character of the previous tag, so twice an
    # "I-organization_politicalparty" follows an "organization_government/..." tag (lines 135234
    # and 139685). The README counts runs starting with B- and so ignores those two mentions; the
    # repair policy (conlleval/seqeval default) starts a new mention at each: +2 for that type.
    assert corpus.repaired == {"I- tag after a different type": 2}
    expected = Counter(FEWNERD_B_RUNS)
    expected["organization-politicalparty"] += 2
    assert type_counts(corpus) == expected


def test_fewnerd_inter_test_strict_matches_readme_counts(big_test: Path) -> None:
    """Under the strict policy the two malformed chunks belong to no entity: exactly the README."""
    corpus = read_corpus(big_test, policy="strict", normalize_fewnerd=True)
    assert type_counts(corpus) == FEWNERD_B_RUNS
    # counted per token: the first I- of each malformed chunk, then its following I- tags
    assert corpus.skipped["I- tag after a different type (tokens left untagged, strict policy)"] == 2
    assert set(corpus.skipped) <= {
        "I- tag after a different type (tokens left untagged, strict policy)",
        "I- tag after O (tokens left untagged, strict policy)",
    }


# ----- BBC News: encoding policy ----------------------------------------------------------------


def test_bbc_latin1_byte(shared_data: Path) -> None:
    path = shared_data / "bbc_news" / "sport" / "199.txt"
    with pytest.raises(DataFormatError) as info:
        read_corpus(path)  # strict UTF-8 by default: a clear error, not mojibake
    assert info.value.line is not None and "0xa3" in info.value.problem
    assert "--encoding-errors replace" in info.value.problem
    replaced = read_corpus(path, encoding_errors="replace")
    assert sum(s.text.count("\ufffd") for s in replaced) == 1
    latin = read_corpus(path, encoding="latin-1")
    assert sum(s.text.count("£") for s in latin) == 1
    assert [s.text for s in latin] == [s.text.replace("\ufffd", "£") for s in replaced]


def test_bbc_article_is_text(shared_data: Path) -> None:
    result = read_corpus_detailed(shared_data / "bbc_news" / "tech" / "001.txt")
    assert result.format == "text"
    assert result.corpus.sentences[0].text == "Ink helps drive democracy in Asia"
    assert result.corpus.skipped["blank line"] >= 1
