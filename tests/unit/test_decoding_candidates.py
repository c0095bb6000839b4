"""Candidate mentions: word-aligned, deduplicated, counted, bounded in length."""

from __future__ import annotations

import pytest

from fewner.decoding.candidates import candidate_spans
from fewner.types import Sentence, Token


def _sentence(text: str) -> Sentence:
    return Sentence.from_words(text.split(), id="s")


def test_every_candidate_is_a_word_aligned_substring() -> None:
    s = _sentence("the cat saw the cat in New York-based Zürich")
    cands = candidate_spans(s, max_words=3)
    starts = {t.start for t in s.tokens}
    ends = {t.end for t in s.tokens}
    assert "cat saw the" in cands and "in New York-based Zürich" not in cands  # 4 words > 3
    for text, where in cands.occurrences.items():
        for start, end in where:
            assert s.text[start:end] == text
            assert start in starts and end in ends
    assert "at sa" not in cands and "York" not in cands  # not word-aligned


def test_counts_are_occurrences() -> None:
    cands = candidate_spans(_sentence("the cat saw the cat"))
    assert cands.count("the cat") == 2
    assert cands.count("the") == 2
    assert cands.count("saw") == 1
    assert cands.count("dog") == 0
    assert cands.counts["cat"] == 2
    assert len(set(cands)) == len(cands)  # deduplicated


def test_max_words_bounds_length() -> None:
    s = _sentence("a b c d e f g h i j")
    assert max(len(t.split()) for t in candidate_spans(s, max_words=4)) == 4
    assert len(candidate_spans(s, max_words=1)) == 10
    with pytest.raises(ValueError):
        candidate_spans(s, max_words=0)


def test_edge_punctuation_is_dropped_by_default() -> None:
    s = _sentence("killed in Sonmarg , said ( BBC )")
    default = candidate_spans(s)
    assert "Sonmarg , said" in default  # inner punctuation stays
    assert "Sonmarg ," not in default and "( BBC" not in default and "," not in default
    assert "Sonmarg ," in candidate_spans(s, edge_punctuation=True)


def test_raw_text_with_and_without_tokens() -> None:
    text = "Visit São Paulo, then Zürich!"
    cands = candidate_spans(text)
    assert {"São Paulo", "Zürich", "Visit São Paulo"} <= set(cands)
    assert "Paulo," not in cands  # the fewner tokenizer splits the comma off
    tokens = [Token("Visit", 0, 5), Token("São Paulo,", 6, 16)]
    assert set(candidate_spans(text, tokens)) == {"Visit", "São Paulo,", "Visit São Paulo,"}
    with pytest.raises(ValueError):
        candidate_spans(text, [Token("x", 40, 41)])
