"""Choose an extractor's ``none_bias`` on a labeled support set, without training.

A model trained on other data (the shipped source stage, or any adapter) decides "is there a
mention of T here?" at the first answer token, and on new types that decision is off: too
cautious (most mentions answered "none") or too eager. :func:`calibrate_none_bias` runs the
extractor over the support sentences once per bias on a grid and keeps the bias with the best
micro F1 (ties: the one nearest 0). One number cannot overfit five sentences the way weight
training can, and the support set is all the labeled data a few-shot user has; on a few dozen
mentions the choice is noisy, so a model that ships a bias chosen on dev data (the shipped
``smollm2-135m-ner``) is a sound default without it.

Why an exhaustive grid of whole extractions, not a threshold on scores: the answer after a
changed first token is a new greedy decoding, and only a real run says whether its mentions are
right; the support set is small (tens of sentences), so a grid of 8 costs a few minutes on a CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fewner.types import Sentence

__all__ = ["DEFAULT_GRID", "Calibration", "calibrate_none_bias"]

#: Biases tried by default, nearest 0 first (ties go to the earlier one). Negative answers
#: "none" less often. Dev F1 of the shipped source model fell steeply past -2 (README), and a
#: strongly negative bias makes every answer a full mention list (slow), so the grid stops at -3.
DEFAULT_GRID: tuple[float, ...] = (0.0, -0.5, 0.5, -1.0, 1.0, -1.5, -2.0, -3.0)


@dataclass
class Calibration:
    """The chosen bias and, for every bias tried, the support set's micro P / R / F1 (0-1).

    ``rows``: one dict per bias in the order tried (``none_bias``, ``p``, ``r``, ``f1``,
    ``spans``: predicted spans); ``sentences``, ``gold_spans``: the support set's size.
    """

    none_bias: float
    rows: list[dict[str, float]] = field(default_factory=list)
    sentences: int = 0
    gold_spans: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "none_bias": self.none_bias,
            "sentences": self.sentences,
            "gold_spans": self.gold_spans,
            "grid": self.rows,
        }

    def table(self) -> str:
        """The grid as a plain-text table, the chosen row marked."""
        lines = ["none_bias      P      R     F1  spans"]
        for row in sorted(self.rows, key=lambda r: r["none_bias"]):
            mark = "  <- chosen" if row["none_bias"] == self.none_bias else ""
            lines.append(
                f"{row['none_bias']:+9.1f} {100 * row['p']:6.1f} {100 * row['r']:6.1f} "
                f"{100 * row['f1']:6.1f} {int(row['spans']):6d}{mark}"
            )
        return "\n".join(lines)


def calibrate_none_bias(
    predictor: Any,
    support: Sequence[Sentence],
    labels: Sequence[str] | None = None,
    *,
    grid: Sequence[float] = DEFAULT_GRID,
    apply: bool = True,
    progress: Callable[[int, int], object] | None = None,
) -> Calibration:
    """Pick ``predictor.none_bias`` from ``grid`` by micro F1 on ``support`` (labeled sentences).

    ``predictor``: anything with a settable ``none_bias`` and ``predict_sentences(sentences,
    labels)`` (an :class:`~fewner.predictors.extractor.ExtractorPredictor`). ``labels``: the
    types scored (default: the predictor's). ``apply``: leave the chosen bias set on the
    predictor (else restore the one it had). ``progress(done, total)`` after each bias.
    Raises ``ValueError`` on an empty support set or grid, or a support set without a mention
    of the labels (nothing to calibrate against).
    """
    from fewner.eval.pairing import score_predictions

    if not hasattr(predictor, "none_bias"):
        raise TypeError(f"{type(predictor).__name__} has no none_bias to calibrate")
    sentences = list(support)
    if not sentences:
        raise ValueError("calibrate_none_bias: the support set is empty")
    biases = list(dict.fromkeys(float(b) for b in grid))
    if not biases:
        raise ValueError("calibrate_none_bias: the grid is empty")
    wanted = list(labels) if labels is not None else list(predictor.labels)
    gold_spans = sum(1 for s in sentences for sp in s.spans if sp.label in set(wanted))
    if not gold_spans:
        raise ValueError(
            f"calibrate_none_bias: the support set has no mention of {wanted}: nothing to "
            "calibrate against"
        )
    before = predictor.none_bias
    rows: list[dict[str, float]] = []
    try:
        for k, bias in enumerate(biases):
            predictor.none_bias = bias
            predicted = predictor.predict_sentences(sentences, wanted).sentences
            scores, _ = score_predictions(sentences, predicted, wanted)
            rows.append({
                "none_bias": bias,
                "p": round(scores.micro.precision, 4),
                "r": round(scores.micro.recall, 4),
                "f1": round(scores.micro.f1, 4),
                "spans": sum(1 for s in predicted for sp in s.spans if sp.label in set(wanted)),
            })
            if progress is not None:
                progress(k + 1, len(biases))
    finally:
        predictor.none_bias = before
    best = max(rows, key=lambda r: r["f1"])  # max keeps the first of equals: nearest 0 first
    chosen = best["none_bias"]
    if apply:
        predictor.none_bias = chosen
    return Calibration(chosen, rows, len(sentences), gold_spans)
