"""Text -> sentence ranges with exact offsets (fewner.text.sentences)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fewner.distill.rawtext import split_sentences
from fewner.text.sentences import sentence_spans


def _sentences(text: str, **kw) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text, **kw)]


def test_the_plain_rule_with_exact_offsets() -> None:
    text = '  Profits rose 2% to $11.1bn.  "It was a good year," he said. Is it? Yes!\t3 more… Then'
    assert _sentences(text) == [
        "Profits rose 2% to $11.1bn.",
        '"It was a good year," he said.',
        "Is it?",
        "Yes!",
        "3 more…",
        "Then",
    ]
    assert sentence_spans(text)[0] == (2, 29)


def test_no_boundary_before_lower_case_and_none_inside_numbers_or_words() -> None:
    assert _sentences("It cost $1.5m. and more. e.g. this one.") == ["It cost $1.5m. and more. e.g. this one."]
    assert _sentences("Visit www.bbc.co.uk Today.") == ["Visit www.bbc.co.uk Today."]


def test_blank_lines_split_single_line_breaks_do_not() -> None:
    text = "Ad sales boost Time Warner profit\n\nQuarterly profits at\nUS media giant TimeWarner jumped.\r\n \r\nNext"
    assert _sentences(text) == [
        "Ad sales boost Time Warner profit",
        "Quarterly profits at\nUS media giant TimeWarner jumped.",
        "Next",
    ]


def test_abbreviations_initials_and_numbers() -> None:
    text = (
        "Mr. Blair met Dr. Smith at No. 10 on Jan. 5. J. K. Rowling and the U.S. Army agreed. "
        'He said no. No. It was World War I. Then "Malcolm" spoke.'
    )
    assert _sentences(text) == [
        "Mr. Blair met Dr. Smith at No. 10 on Jan. 5.",
        "J. K. Rowling and the U.S. Army agreed.",
        "He said no.",
        "No.",
        "It was World War I.",
        'Then "Malcolm" spoke.',
    ]
    plain = _sentences(text, abbreviations=())
    assert plain[:3] == ["Mr.", "Blair met Dr.", "Smith at No."]


def test_abbreviations_off_is_the_rawtext_rule() -> None:
    text = 'Profits rose 2% to $11.1bn. "It was a good year," he said. Mr. Blair agreed.'
    assert split_sentences(text) == [" ".join(s.split()) for s in _sentences(text, abbreviations=())]


def test_empty_and_whitespace_and_no_boundary() -> None:
    assert sentence_spans("") == [] and sentence_spans(" \n\n\t ") == []
    line = " ".join(f"word{i}" for i in range(5000))
    assert sentence_spans(line) == [(0, len(line))]


def test_unicode_upper_case_starts_a_sentence() -> None:
    assert _sentences("Er kam. Österreich gewann. ¿Qué?") == ["Er kam.", "Österreich gewann. ¿Qué?"]


_ALPHABET = st.sampled_from(list("ab AB.!?\"')(\n\t…1é\u200b"))


@settings(max_examples=300, deadline=None)
@given(st.text(_ALPHABET, max_size=80))
def test_ranges_are_ordered_trimmed_and_cover_every_visible_character(text: str) -> None:
    spans = sentence_spans(text)
    covered = set()
    last_end = 0
    for start, end in spans:
        assert last_end <= start < end <= len(text)
        assert not text[start].isspace() and not text[end - 1].isspace()
        covered.update(range(start, end))
        last_end = end
    assert {i for i, c in enumerate(text) if not c.isspace()} <= covered
