"""Gold for a prediction run: pair gold sentences with predictions and restrict to the types asked.

Every command that scores its own output (``fewner predict --gold``, ``fewner icl --gold``,
``fewner annotate --gold``, the Python API's :func:`score_predictions`) pairs the same way:
gold sentences with the predictions' ids when every id is found, else the first N gold
sentences in order (a prediction run over the first N sentences of a file); gold spans of
types that were not asked for are left out and counted, so a run over 3 of 4 types is not
charged for the fourth.
"""

from __future__ import annotations

from collections.abc import Sequence

from fewner.types import Sentence

__all__ = ["pair_gold", "score_predictions"]


def pair_gold(
    gold: Sequence[Sentence], predictions: Sequence[Sentence], types: Sequence[str]
) -> tuple[list[Sentence], int]:
    """Gold sentences for ``predictions`` restricted to ``types``, and the number of gold spans
    of other types that were left out."""
    ids = {p.id for p in predictions}
    by_id = [g for g in gold if g.id in ids]
    chosen = by_id if len(by_id) == len(predictions) else list(gold[: len(predictions)])
    wanted = set(types)
    left_out = sum(1 for g in chosen for s in g.spans if s.label not in wanted)
    return [g.with_spans(s for s in g.spans if s.label in wanted) for g in chosen], left_out


def score_predictions(
    gold: Sequence[Sentence], predictions: Sequence[Sentence], types: Sequence[str]
):
    """Span scores (:class:`fewner.eval.metrics.Scores`) of ``predictions`` against ``gold``
    paired by :func:`pair_gold`, and the count of gold spans left out."""
    from fewner.eval.metrics import score

    paired, left_out = pair_gold(gold, predictions, types)
    return score(paired, predictions), left_out
