"""Parsing teacher dictionaries and placing their mentions (fewner.distill.answers)."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fewner.data.tokenize import sentence_from_text
from fewner.distill.annotate import gold_dictionary
from fewner.distill.answers import (
    find_dictionary,
    mentions_to_spans,
    parse_dictionary,
    sentence_status,
)
from fewner.types import Sentence

TYPES = ["PER", "LOC", "ORG", "MISC"]


def test_plain_json_with_trailing_text():
    parsed = parse_dictionary(
        'Answer: {"PER": ["Peter Blackburn"], "LOC": []}\nText: next example', TYPES
    )
    assert parsed.mentions == {"PER": ["Peter Blackburn"], "LOC": [], "ORG": [], "MISC": []}
    assert not parsed.stats["python_literal"] and not parsed.stats["repaired"]


def test_python_literal_and_none():
    parsed = parse_dictionary("{'PER': ['Ana'], 'ORG': None, 'LOC': 'Paris'}", TYPES)
    assert parsed.mentions["PER"] == ["Ana"]
    assert parsed.mentions["ORG"] == []
    assert parsed.mentions["LOC"] == ["Paris"]  # a lone string is a one-item list
    assert parsed.stats["python_literal"] == 1


def test_trailing_comma_is_repaired():
    # JSON rejects the trailing commas and Python rejects ``null``: only the repair reads it.
    parsed = parse_dictionary('{"PER": ["Ana", "Bo",], "LOC": null,}', TYPES)
    assert parsed.mentions["PER"] == ["Ana", "Bo"] and parsed.mentions["LOC"] == []
    assert parsed.stats["repaired"] == 1 and not parsed.stats["python_literal"]


def test_truncated_dictionary_is_closed_after_last_complete_list():
    parsed = parse_dictionary('{"PER": ["Ana"], "LOC": ["Par', TYPES)
    assert parsed.mentions is not None
    assert parsed.mentions["PER"] == ["Ana"] and parsed.mentions["LOC"] == []
    assert parsed.stats["truncated"] == 1 and parsed.stats["repaired"] == 1


def test_chain_of_thought_takes_dictionary_after_last_answer_marker():
    answer = (
        'Reasoning: the names are "EU" {a set} and "German". "EU" is an organization, so ORG.\n'
        'Answer: {"ORG": ["EU"], "MISC": ["German"]}'
    )
    parsed = parse_dictionary(answer, TYPES)
    assert parsed.mentions["ORG"] == ["EU"] and parsed.mentions["MISC"] == ["German"]


def test_braces_inside_strings_do_not_end_the_dictionary():
    text, complete = find_dictionary('x {"MISC": ["a } b"], "PER": []} tail')
    assert complete and json.loads(text) == {"MISC": ["a } b"], "PER": []}


def test_keys_match_by_case_and_prefix_and_unknown_keys_are_counted():
    parsed = parse_dictionary(
        '{"person": ["Ana"], "Organization": ["UN"], "loc": ["Rome"], "DATE": ["1996"]}', TYPES
    )
    assert parsed.mentions["PER"] == ["Ana"]
    assert parsed.mentions["ORG"] == ["UN"]
    assert parsed.mentions["LOC"] == ["Rome"]
    assert parsed.unknown_keys == ["DATE"] and parsed.stats["unknown_type"] == 1


def test_wrapped_dictionary_in_a_code_fence():
    answer = 'Sure!\n```json\n{"entities": {"PER": ["Ana"], "LOC": []}}\n```'
    parsed = parse_dictionary(answer, TYPES)
    assert parsed.mentions["PER"] == ["Ana"] and parsed.stats["nested"] == 1


def test_bad_values_are_counted_numbers_kept_as_strings():
    parsed = parse_dictionary('{"MISC": [1996, {"x": 1}, "", true], "PER": 5}', TYPES)
    assert parsed.mentions["MISC"] == ["1996"]
    assert parsed.stats["bad_value"] == 4  # the dict, the empty string, true, and PER: 5


@pytest.mark.parametrize(
    "answer", ["", "I cannot find any entity.", "{not a dict at all", "[1, 2]"]
)
def test_no_dictionary_is_unparseable(answer):
    parsed = parse_dictionary(answer, TYPES)
    assert parsed.mentions is None
    assert sentence_status(parsed, None) == "unparseable"


def _sent(text: str) -> Sentence:
    return sentence_from_text(text, "s")


def test_every_word_aligned_occurrence_is_labelled():
    s = _sent("EU says EU rules apply to eu members .")
    placed = mentions_to_spans(s, {"ORG": ["EU"]})
    assert [s.mention(x) for x in placed.spans] == ["EU", "EU"]  # exact level wins; "eu" left alone
    assert placed.stats["exact"] == 1


def test_case_and_whitespace_levels():
    s = _sent("Talks in the U.S . and in NEW YORK .")
    placed = mentions_to_spans(s, {"LOC": ["U.S.", "New York"]})
    assert sorted(s.mention(x) for x in placed.spans) == ["NEW YORK", "U.S ."]
    assert placed.stats["case"] == 1 and placed.stats["whitespace"] == 1


def test_not_found_and_unaligned_are_dropped_and_counted():
    s = _sent("They focus on Paris .")
    placed = mentions_to_spans(s, {"LOC": ["London", "Paris"], "PER": ["us"]})
    assert [s.mention(x) for x in placed.spans] == ["Paris"]
    assert placed.stats["not_found"] == 1 and placed.stats["unaligned"] == 1
    assert sorted(placed.dropped) == [("LOC", "London", "not_found"), ("PER", "us", "unaligned")]


def test_longer_mentions_win_overlaps():
    s = _sent("The New York Times reported from New York .")
    placed = mentions_to_spans(s, {"LOC": ["New York"], "ORG": ["New York Times"]})
    got = [(s.mention(x), x.label) for x in placed.spans]
    assert got == [("New York Times", "ORG"), ("New York", "LOC")]
    assert placed.stats["overlap"] == 1  # the "New York" inside the Times


def test_statuses():
    s = _sent("Ana met Bo .")
    ok = parse_dictionary('{"PER": ["Ana", "Bo"]}', TYPES)
    assert sentence_status(ok, mentions_to_spans(s, ok.mentions)) == "ok"
    lit = parse_dictionary("{'PER': ['Ana']}", TYPES)
    assert sentence_status(lit, mentions_to_spans(s, lit.mentions)) == "repaired"
    part = parse_dictionary("{'PER': ['Ana', 'Cy']}", TYPES)
    assert sentence_status(part, mentions_to_spans(s, part.mentions)) == "partial"


def test_gold_dictionary_round_trip_on_real_conll(shared_data):
    """A perfect teacher's answer reads back as the gold spans, on real CoNLL sentences.

    The placement labels every occurrence of a listed name, so sentences where a gold name
    also occurs untagged elsewhere are counted apart and must be exactly those that differ.
    """
    from fewner.data.io import read_corpus

    corpus = read_corpus(shared_data / "conll2003" / "valid.txt")
    checked = mismatched = 0
    for sentence in corpus.sentences[:600]:
        answer = json.dumps(gold_dictionary(sentence, TYPES))
        parsed = parse_dictionary(answer, TYPES)
        placed = mentions_to_spans(sentence, parsed.mentions)
        names = {sentence.mention(x) for x in sentence.spans}
        untagged_repeat = any(
            len(mentions_to_spans(sentence.with_spans(()), {"X": [n]}).spans)
            > sum(1 for x in sentence.spans if sentence.mention(x) == n)
            for n in names
        )
        if untagged_repeat or len({(sentence.mention(x)) for x in sentence.spans}) != len(
            {(sentence.mention(x), x.label) for x in sentence.spans}
        ):
            mismatched += 1
            continue
        checked += 1
        assert tuple(placed.spans) == sentence.spans, sentence.id
    assert checked > 500 and checked + mismatched == 600


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="{}[]\",:' abAPERLOC\n\\", max_size=60))
def test_parsing_never_raises(answer):
    parsed = parse_dictionary(answer, TYPES)
    assert parsed.mentions is None or set(parsed.mentions) == set(TYPES)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(["Ana", "ana", "New", "York", "New York", "x", ","]), min_size=1, max_size=8
    ),
    st.dictionaries(
        st.sampled_from(TYPES),
        st.lists(st.sampled_from(["Ana", "New York", "York", "New", "zz", "a"]), max_size=3),
    ),
)
def test_placed_spans_are_word_aligned_and_disjoint(words, mentions):
    sentence = Sentence.from_words(words, id="h")
    placed = mentions_to_spans(sentence, mentions)
    for span in placed.spans:
        sentence.char_span_to_tokens(span)  # raises if not on token boundaries
    assert not any(a.overlaps(b) for a, b in itertools.combinations(placed.spans, 2))
    assert placed.stats["mentions"] == len({(k, m) for k, v in mentions.items() for m in v})
