"""DPO preference pairs as text: boundary moves on tricky spans, error feedback, determinism."""

from __future__ import annotations

import pytest

from fewner.errors import SpanAlignmentError
from fewner.prompts import ExtractionFormat
from fewner.train.pairs import (
    BOUNDARY,
    FEEDBACK,
    boundary_pairs,
    boundary_variants,
    feedback_pairs,
)
from fewner.types import Sentence, Span

FMT = ExtractionFormat("obp-llm", "conll2003")


def sent(words: list[str], tags: dict[tuple[int, int], str], sid: str = "s") -> Sentence:
    """A sentence from words and ``{(first, last_exclusive): label}`` token spans."""
    base = Sentence.from_words(words, id=sid)
    return base.with_spans(base.token_span_to_char(a, b, label) for (a, b), label in tags.items())


def mention_of(sentence: Sentence, span: Span) -> str:
    return sentence.mention(span)


def test_variants_of_an_entity_at_the_start_cannot_move_left() -> None:
    s = sent(["Paris", "is", "big"], {(0, 1): "LOC"})
    got = [(name, mention_of(s, sp)) for name, sp in boundary_variants(s, s.spans[0])]
    # one word: shrinking either end would leave nothing; the start cannot move left
    assert got == [("end-right", "Paris is")]


def test_variants_of_an_entity_at_the_end_cannot_move_right() -> None:
    s = sent(["in", "New", "York"], {(1, 3): "LOC"})
    got = [(name, mention_of(s, sp)) for name, sp in boundary_variants(s, s.spans[0])]
    assert got == [
        ("start-left", "in New York"),
        ("start-right", "York"),
        ("end-left", "New"),
    ]


def test_variants_keep_the_label_and_sentence_characters() -> None:
    s = sent(["a", "São", "Paulo", "b"], {(1, 3): "LOC"})
    for _, span in boundary_variants(s, s.spans[0]):
        assert span.label == "LOC"
        assert s.text[span.start : span.end] == mention_of(s, span)
        assert s.char_span_to_tokens(span)  # word-aligned


def test_a_span_not_on_word_boundaries_is_refused() -> None:
    s = Sentence.from_words(["Parisian", "food"], id="x")
    with pytest.raises(SpanAlignmentError):
        boundary_variants(s, Span(0, 5, "LOC"))


def test_boundary_pairs_move_one_mention_and_keep_the_others() -> None:
    # adjacent entities: moving the end of "Peter" right runs into the next entity; that stays
    s = sent(["Peter", "Paris", "met", "Ann"], {(0, 1): "PER", (1, 2): "LOC", (3, 4): "PER"})
    pairs = boundary_pairs([s], ["PER"], FMT, per_example=100, seed=0)
    chosen = FMT.target(s, "PER")
    assert chosen.endswith("<<< Peter >>> <<< Ann >>>")
    rejected = sorted(p.rejected.split("are ", 1)[1] for p in pairs.pairs)
    assert rejected == sorted(
        [
            "<<< Peter Paris >>> <<< Ann >>>",  # end-right of Peter, into the LOC
            "<<< Peter >>> <<< met Ann >>>",  # start-left of Ann
        ]
    )
    assert all(p.chosen == chosen and p.source == BOUNDARY for p in pairs.pairs)
    assert all(p.rejected != p.chosen for p in pairs.pairs)


def test_repeated_mentions_move_one_occurrence_at_a_time() -> None:
    s = sent(["UN", "and", "UN", "again"], {(0, 1): "ORG", (2, 3): "ORG"})
    pairs = boundary_pairs([s], ["ORG"], FMT, per_example=100, seed=0)
    answers = sorted(p.rejected.split("are ", 1)[1] for p in pairs.pairs)
    assert answers == sorted(
        [
            "<<< UN and >>> <<< UN >>>",  # first occurrence, end right
            "<<< UN >>> <<< and UN >>>",  # second, start left
            "<<< UN >>> <<< UN again >>>",  # second, end right
        ]
    )


def test_identical_rejected_answers_are_one_pair() -> None:
    # "A A": moving the start of the second A left gives "A A", as does the end of the first
    s = sent(["A", "A"], {(0, 1): "ORG", (1, 2): "ORG"})
    pairs = boundary_pairs([s], ["ORG"], FMT, per_example=100, seed=0)
    rejected = [p.rejected for p in pairs.pairs]
    assert len(rejected) == len(set(rejected)) == 2  # <<< A A >>> <<< A >>>, <<< A >>> <<< A A >>>


def test_per_example_caps_and_the_seed_decides_which() -> None:
    s = sent(["in", "New", "York", "City", "now"], {(1, 3): "LOC"})
    every = boundary_pairs([s], ["LOC"], FMT, per_example=100, seed=0)
    assert len(every) == 4
    one = [
        boundary_pairs([s], ["LOC"], FMT, per_example=1, seed=k).pairs[0].rejected for k in range(8)
    ]
    assert len(set(one)) > 1  # different seeds pick different variants
    assert (
        boundary_pairs([s], ["LOC"], FMT, per_example=2, seed=3).pairs
        == boundary_pairs([s], ["LOC"], FMT, per_example=2, seed=3).pairs
    )
    assert len(boundary_pairs([s], ["LOC"], FMT, per_example=0, seed=0)) == 0


def test_prompts_without_gold_mentions_get_no_boundary_pairs() -> None:
    s = sent(["nothing", "here"], {})
    assert len(boundary_pairs([s], ["PER", "LOC"], FMT, per_example=3, seed=0)) == 0


def test_feedback_pairs_from_wrong_answers_only() -> None:
    s = sent(["Peter", "visited", "Paris"], {(0, 1): "PER", (2, 3): "LOC"})
    peter, paris = s.spans
    predicted = {
        ("s", "PER"): [peter],  # right
        ("s", "LOC"): [],  # missed Paris
        ("s", "ORG"): [Span(paris.start, paris.end, "ORG")],  # hallucinated
    }
    pairs = feedback_pairs([s], ["PER", "LOC", "ORG", "MISC"], FMT, predicted)
    got = {(p.entity_type, p.chosen, p.rejected) for p in pairs.pairs}
    render = FMT.template.render_target
    assert got == {
        ("LOC", render(["Paris"]), render([])),
        ("ORG", render([]), render(["Paris"])),
    }
    assert all(p.source == FEEDBACK for p in pairs.pairs)
    assert pairs.skipped == {"answer equals gold": 1, "no answer": 1}
