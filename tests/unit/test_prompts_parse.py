"""The answer parser: resolution levels, repeats, alignment, and counted failures (never raising)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fewner.decoding import OBP_GRAMMAR
from fewner.prompts import (
    ExtractionFormat,
    load_template,
    parse_answer,
    read_mentions,
    representable,
)
from fewner.types import Sentence, Span

DEFS = {"LOC": "a place", "ORG": "an organization", "PER": "a person"}
OBP = ExtractionFormat("obp-llm-v1", DEFS)
CLLMFS = ExtractionFormat("cllmfs-v1", DEFS)
PREFIX = "The entities I extracted for you are"


def sent(text: str) -> Sentence:
    return Sentence.from_words(text.split(), id="s")


def answer(*mentions: str) -> str:
    return PREFIX + "".join(f" <<< {m} >>>" for m in mentions)


def texts(result, sentence: Sentence) -> list[str]:
    return [sentence.mention(s) for s in result.spans]


def test_exact_mentions_map_to_offsets() -> None:
    s = sent("Rain in Sonmarg and BBC said so .")
    r = OBP.parse(answer("Sonmarg", "BBC"), s, "LOC")
    assert r.spans == (Span(8, 15, "LOC"), Span(20, 23, "LOC"))
    assert r.stats == Counter(answers=1, mentions=2, exact=2)
    assert r.mentions == ("Sonmarg", "BBC") and not r.dropped


def test_repeated_mentions_take_successive_occurrences() -> None:
    s = sent("US troops and US ships left the US .")
    r = OBP.parse(answer("US", "US"), s, "LOC")
    assert [x.start for x in r.spans] == [0, 14]
    r3 = OBP.parse(answer("US", "US", "US", "US"), s, "LOC")
    assert [x.start for x in r3.spans] == [0, 14, 32]
    assert r3.stats["repeat_exhausted"] == 1 and r3.dropped == ("US",)
    assert r3.stats["not_found"] == 0


def test_case_and_whitespace_resolution_are_counted() -> None:
    s = sent("The U.S . envoy met reuters staff .")
    r = OBP.parse(answer("U.S.", "Reuters"), s, "ORG")
    assert texts(r, s) == ["U.S .", "reuters"]
    assert (r.stats["whitespace"], r.stats["case"], r.stats["exact"]) == (1, 1, 0)
    # the reverse direction: answer spaced, raw text not
    raw = Sentence(id="r", text="Born in the U.S. in 1960", tokens=())
    r2 = parse_answer(answer("U.S ."), raw.text, "LOC", OBP_GRAMMAR)
    assert [raw.text[x.start : x.end] for x in r2.spans] == ["U.S."] and r2.stats["whitespace"] == 1


def test_whitespace_level_also_ignores_case() -> None:
    s = sent("New York City is big")
    r = OBP.parse(answer("new  york"), s, "LOC")
    assert texts(r, s) == ["New York"] and r.stats["whitespace"] == 1


def test_word_aligned_occurrence_preferred_over_inner_substring() -> None:
    s = sent("focus on US trade")
    r = OBP.parse(answer("us"), s, "LOC")  # exact "us" sits inside "focus"
    assert texts(r, s) == ["US"] and r.stats["case"] == 1 and r.stats["unaligned"] == 0
    s2 = sent("Parisian cafes near Paris")
    assert texts(OBP.parse(answer("Paris"), s2, "LOC"), s2) == ["Paris"]
    # with no aligned occurrence left the unaligned one is used, and counted
    s3 = sent("Parisian cafes")
    r3 = OBP.parse(answer("Paris"), s3, "LOC")
    assert texts(r3, s3) == ["Paris"] and r3.stats["unaligned"] == 1


def test_non_overlapping_occurrence_preferred() -> None:
    s = sent("New York and York")
    r = OBP.parse(answer("New York", "York"), s, "LOC")
    assert [(x.start, x.end) for x in r.spans] == [(0, 8), (13, 17)]


def test_mentions_not_in_text_are_dropped_and_counted() -> None:
    s = sent("Rain in Sonmarg")
    r = OBP.parse(answer("Kashmir", "Sonmarg"), s, "LOC")
    assert texts(r, s) == ["Sonmarg"]
    assert r.stats["not_found"] == 1 and r.dropped == ("Kashmir",)


@pytest.mark.parametrize(
    "text",
    [
        answer("Sonmarg") + " <<< Kash",  # cut inside a mention
        answer("Sonmarg") + " <<<",
    ],
)
def test_truncated_answer_keeps_complete_mentions(text: str) -> None:
    s = sent("Rain in Sonmarg and Kashmir")
    r = OBP.parse(text, s, "LOC")
    assert texts(r, s) == ["Sonmarg"] and r.stats["truncated"] == 1


@pytest.mark.parametrize("text", ["The entities I extract", "There are no entit", PREFIX])
def test_answer_cut_before_any_mention_is_truncated_not_unparseable(text: str) -> None:
    r = OBP.parse(text, sent("Rain in Sonmarg"), "LOC")
    assert r.spans == () and r.stats["truncated"] == 1 and r.stats["unparseable"] == 0


@pytest.mark.parametrize(
    "text", ["", "   ", "Sonmarg", "I think the answer is Sonmarg.", "<<<>>>x"]
)
def test_unparseable_answers_are_counted(text: str) -> None:
    r = OBP.parse(text, sent("Rain in Sonmarg"), "LOC")
    assert r.spans == ()
    assert r.stats["unparseable"] + r.stats["empty_mention"] == 1


def test_none_answer_with_chatter_and_case() -> None:
    s = sent("Rain in Sonmarg")
    for text in [
        "There are no entities of this type in the sentence.",
        "there are  no entities of this type in the sentence.\n### Instruction: more",
    ]:
        r = OBP.parse(text, s, "LOC")
        assert r.is_none and r.spans == () and r.stats["unparseable"] == 0


def test_cllmfs_none_answer_without_its_end_marker() -> None:
    # OpenAI-compatible servers drop the stop string <im_end> from the text
    none = CLLMFS.grammar.none
    assert none is not None
    r = CLLMFS.parse(none.removesuffix(" <im_end>"), sent("Rain in Sonmarg"), "LOC")
    assert r.is_none and r.stats["unparseable"] == 0


def test_cllmfs_mentions_without_end_marker() -> None:
    s = sent("Rain in Sonmarg")
    text = "<im_start> I can extract entities for you, the extracted entities are <<< Sonmarg >>>"
    assert texts(CLLMFS.parse(text, s, "LOC"), s) == ["Sonmarg"]


def test_none_and_mentions_together_keeps_mentions() -> None:
    s = sent("Rain in Sonmarg")
    r = OBP.parse("There are no entities of this type in the sentence. <<< Sonmarg >>>", s, "LOC")
    assert texts(r, s) == ["Sonmarg"] and r.stats["none_with_mentions"] == 1


def test_open_marker_inside_a_mention_is_counted() -> None:
    s = sent("Rain in Sonmarg and Kashmir")
    r = OBP.parse(PREFIX + " <<< Sonmarg <<< Kashmir >>>", s, "LOC")
    assert texts(r, s) == ["Kashmir"] and r.stats["unclosed"] == 1


def test_mentions_with_angle_brackets_round_trip() -> None:
    s = Sentence.from_words(
        "I <3 NY and a>b and <tag> too".split(),
        [(1, 3, "ORG"), (4, 5, "ORG"), (6, 7, "ORG")],
        id="a",
    )
    target = OBP.target(s, "ORG")
    assert target == answer("<3 NY", "a>b", "<tag>")
    assert OBP.parse(target, s, "ORG").spans == s.spans


def test_marker_collision_is_not_representable_and_left_out_of_targets() -> None:
    assert not representable("a >>> b", OBP_GRAMMAR)
    assert not representable("<<<", OBP_GRAMMAR)
    assert not representable(" padded", OBP_GRAMMAR)
    assert representable("a >> b", OBP_GRAMMAR) and representable(">", OBP_GRAMMAR)
    s = Sentence.from_words("see a >>> b and Rome".split(), [(1, 4, "LOC"), (5, 6, "LOC")], id="m")
    kept, dropped = OBP.target_mentions(s, "LOC")
    assert kept == ["Rome"] and [s.mention(d) for d in dropped] == ["a >>> b"]
    assert OBP.target(s, "LOC") == answer("Rome")
    # the decoding constraint excludes the same mention
    assert "a >>> b" in OBP.constraint(s, edge_punctuation=True).excluded


def test_read_mentions_reports_malformed_parts() -> None:
    found, stats = read_mentions(answer("A", "") + " <<< B <<< C >>> <<< D", OBP_GRAMMAR)
    assert found == ["A", "C"]
    assert stats == Counter(empty_mention=1, unclosed=1, truncated=1)


def test_stats_add_up_over_a_run() -> None:
    s = sent("Rain in Sonmarg")
    total = Counter()
    for text in [
        answer("Sonmarg"),
        "garbage",
        "There are no entities of this type in the sentence.",
    ]:
        total += OBP.parse(text, s, "LOC").stats
    assert total == Counter(answers=3, mentions=1, exact=1, unparseable=1, none=1)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(list("<> abAB.\n") + ["<<<", ">>>", "<im_end>", PREFIX]), max_size=30
    ).map("".join),
    st.sampled_from(["obp-llm-v1", "cllmfs-v1"]),
)
def test_parse_never_raises_and_spans_are_valid(text: str, name: str) -> None:
    s = sent("a b AB a.b <a> ab")
    r = ExtractionFormat(load_template(name), DEFS).parse(text, s, "LOC")
    assert r.stats["answers"] == 1
    assert len(set(r.spans)) == len(r.spans)
    for span in r.spans:
        assert 0 <= span.start < span.end <= len(s.text)
    resolved = sum(r.stats[k] for k in ("exact", "case", "whitespace"))
    assert resolved + r.stats["not_found"] + r.stats["repeat_exhausted"] == r.stats["mentions"]
    assert resolved == len(r.spans)
