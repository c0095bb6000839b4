"""The regex tokenizer: exact offsets, Unicode words, forced boundaries."""

from __future__ import annotations

import pytest

from fewner.data.tokenize import sentence_from_text, tokenize


def words(text: str) -> list[str]:
    return [t.text for t in tokenize(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Don't stop O’Neil", ["Don't", "stop", "O’Neil"]),
        ("state-of-the-art COVID-19 vaccine.", ["state-of-the-art", "COVID-19", "vaccine", "."]),
        ("$3.50, 1,000 men!", ["$", "3.50", ",", "1,000", "men", "!"]),
        ("(Hello) -- 'world'", ["(", "Hello", ")", "-", "-", "'", "world", "'"]),
        ("हिन्दी café 東京は😀", ["हिन्दी", "café", "東京は", "😀"]),
        ("cafe\u0301 x\u200by", ["cafe\u0301", "x", "y"]),  # combining accent kept; ZWSP separates
        ("", []),
        ("  \t ", []),
    ],
)
def test_tokenize_words(text: str, expected: list[str]) -> None:
    assert words(text) == expected


def test_offsets_index_the_original_text() -> None:
    text = "  Zürich\u00a0und São-Paulo:\tnaïve 😀 end. "
    tokens = tokenize(text)
    assert tokens, "expected tokens"
    for tok in tokens:
        assert text[tok.start : tok.end] == tok.text
        assert tok.text.strip() == tok.text
    assert [t.start for t in tokens] == sorted(t.start for t in tokens)


def test_boundaries_split_a_word() -> None:
    text = "The New York-based firm"
    assert words(text) == ["The", "New", "York-based", "firm"]
    split = tokenize(text, boundaries=[12])
    assert [t.text for t in split] == ["The", "New", "York", "-based", "firm"]
    assert all(text[t.start : t.end] == t.text for t in split)


def test_sentence_from_text() -> None:
    sentence = sentence_from_text("Paris, France", id="s1", meta=[("file", "x")])
    assert sentence.id == "s1"
    assert sentence.words == ["Paris", ",", "France"]
    assert sentence.spans == ()
    assert dict(sentence.meta) == {"file": "x"}
