"""Span helpers every predictor shares: one overlap rule and one token-alignment rule.

fewner's JSONL and tag formats hold one label per character, so every predictor's output must be
flat (:func:`merge_spans`) and, for token-level gold, start and end on token boundaries
(:func:`snap_to_tokens`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from fewner.types import Sentence, Span

__all__ = ["merge_spans", "snap_to_tokens"]


def merge_spans(
    spans: Iterable[Span], types: Sequence[str] = ()
) -> tuple[list[Span], Counter[str]]:
    """A flat (non-overlapping) subset of ``spans`` and the count of what was dropped, by kind.

    Greedy by priority: longer first, then earlier start, then the label's position in
    ``types`` (labels not listed come after, alphabetically). A span is kept unless it overlaps
    a span already kept. Exact duplicates count once and are not reported.
    """
    rank = {t: i for i, t in enumerate(types)}
    ordered = sorted(
        set(spans),
        key=lambda s: (s.start - s.end, s.start, rank.get(s.label, len(rank)), s.label),
    )
    kept: list[Span] = []
    dropped: Counter[str] = Counter()
    for span in ordered:
        clash = [k for k in kept if k.overlaps(span)]
        if not clash:
            kept.append(span)
        elif any(k.label != span.label for k in clash):
            dropped["type_conflicts"] += 1
        else:
            dropped["overlaps_same_type"] += 1
    return sorted(kept), dropped


def snap_to_tokens(span: Span, sentence: Sentence) -> Span | None:
    """``span`` widened to the sentence's token boundaries (unchanged when already aligned).

    None when no token overlaps it. A sentence without tokens accepts any span.
    """
    if not sentence.tokens:
        return span
    starts = {t.start for t in sentence.tokens}
    ends = {t.end for t in sentence.tokens}
    if span.start in starts and span.end in ends:
        return span
    covering = sentence.char_span_to_tokens_covering(span)
    if covering is None:
        return None
    return sentence.token_span_to_char(covering[0], covering[1], span.label)
