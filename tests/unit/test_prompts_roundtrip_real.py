"""Gold spans -> target -> parse gives the gold spans back, on real sentences of every dataset.

One case cannot round-trip by construction of the answer format: a gold mention whose text also
occurs untagged (for that type) earlier in the sentence. The answer names the text, not the
position, so the parser takes the first free occurrence. Such (sentence, type) pairs must still
give back the same mention texts, and they must stay rare; the test reports how many there are.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from fewner.data.io import read_corpus
from fewner.decoding import candidate_spans
from fewner.prompts import ExtractionFormat
from fewner.types import Sentence

SUPPORT = {"conll": "conll2003", "wnut": "wnut17", "gum": "gum"}
TEMPLATES = ["obp-llm-v1", "cllmfs-v1"]


def support_sentences(shared_data: Path, key: str) -> list[Sentence]:
    root = shared_data / "domain_transfer_support_sets"
    files = sorted(root.glob(f"samples-{key}-*shot/*.txt"))
    assert files, key
    return [s for f in files for s in read_corpus(f)]


def ambiguous(sentence: Sentence, entity_type: str) -> bool:
    """A gold mention text of this type that also occurs word-aligned outside every gold span.

    (Inside a longer gold mention is fine: the parser prefers occurrences that do not overlap
    spans it has already taken, so ``Jerusalem`` ... ``Holy City of Jerusalem`` round-trips.)
    """
    gold = {(s.start, s.end) for s in sentence.spans if s.label == entity_type}
    starts = {t.start for t in sentence.tokens}
    ends = {t.end for t in sentence.tokens}
    for start, end in gold:
        mention = sentence.text[start:end]
        for m in re.finditer(f"(?=({re.escape(mention)}))", sentence.text):
            occ = (m.start(1), m.end(1))
            inside_gold = any(occ[0] < e and s < occ[1] for s, e in gold)
            if occ[0] in starts and occ[1] in ends and not inside_gold:
                return True
    return False


def check_round_trip(
    fmt: ExtractionFormat, sentences: list[Sentence], types: list[str]
) -> Counter[str]:
    seen: Counter[str] = Counter()
    for sentence in sentences:
        for entity_type in types:
            gold = tuple(s for s in sentence.spans if s.label == entity_type)
            kept, dropped = fmt.target_mentions(sentence, entity_type)
            assert not dropped, (sentence.id, dropped)  # no marker characters in these datasets
            target = fmt.target(sentence, entity_type)
            result = fmt.parse(target, sentence, entity_type)
            assert result.stats["exact"] == len(gold)
            assert set(result.stats) <= {"answers", "mentions", "exact", "none"}, result.stats
            seen["pairs"] += 1
            seen["mentions"] += len(gold)
            if not gold:
                assert result.is_none and result.spans == ()
            elif ambiguous(sentence, entity_type):
                seen["ambiguous"] += 1
                assert sorted(sentence.mention(s) for s in result.spans) == sorted(kept)
            else:
                assert result.spans == gold, (sentence.id, sentence.text, target)
                seen["repeated"] += len(kept) - len(set(kept))
                seen["adjacent"] += sum(
                    a.end + 1 == b.start for a, b in zip(gold, gold[1:], strict=False)
                )
    return seen


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("key", sorted(SUPPORT))
def test_round_trip_support_sets(shared_data: Path, key: str, template: str) -> None:
    fmt = ExtractionFormat(template, SUPPORT[key])
    sentences = support_sentences(shared_data, key)
    seen = check_round_trip(fmt, sentences, sorted(fmt.definitions))
    assert seen["mentions"] > 100
    assert seen["ambiguous"] <= 0.02 * seen["pairs"], seen


@pytest.mark.parametrize(
    ("path", "definitions", "limit"),
    [
        ("conll2003/test.txt", "conll2003", 1500),
        ("wnut17/emerging.test.annotated", "wnut17", 1500),
        ("gum/gum-test.conll", "gum", 1000),
    ],
)
def test_round_trip_test_sets(shared_data: Path, path: str, definitions: str, limit: int) -> None:
    fmt = ExtractionFormat("obp-llm-v1", definitions)
    sentences = list(read_corpus(shared_data / path))[:limit]
    seen = check_round_trip(fmt, sentences, sorted(fmt.definitions))
    assert seen["mentions"] > 500
    assert seen["ambiguous"] <= 0.02 * seen["pairs"], seen
    if definitions == "conll2003":  # CoNLL test has both repeated and adjacent mentions
        assert seen["repeated"] > 0 and seen["adjacent"] > 0, seen


def test_round_trip_fewnerd_with_underscore_labels(shared_data: Path) -> None:
    path = shared_data / "fewnerd" / "inter_test_bio_unofficial" / "big_test.txt"
    # raw labels are person_actor etc.: prompts and definitions must accept that spelling
    corpus = read_corpus(path)
    sentences = list(corpus)[:3000]
    types = sorted({s.label for sent in sentences for s in sent.spans})
    assert "person_actor" in types and len(types) == 17
    fmt = ExtractionFormat("obp-llm-v1", "fewnerd")
    prompts = fmt.prompts(sentences[0], types)
    assert "The entity of person-actor refers to" in dict(prompts)["person_actor"]
    seen = check_round_trip(fmt, sentences, types)
    assert seen["mentions"] > 3000
    assert seen["ambiguous"] <= 0.02 * seen["pairs"], seen


@pytest.mark.parametrize("template", TEMPLATES)
def test_constraint_accepts_gold_targets(shared_data: Path, template: str) -> None:
    """Targets and the decoding constraint share one grammar: every gold answer whose mentions
    are candidates (<= 8 words, no edge punctuation) is an accepted answer."""
    checked = 0
    for key, definitions in SUPPORT.items():
        fmt = ExtractionFormat(template, definitions)
        for sentence in support_sentences(shared_data, key)[:40]:
            constraint = fmt.constraint(sentence)
            candidates = candidate_spans(sentence)
            for entity_type in fmt.definitions:
                kept, _ = fmt.target_mentions(sentence, entity_type)
                if all(m in candidates for m in kept):
                    assert constraint.accepts(fmt.target(sentence, entity_type)), (
                        sentence.text,
                        kept,
                    )
                    checked += 1
    assert checked > 300
