"""The readers on the broad source corpora (shared/data/source): counts must equal its README.

How the README counts, and how that maps to what ``read_corpus`` reports:

* Mentions are counted as ``B-`` tags. Under the default ``repair`` policy an ``I-`` that cannot
  continue the open mention (after ``O`` or after another type, e.g. ``Gyeonggi B-name``,
  ``Province I-province``) starts a mention of its own, so the reader finds README + repairs
  mentions, each repair counted in ``Corpus.repaired``; under ``strict`` those tokens are left
  untagged (counted in ``Corpus.skipped``) and the mentions equal the README exactly.
* wikigold.tsv has ``-DOCSTART-<TAB>O`` lines, each followed by a blank line: the README counts
  each as a sentence (blank-line separated blocks), the reader as a document marker (it resolves
  the file to ``conll`` and skips the line, counted). So README sentences = sentences + markers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fewner.data.io import read_corpus, read_corpus_detailed, read_text_lines
from fewner.train.source import pile_ner_definitions
from fewner.types import Corpus

OTHER_TYPE = "I- tag after a different type"
AFTER_O = "I- tag after O"
STRICT = " (tokens left untagged, strict policy)"


@pytest.fixture(scope="module")
def source(shared_data: Path) -> Path:
    path = shared_data / "source"
    if not (path / "README.md").is_file():
        pytest.skip(f"source corpora not found: no {path}/README.md (shared/data/source)")
    return path


def totals(corpus: Corpus) -> tuple[int, int, int]:
    """(sentences, tokens, mentions)"""
    return len(corpus), sum(len(s.tokens) for s in corpus), sum(len(s.spans) for s in corpus)


def types(corpus: Corpus) -> set[str]:
    return {span.label for sentence in corpus for span in sentence.spans}


# ----- pile-ner-391 -----------------------------------------------------------------------------


def test_pile_ner_passages(source: Path) -> None:
    """README: 2,217 passages, 461,127 tokens, 30,822 mentions of 368 types (B- tags)."""
    folder = source / "pile-ner-391"
    result = read_corpus_detailed(folder / "passages.bio")
    corpus = result.corpus
    assert (result.format, result.scheme) == ("tags", "bio")
    assert corpus.repaired == {OTHER_TYPE: 156}  # the README's mismatched B/I types
    assert not corpus.skipped
    assert totals(corpus) == (2_217, 461_127, 30_822 + 156)
    labels = types(corpus)
    assert len(labels) == 368
    assert {"field of study", "person", "organization", "software", "disease"} <= labels
    assert sum(" " in label for label in labels) > 0  # types with spaces survive whole
    assert not any(" " in token.text for sentence in corpus for token in sentence.tokens)
    label_set = [line.strip() for line in read_text_lines(folder / "labels.txt") if line.strip()]
    assert len(label_set) == len(set(label_set)) == 391
    assert labels <= set(label_set)

    strict = read_corpus(folder / "passages.bio", policy="strict")
    assert totals(strict) == (2_217, 461_127, 30_822)
    assert len(types(strict)) == 368
    assert strict.skipped == {OTHER_TYPE + STRICT: 156} and not strict.repaired


def test_pile_ner_definitions(source: Path) -> None:
    folder = source / "pile-ner-391"
    definitions = pile_ner_definitions(folder / "definitions.json")
    assert len(definitions) == 391
    labels = {line.strip().lower() for line in read_text_lines(folder / "labels.txt") if line.strip()}
    assert set(definitions) == labels
    assert definitions["location"].startswith("geographic entities")
    assert not any(phrase.endswith(".") for phrase in definitions.values())
    # the lead "'type' refers to" is cut from all but entries whose verb the pattern misses
    leads = [t for t, phrase in definitions.items() if phrase.startswith(f"'{t}'")]
    assert leads == []  # also "'name' in the context of named entity recognition refers to"


# ----- biomed -----------------------------------------------------------------------------------

BIOMED = [
    ("BC5CDR", 4_560, 9_385, {"Chemical", "Disease"}),
    ("NCBI-disease", 5_424, 5_134, {"Disease"}),
    ("BioNLP13CG", 3_033, 10_826, 16),
    ("AnatEM", 5_861, 6_946, {"Anatomy"}),
    ("BC2GM", 12_574, 15_197, {"GENE"}),
    ("linnaeus", 11_935, 2_119, {"Species"}),
]


@pytest.mark.parametrize(("folder", "sentences", "mentions", "labels"), BIOMED)
def test_biomed_train(
    source: Path, folder: str, sentences: int, mentions: int, labels: set[str] | int
) -> None:
    result = read_corpus_detailed(source / "biomed" / folder / "train.tsv")
    corpus = result.corpus
    assert (result.format, result.scheme) == ("tags", "bio")
    assert not corpus.repaired and not corpus.skipped
    n_sentences, _, n_mentions = totals(corpus)
    assert (n_sentences, n_mentions) == (sentences, mentions)
    found = types(corpus)
    assert (len(found) if isinstance(labels, int) else found) == labels


@pytest.mark.slow
@pytest.mark.parametrize("folder", [name for name, *_ in BIOMED])
def test_biomed_devel_test_load_cleanly(source: Path, folder: str) -> None:
    """Not counted in the README: they load as BIO with nothing repaired, skipped or new."""
    train = types(read_corpus(source / "biomed" / folder / "train.tsv"))
    for split in ("devel.tsv", "test.tsv"):
        result = read_corpus_detailed(source / "biomed" / folder / split)
        assert (result.format, result.scheme) == ("tags", "bio")
        assert not result.corpus.repaired and not result.corpus.skipped
        assert len(result.corpus) > 0 and types(result.corpus) <= train


# ----- wiki -------------------------------------------------------------------------------------


def test_wikigold(source: Path) -> None:
    """README: 1,841 sentences (145 of them a -DOCSTART- block), 3,541 mentions (B- tags)."""
    result = read_corpus_detailed(source / "wiki" / "wikigold.tsv")
    corpus = result.corpus
    assert (result.format, result.scheme) == ("conll", "bio")  # -DOCSTART- lines
    assert corpus.skipped == {"-DOCSTART- line": 145}
    assert corpus.repaired == {OTHER_TYPE: 17}
    assert totals(corpus) == (1_841 - 145, 39_007, 3_541 + 17)
    assert types(corpus) == {"PER", "LOC", "ORG", "MISC"}
    # 145 articles: the first has no -DOCSTART- (its sentences carry no ``doc``), the next 144
    # are docs 0..143, and the last marker ends the file (a conversion artefact, harmless)
    docs = [dict(s.meta).get("doc") for s in corpus]
    assert docs[0] is None and docs[-1] == "143"
    assert len(set(docs)) == 145
    strict = read_corpus(source / "wiki" / "wikigold.tsv", policy="strict")
    assert totals(strict)[2] == 3_541


def test_wikineural_val(source: Path) -> None:
    """README: 11,590 sentences, 19,182 mentions (B- tags). The silver tags have 438 mentions
    that start with I- after O (e.g. ``Hot I-MISC 100 I-MISC``)."""
    result = read_corpus_detailed(source / "wiki" / "wikineural-en-val.tsv")
    corpus = result.corpus
    assert (result.format, result.scheme) == ("tags", "bio")
    assert corpus.repaired == {AFTER_O: 438, OTHER_TYPE: 1}
    assert not corpus.skipped
    assert totals(corpus) == (11_590, 267_839, 19_182 + 438 + 1)
    assert types(corpus) == {"PER", "LOC", "ORG", "MISC"}
    strict = read_corpus(source / "wiki" / "wikineural-en-val.tsv", policy="strict")
    assert totals(strict)[2] == 19_182
