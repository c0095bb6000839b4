from fewner.baselines.dictionary import DictionaryMatcher
from fewner.types import Sentence


def test_matches_longest_case_insensitive_non_overlapping():
    support = [
        Sentence.from_words(["New", "York", "is", "big"], [(0, 2, "LOC")], id="s1"),
        Sentence.from_words(["York", "won"], [(0, 1, "ORG")], id="s2"),
    ]
    matcher = DictionaryMatcher(support)
    query = Sentence.from_words(["I", "left", "new", "york", "for", "York"], id="q")
    pred = matcher.predict(query)
    assert [(pred.mention(s), s.label) for s in pred.spans] == [("new york", "LOC"), ("York", "ORG")]


def test_majority_type_and_type_filter():
    support = [
        Sentence.from_words(["Paris"], [(0, 1, "LOC")], id="a"),
        Sentence.from_words(["Paris"], [(0, 1, "LOC")], id="b"),
        Sentence.from_words(["Paris"], [(0, 1, "PER")], id="c"),
    ]
    query = Sentence.from_words(["Paris", "."], id="q")
    assert DictionaryMatcher(support).predict(query).spans[0].label == "LOC"
    only_per = DictionaryMatcher(support, types=["PER"]).predict(query)
    assert [s.label for s in only_per.spans] == ["PER"]
    assert DictionaryMatcher([], types=["PER"]).predict(query).spans == ()
