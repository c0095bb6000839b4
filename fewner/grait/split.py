"""Known / unknown prompts from the knowledge query (GRAIT step 2).

A prompt is *known* when the share of the model's answers equal to gold (its correctness, see
:mod:`fewner.grait.knowledge`) is at least ``threshold`` (GRAIT and CRaFT use 0.5): it keeps its
gold answer in training. Every other prompt is *unknown*: a candidate for the refusal answer.
``>=`` on purpose: with four samples plus greedy, a prompt answered right 3 times of 5 (0.6) is
known and 2 of 5 (0.4) is not; a threshold of exactly 0.5 then needs no tie rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Split", "split_prompts"]


@dataclass(frozen=True)
class Split:
    """Positions (into the queried prompts) of the known and of the unknown prompts, in order."""

    known: tuple[int, ...]
    unknown: tuple[int, ...]


def split_prompts(correctness: Sequence[float], threshold: float = 0.5) -> Split:
    """Known: ``correctness[i] >= threshold``; unknown: the rest."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    known = tuple(i for i, c in enumerate(correctness) if c >= threshold)
    taken = set(known)
    return Split(known, tuple(i for i in range(len(correctness)) if i not in taken))
