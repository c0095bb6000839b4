"""Candidate entity mentions: every word-aligned substring of a sentence up to a length.

Constrained decoding lets the model write only these strings as mentions. Why word-aligned and
not any character substring: a mention that starts or ends inside a word cannot map back to the
sentence's tokens (the evaluators and BIO writers work on tokens), and the smaller language
leaves the model fewer ways to produce boundary errors.

Each distinct mention text carries the number of positions where it occurs, so a decoder can let
the model write a mention at most as often as it occurs in the input: small models loop on one
mention (measurements: docs/design-notes.md, fewner/decoding/candidates.py), and a repeat of a
mention that occurs once is always wrong.

Pure Python, no torch: importable from data and evaluation code.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from fewner.types import Sentence, Token

__all__ = ["Candidates", "candidate_spans", "DEFAULT_MAX_WORDS"]

#: Longest candidate in words. Entities in CoNLL-2003, WNUT-17 and Few-NERD are almost all shorter.
DEFAULT_MAX_WORDS = 8


@dataclass(frozen=True)
class Candidates:
    """Distinct candidate mention texts of one input, with where each occurs.

    ``occurrences[text]`` lists the ``(start, end)`` character ranges (into ``source_text``) where
    the word-aligned mention ``text`` occurs, in order. ``count(text)`` is how many times the
    mention may be written.
    """

    source_text: str
    occurrences: Mapping[str, tuple[tuple[int, int], ...]]

    def __len__(self) -> int:
        return len(self.occurrences)

    def __iter__(self) -> Iterator[str]:
        return iter(self.occurrences)

    def __contains__(self, text: object) -> bool:
        return text in self.occurrences

    def count(self, text: str) -> int:
        """How often ``text`` occurs as a word-aligned span (0 when it is not a candidate)."""
        return len(self.occurrences.get(text, ()))

    @property
    def counts(self) -> dict[str, int]:
        return {text: len(where) for text, where in self.occurrences.items()}

    def without(self, texts: set[str]) -> Candidates:
        """A copy without the given mention texts."""
        kept = {t: w for t, w in self.occurrences.items() if t not in texts}
        return Candidates(self.source_text, kept)


def _is_punctuation(word: str) -> bool:
    """A word with no letter or digit: ``,`` ``(`` ``&`` ``...`` (emoji count too)."""
    return not any(ch.isalnum() for ch in word)


def candidate_spans(
    source: Sentence | str,
    tokens: Sequence[Token] | None = None,
    *,
    max_words: int = DEFAULT_MAX_WORDS,
    edge_punctuation: bool = False,
) -> Candidates:
    """All word-aligned substrings of ``source`` of 1..``max_words`` words, deduplicated.

    ``source``: a :class:`Sentence` (its tokens are the words) or raw text; raw text is split with
    ``tokens`` when given, else with :func:`fewner.data.tokenize.tokenize`, the tokenizer that
    builds sentences from raw text elsewhere in fewner, so spans map back to the same tokens.

    ``edge_punctuation=False`` drops spans whose first or last word has no letter or digit
    (``"Sonmarg ,"``, ``"( BBC"``): gold entities almost never start or end that way, and such
    spans are the boundary errors constrained decoding should not offer. Text between words is
    kept verbatim (a span can contain a double space or a newline if the input does).
    """
    if max_words < 1:
        raise ValueError("max_words must be >= 1")
    if isinstance(source, Sentence):
        text, words = source.text, list(source.tokens if tokens is None else tokens)
    else:
        text = source
        if tokens is None:
            from fewner.data.tokenize import tokenize

            tokens = tokenize(text)
        words = list(tokens)
    for w in words:
        if not (0 <= w.start < w.end <= len(text)):
            raise ValueError(f"token {w.text!r} [{w.start}, {w.end}) lies outside the text")

    punct = [_is_punctuation(text[w.start : w.end]) for w in words]
    found: dict[str, list[tuple[int, int]]] = {}
    for i, first in enumerate(words):
        if punct[i] and not edge_punctuation:
            continue
        for j in range(i, min(i + max_words, len(words))):
            if punct[j] and not edge_punctuation:
                continue
            start, end = first.start, words[j].end
            if end <= start:
                continue
            found.setdefault(text[start:end], []).append((start, end))
    return Candidates(text, {t: tuple(w) for t, w in found.items()})
