"""A sentence longer than a model can read -> overlapping chunks -> one set of spans again.

Why chunks overlap, and which chunk decides: an entity cut by a chunk edge is seen whole by the
neighbouring chunk (when it is shorter than the overlap), and a word near an edge has little
context. So every predicted span is judged by the chunk that gives it the most context:

* :func:`plan_chunks` cuts the tokens of a sentence into ranges that each fit the window (a
  budget in the model's own units: one per word, or subwords for an encoder) and overlap by
  ``overlap`` words (at most half a chunk, so the cut always moves on); a single token larger
  than the window is a chunk of its own;
* :func:`cut` makes each range a sentence of its own (its text slice, tokens re-based), so any
  predictor reads it like any other sentence;
* :func:`merge_chunks` puts the chunks' spans back at sentence offsets. A span is kept only from
  the chunk where it has the most context: among the chunks holding all of its tokens, the one
  whose nearest cut edge is farthest from it (the first on a tie). A span that touches a cut
  edge (maybe an entity cut in two) therefore loses to a chunk where it is whole, and the same
  span predicted by two chunks is kept once. What remains is made flat with fewner's one
  overlap rule (:func:`fewner.spans.merge_spans`). Spans dropped for either reason are counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fewner.spans import merge_spans
from fewner.types import Sentence, Span, Token

__all__ = ["Window", "cut", "merge_chunks", "plan_chunks"]


@dataclass(frozen=True)
class Window:
    """What one piece of text may hold: ``size`` units (``unit``: ``words``, or the model's own
    such as ``subwords``) and, in the model's own units, also at most ``max_words`` words; with
    ``overlap`` words shared by consecutive chunks."""

    size: int
    overlap: int = 16
    unit: str = "words"
    max_words: int | None = None

    def __post_init__(self) -> None:
        if self.size < 1 or self.overlap < 0 or (self.max_words is not None and self.max_words < 1):
            raise ValueError(f"a window needs size >= 1, overlap >= 0, max_words >= 1: {self}")

    def fits(self, costs: Sequence[int]) -> bool:
        """Whether a sentence whose tokens cost ``costs`` fits whole."""
        return sum(costs) <= self.size and (self.max_words is None or len(costs) <= self.max_words)

    def plan(self, costs: Sequence[int]) -> list[tuple[int, int]]:
        """:func:`plan_chunks` for this window."""
        return plan_chunks(costs, self.size, self.overlap, self.max_words)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"size": self.size, "overlap": self.overlap, "unit": self.unit}
        if self.max_words is not None:
            out["max_words"] = self.max_words
        return out


def plan_chunks(
    costs: Sequence[int], size: int, overlap: int, max_tokens: int | None = None
) -> list[tuple[int, int]]:
    """Token ranges ``[a, b)`` covering ``len(costs)`` tokens, each costing at most ``size``
    (``costs[i]``: what token ``i`` takes of the window) and holding at most ``max_tokens``
    tokens, consecutive ones sharing up to ``overlap`` tokens. One range ``(0, n)`` when
    everything fits; ``[]`` for no tokens."""
    n = len(costs)
    longest = n if max_tokens is None else max_tokens
    ranges: list[tuple[int, int]] = []
    a = 0
    while a < n:
        b, total = a, 0
        while b < n and total + costs[b] <= size and b - a < longest:
            total += costs[b]
            b += 1
        b = max(b, a + 1)  # a token over the window alone is a chunk of its own
        ranges.append((a, b))
        if b >= n:
            break
        nxt = max(a + 1, b - min(overlap, (b - a) // 2))
        while nxt < b and (sum(costs[nxt : b + 1]) > size or b + 1 - nxt > longest):
            # the next chunk must reach past b
            nxt += 1
        a = nxt
    return ranges


def cut(sentence: Sentence, ranges: Sequence[tuple[int, int]]) -> list[Sentence]:
    """One sentence per token range: the text from its first token to its last, tokens re-based
    to it, id ``<sentence id>#<k>``, no spans."""
    pieces = []
    for k, (a, b) in enumerate(ranges):
        start, end = sentence.tokens[a].start, sentence.tokens[b - 1].end
        tokens = tuple(Token(t.text, t.start - start, t.end - start) for t in sentence.tokens[a:b])
        pieces.append(
            Sentence(id=f"{sentence.id}#{k}", text=sentence.text[start:end], tokens=tokens,
                     meta=sentence.meta)
        )
    return pieces


def merge_chunks(
    sentence: Sentence,
    ranges: Sequence[tuple[int, int]],
    predicted: Sequence[Sentence],
    types: Sequence[str] = (),
    scores: Sequence[dict[tuple[int, int, str], float]] = (),
) -> tuple[list[Span], dict[tuple[int, int, str], float], Counter[str]]:
    """The spans of ``sentence`` from its chunks' predictions (module docstring): flat, at
    sentence offsets; their scores (``scores[k]``: chunk ``k``'s, keyed by chunk offsets); and
    counts of the spans dropped (``chunk_spans_superseded``: a chunk with more context decides
    there; ``chunk_span_conflicts``: overlaps left between chunks' spans)."""
    n = len(sentence.tokens)
    first_at = {t.start: i for i, t in enumerate(sentence.tokens)}
    last_at = {t.end: i + 1 for i, t in enumerate(sentence.tokens)}
    kept: list[Span] = []
    kept_scores: dict[tuple[int, int, str], float] = {}
    dropped: Counter[str] = Counter()
    for k, ((a, _b), piece) in enumerate(zip(ranges, predicted, strict=True)):
        offset = sentence.tokens[a].start
        chunk_scores = scores[k] if k < len(scores) else {}
        for span in piece.spans:
            moved = Span(span.start + offset, span.end + offset, span.label)
            first, last = _token_range(sentence, moved, first_at, last_at)
            if _best_chunk(ranges, n, first, last, default=k) != k:
                dropped["chunk_spans_superseded"] += 1
                continue
            kept.append(moved)
            score = chunk_scores.get((span.start, span.end, span.label))
            if score is not None:
                kept_scores[(moved.start, moved.end, moved.label)] = score
    flat, clashes = merge_spans(kept, types)
    if clashes:
        dropped["chunk_span_conflicts"] += sum(clashes.values())
    final = {(s.start, s.end, s.label) for s in flat}
    return flat, {key: v for key, v in kept_scores.items() if key in final}, dropped


def _token_range(
    sentence: Sentence, span: Span, first_at: dict[int, int], last_at: dict[int, int]
) -> tuple[int, int]:
    first, last = first_at.get(span.start), last_at.get(span.end)
    if first is None or last is None:  # not token-aligned: judge it by the tokens it touches
        covering = sentence.char_span_to_tokens_covering(span)
        if covering is None:
            return 0, 0
        first, last = covering
    return first, last


def _best_chunk(
    ranges: Sequence[tuple[int, int]], n: int, first: int, last: int, default: int
) -> int:
    """The chunk holding tokens ``[first, last)`` with the most context around them."""
    best, best_margin = default, -1
    for k, (a, b) in enumerate(ranges):
        if a > first:
            break
        if b < last:
            continue
        margin = min(first - a if a > 0 else n, b - last if b < n else n)
        if margin > best_margin:
            best, best_margin = k, margin
    return best
