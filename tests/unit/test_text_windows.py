"""Long sentences -> overlapping chunks -> spans merged back (fewner.text.windows)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fewner.data.tokenize import sentence_from_text
from fewner.spans import merge_spans
from fewner.text.windows import Window, cut, merge_chunks, plan_chunks
from fewner.types import Sentence, Span


def test_plan_fits_overlaps_and_moves_on() -> None:
    assert plan_chunks([1] * 5, 10, 3) == [(0, 5)]
    assert plan_chunks([], 10, 3) == []
    assert plan_chunks([1] * 10, 4, 2) == [(0, 4), (2, 6), (4, 8), (6, 10)]
    assert plan_chunks([1] * 10, 4, 0) == [(0, 4), (4, 8), (8, 10)]
    # the overlap is at most half a chunk, so the cut always moves on
    assert plan_chunks([1] * 6, 2, 16) == [(0, 2), (1, 3), (2, 4), (3, 5), (4, 6)]


def test_plan_by_cost_and_a_token_over_the_window() -> None:
    assert plan_chunks([3, 3, 3, 3], 7, 1) == [(0, 2), (1, 3), (2, 4)]
    # a token larger than the window alone is a chunk of its own; the next chunk starts past it
    assert plan_chunks([1, 1, 20, 1, 1], 4, 2) == [(0, 2), (2, 3), (3, 5)]
    # the overlap shrinks where the next chunk could not reach past the previous one
    assert plan_chunks([1, 1, 1, 1, 10], 10, 2) == [(0, 4), (4, 5)]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 6), max_size=60),
    st.integers(1, 12),
    st.integers(0, 8),
    st.one_of(st.none(), st.integers(1, 10)),
)
def test_plan_properties(costs: list[int], size: int, overlap: int, max_tokens: int | None) -> None:
    ranges = plan_chunks(costs, size, overlap, max_tokens)
    n = len(costs)
    if n == 0:
        assert ranges == []
        return
    assert ranges[0][0] == 0 and ranges[-1][1] == n
    for (a, b), (c, d) in zip(ranges, ranges[1:], strict=False):
        assert a < c <= b < d  # starts and ends move on; no gap between chunks
        assert b - c <= overlap
    for a, b in ranges:
        assert b - a == 1 or sum(costs[a:b]) <= size
        assert max_tokens is None or b - a <= max_tokens
    window = Window(size, overlap, "subwords", max_tokens)
    assert window.plan(costs) == ranges
    assert window.fits(costs) == (ranges == [(0, n)] and sum(costs) <= size)


def _long_sentence() -> Sentence:
    return sentence_from_text(
        "Reports say Peter Blackburn met officials in New York City , then flew to "
        "São Paulo and Brussels on Monday with Nadim Ladki of the European Commission .",
        "s",
    )


def test_cut_rebases_text_and_tokens() -> None:
    sentence = _long_sentence()
    ranges = plan_chunks([1] * len(sentence.tokens), 8, 3)
    pieces = cut(sentence, ranges)
    assert [p.id for p in pieces] == [f"s#{k}" for k in range(len(ranges))]
    for (a, b), piece in zip(ranges, pieces, strict=True):
        assert piece.words == sentence.words[a:b]
        assert all(piece.text[t.start : t.end] == t.text for t in piece.tokens)
        assert piece.text == sentence.text[sentence.tokens[a].start : sentence.tokens[b - 1].end]


def _capitalised_runs(sentence: Sentence) -> Sentence:
    """A local rule: each run of capitalised words is an entity (LOC when one word, else PER)."""
    spans, i, words = [], 0, sentence.words
    while i < len(words):
        if words[i][:1].isupper():
            j = i
            while j < len(words) and words[j][:1].isupper():
                j += 1
            spans.append(sentence.token_span_to_char(i, j, "LOC" if j - i == 1 else "PER"))
            i = j
        else:
            i += 1
    return sentence.with_spans(spans)


@pytest.mark.parametrize(("size", "overlap"), [(4, 2), (6, 3), (9, 4), (12, 16), (5, 0)])
def test_a_cut_entity_is_kept_from_the_chunk_where_it_is_whole(size: int, overlap: int) -> None:
    sentence = _long_sentence()
    ranges = plan_chunks([1] * len(sentence.tokens), size, overlap)
    predicted = [_capitalised_runs(p) for p in cut(sentence, ranges)]
    spans, _, dropped = merge_chunks(sentence, ranges, predicted, ["PER", "LOC"])
    whole = _capitalised_runs(sentence).spans
    assert all(sentence.text[s.start : s.end] == sentence.mention(s) for s in spans)
    if overlap >= 3:  # every entity here (at most 3 words) is whole in some chunk, with context
        assert tuple(spans) == whole
        assert dropped["chunk_spans_superseded"] > 0
    else:  # without overlap a cut entity stays cut: spans are still flat and in the text
        assert merge_spans(spans)[0] == spans


def test_the_chunk_with_more_context_decides() -> None:
    sentence = sentence_from_text("a b c d New York e f g h", "s")
    ranges = [(0, 6), (3, 10)]  # chunk 0 ends right after "York"; chunk 1 sees it in the middle
    chunk0 = cut(sentence, ranges)[0]
    chunk1 = cut(sentence, ranges)[1]
    p0 = chunk0.with_spans([Span(8, 16, "LOC"), Span(0, 1, "PER")])  # "New York" at the edge
    # chunk 1: "New" (as close to an edge as in chunk 0: the first chunk decides), "New York"
    # (more context than in chunk 0: it decides), "York e" (only chunk 1 holds it: kept, then it
    # clashes with "New York")
    p1 = chunk1.with_spans([Span(2, 5, "ORG"), Span(2, 10, "LOC"), Span(6, 12, "ORG")])
    scores = [{(8, 16, "LOC"): 0.2, (0, 1, "PER"): 0.9}, {(2, 10, "LOC"): 0.8, (2, 5, "ORG"): 0.1}]
    spans, kept_scores, dropped = merge_chunks(sentence, ranges, [p0, p1], ["LOC"], scores)
    assert [(sentence.mention(s), s.label) for s in spans] == [("a", "PER"), ("New York", "LOC")]
    assert kept_scores == {(0, 1, "PER"): 0.9, (8, 16, "LOC"): 0.8}
    assert dropped == {"chunk_spans_superseded": 2, "chunk_span_conflicts": 1}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["Ann", "Bo", "x", "y", "Zed", ",", "São", "q"]), min_size=1, max_size=40),
    st.integers(1, 12),
    st.integers(0, 8),
)
def test_a_local_rule_gives_the_same_spans_chunked_or_whole(
    words: list[str], size: int, overlap: int
) -> None:
    """Every entity that some chunk holds whole comes back exactly; pieces of it seen at chunk
    edges never survive. An overlap as long as the longest entity guarantees the first."""
    sentence = Sentence.from_words(words, id="s")
    runs = [sentence.char_span_to_tokens(s) for s in _capitalised_runs(sentence).spans]
    ranges = plan_chunks([1] * len(words), size, overlap)
    predicted = [_capitalised_runs(p) for p in cut(sentence, ranges)]
    spans, _, _ = merge_chunks(sentence, ranges, predicted, ["PER", "LOC"])
    assert merge_spans(spans)[0] == spans
    whole_somewhere = all(any(a <= i and j <= b for a, b in ranges) for i, j in runs)
    if all(j - i <= min(overlap, size // 2) for i, j in runs):
        assert whole_somewhere
    if whole_somewhere:
        assert tuple(spans) == _capitalised_runs(sentence).spans


def test_window_checks_its_values() -> None:
    assert Window(10).as_dict() == {"size": 10, "overlap": 16, "unit": "words"}
    assert Window(10, 2, "subwords", 5).as_dict()["max_words"] == 5
    assert plan_chunks([1] * 6, 100, 1, max_tokens=3) == [(0, 3), (2, 5), (4, 6)]
    with pytest.raises(ValueError):
        Window(0)
