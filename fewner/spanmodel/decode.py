"""Scores to spans: a threshold, then flat (no two spans overlap) or nested decoding.

Flat decoding is greedy by score, as in GLiNER: the highest-scoring (span, label) above the
threshold is kept, then the next one that does not overlap anything kept, and so on. Nested
decoding keeps spans that are disjoint or contain one another, never two that cross. A span keeps
only its best label in both modes.
"""

from __future__ import annotations

import torch

__all__ = ["compatible", "decode_spans"]


def decode_spans(
    probs: torch.Tensor, valid: torch.Tensor, threshold: float, nested: bool = False
) -> list[list[tuple[int, int, int, float]]]:
    """``probs[batch, start, width, label]`` -> per sentence ``(first word, end word exclusive,
    label column, probability)``, sorted by position."""
    best, label = probs.max(dim=-1)
    best = best.masked_fill(~valid, 0.0)
    hits = (best >= threshold).nonzero()  # [hits, 3]: batch, start, width (one call per batch)
    scores = best[hits[:, 0], hits[:, 1], hits[:, 2]].tolist()
    columns = label[hits[:, 0], hits[:, 1], hits[:, 2]].tolist()
    candidates: list[list[tuple[float, int, int, int]]] = [[] for _ in range(probs.size(0))]
    for (b, i, w), score, col in zip(hits.tolist(), scores, columns, strict=True):
        candidates[b].append((score, i, i + w + 1, col))
    out: list[list[tuple[int, int, int, float]]] = []
    for found in candidates:
        kept: list[tuple[int, int, int, float]] = []
        for score, start, end, col in sorted(found, key=lambda c: (-c[0], c[1], c[2])):
            if all(compatible(start, end, s, e, nested) for s, e, _, _ in kept):
                kept.append((start, end, col, score))
        out.append(sorted(kept))
    return out


def compatible(start: int, end: int, other_start: int, other_end: int, nested: bool) -> bool:
    if end <= other_start or other_end <= start:
        return True
    if not nested:
        return False
    inside = other_start <= start and end <= other_end
    around = start <= other_start and other_end <= end
    return (inside or around) and (start, end) != (other_start, other_end)
