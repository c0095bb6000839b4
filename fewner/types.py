"""The data model every part of fewner shares.

Entities are *character* spans into a sentence's text. Sentences also keep their tokens with
character offsets, so token-level benchmarks (CoNLL, Few-NERD) and raw text share one
representation and conversions between the two are exact.

This module imports nothing heavy (no torch): data and evaluation code start fast.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from fewner.errors import SpanAlignmentError


@dataclass(frozen=True, order=True)
class Span:
    """An entity mention: the half-open character range ``[start, end)`` and its type label."""

    start: int
    end: int
    label: str

    def __post_init__(self) -> None:
        if not (0 <= self.start < self.end):
            raise ValueError(f"invalid span [{self.start}, {self.end}) for label {self.label!r}")

    def text_in(self, text: str) -> str:
        """The surface string of this span inside ``text``."""
        return text[self.start : self.end]

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class Token:
    """A token with its half-open character range in the sentence text."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Sentence:
    """One unit of annotation: text, tokens with offsets, and gold or predicted spans.

    ``spans`` are kept sorted by (start, end, label). ``meta`` carries free-form provenance
    (source file, line number, document id) as a tuple of key/value pairs so the object stays
    hashable.
    """

    id: str
    text: str
    tokens: tuple[Token, ...]
    spans: tuple[Span, ...] = ()
    meta: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "spans", tuple(sorted(self.spans)))
        for span in self.spans:
            if span.end > len(self.text):
                raise ValueError(
                    f"sentence {self.id}: span {span} runs past the text ({len(self.text)} chars)"
                )

    # ----- construction -------------------------------------------------------------------
    @classmethod
    def from_words(
        cls,
        words: Sequence[str],
        token_spans: Iterable[tuple[int, int, str]] = (),
        *,
        id: str,
        meta: Iterable[tuple[str, str]] = (),
    ) -> Sentence:
        """Build a sentence from pre-tokenized words joined by single spaces.

        ``token_spans`` are ``(first_token, last_token_exclusive, label)`` triples.
        """
        tokens: list[Token] = []
        pos = 0
        for word in words:
            tokens.append(Token(word, pos, pos + len(word)))
            pos += len(word) + 1
        text = " ".join(words)
        sentence = cls(id=id, text=text, tokens=tuple(tokens), meta=tuple(meta))
        return sentence.with_spans(sentence.token_span_to_char(i, j, lab) for i, j, lab in token_spans)

    def with_spans(self, spans: Iterable[Span]) -> Sentence:
        """A copy with other spans (e.g. predictions) on the same text and tokens."""
        return Sentence(id=self.id, text=self.text, tokens=self.tokens, spans=tuple(spans), meta=self.meta)

    # ----- token <-> character conversions -------------------------------------------------
    @property
    def words(self) -> list[str]:
        return [t.text for t in self.tokens]

    def token_span_to_char(self, first: int, last_exclusive: int, label: str) -> Span:
        """Character span covering tokens ``first .. last_exclusive - 1``."""
        if not (0 <= first < last_exclusive <= len(self.tokens)):
            raise SpanAlignmentError(
                f"sentence {self.id}: token range [{first}, {last_exclusive}) outside "
                f"{len(self.tokens)} tokens"
            )
        return Span(self.tokens[first].start, self.tokens[last_exclusive - 1].end, label)

    def char_span_to_tokens(self, span: Span) -> tuple[int, int]:
        """Token range ``(first, last_exclusive)`` whose characters are exactly ``span``.

        Raises :class:`SpanAlignmentError` when the span does not start and end on token
        boundaries (use :meth:`char_span_to_tokens_covering` to snap outward instead).
        """
        first = next((i for i, t in enumerate(self.tokens) if t.start == span.start), None)
        last = next((i for i, t in enumerate(self.tokens) if t.end == span.end), None)
        if first is None or last is None or last < first:
            raise SpanAlignmentError(
                f"sentence {self.id}: span {span.text_in(self.text)!r} [{span.start}, {span.end}) "
                "does not fall on token boundaries"
            )
        return first, last + 1

    def char_span_to_tokens_covering(self, span: Span) -> tuple[int, int] | None:
        """Smallest token range overlapping ``span``; None when no token overlaps it."""
        hit = [i for i, t in enumerate(self.tokens) if t.start < span.end and span.start < t.end]
        return (hit[0], hit[-1] + 1) if hit else None

    def token_spans(self) -> list[tuple[int, int, str]]:
        """Spans as token ranges; raises if a span is not token-aligned."""
        return [(*self.char_span_to_tokens(s), s.label) for s in self.spans]

    def mention(self, span: Span) -> str:
        return span.text_in(self.text)

    @property
    def labels(self) -> set[str]:
        return {s.label for s in self.spans}


@dataclass(frozen=True)
class Episode:
    """An N-way few-shot task: the entity types, a labeled support set and a query set."""

    types: tuple[str, ...]
    support: tuple[Sentence, ...]
    query: tuple[Sentence, ...]
    id: str = ""


@dataclass
class Corpus:
    """Sentences read from one source plus an account of what reading had to skip or repair.

    ``skipped`` and ``repaired`` count items by reason ("empty sentence", "I- tag after a
    different type", ...): nothing is dropped silently; the CLI prints these counts.
    """

    name: str
    sentences: list[Sentence]
    skipped: Counter[str] = field(default_factory=Counter)
    repaired: Counter[str] = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.sentences)

    def __iter__(self):
        return iter(self.sentences)

    @property
    def labels(self) -> list[str]:
        return sorted({s.label for sent in self.sentences for s in sent.spans})
