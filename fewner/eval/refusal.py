"""Per-prompt outcomes of a refusal-aware extractor, and the Truthful Helpfulness Score.

Span P/R/F1 (:mod:`fewner.eval.metrics`) cannot see abstentions: a refused prompt adds no span,
exactly like a wrong "no entity". Refusal-aware tuning (:mod:`fewner.grait`) is judged per
*prompt* instead, one prompt being one (sentence, entity type) question:

* **correct**: not refused, and the predicted spans of that type equal the gold spans of that
  type (both empty counts: "no entity" where there is none is a correct answer);
* **wrong**: not refused, and the spans differ (a hallucinated, missed or mis-bounded entity);
* **refused**: the model wrote the refusal answer ("not sure").

Rates are shares of all prompts (``correct + wrong + refused = 1``). Predicted spans are those of
the final prediction (after the extractor merged the types of a sentence), i.e. what a user gets.

Truthful Helpfulness Score (THS), from the refusal-aware tuning literature (CRaFT, Zhu et al.,
arXiv 2410.06913; also GRAIT, Findings of NAACL 2025). Put each model at the point
``(c, w)`` = (correct rate, wrong rate) and the baseline model (here: the model before
refusal-aware tuning) at ``(c0, w0)``. THS is the cross product of the model's vector with the
baseline's, divided by that of the ideal model ``(1, 0)`` with the baseline's::

    THS = (c * w0 - w * c0) / w0

so the baseline scores 0, the ideal model (all correct, nothing wrong) 1, and a model above the
line through the origin and the baseline (more correct per wrong answer) is positive. This is
the computation of the authors' released evaluation code (``cal_THS`` in
github.com/opendatalab/GRAIT, ``compass_config/Summary``). It is undefined when the baseline
makes no wrong answer (``w0 == 0``): :func:`truthful_helpfulness` returns None then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from fewner.types import Sentence

__all__ = [
    "PromptOutcomes",
    "prompt_outcomes",
    "prompt_outcomes_of_pairs",
    "truthful_helpfulness",
]


@dataclass(frozen=True)
class PromptOutcomes:
    """Counts of correct / wrong / refused prompts and their rates (see the module docstring)."""

    prompts: int
    correct: int
    wrong: int
    refused: int

    def rate(self, count: int) -> float:
        return count / self.prompts if self.prompts else 0.0

    @property
    def correct_rate(self) -> float:
        return self.rate(self.correct)

    @property
    def wrong_rate(self) -> float:
        return self.rate(self.wrong)

    @property
    def refused_rate(self) -> float:
        return self.rate(self.refused)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "correct_rate": self.correct_rate,
            "wrong_rate": self.wrong_rate,
            "refused_rate": self.refused_rate,
        }


def prompt_outcomes(
    gold: Sequence[Sentence],
    predicted: Sequence[Sentence],
    types: Sequence[str],
    abstained: Mapping[str, Sequence[str]] | None = None,
) -> PromptOutcomes:
    """Outcomes of the ``len(gold) x len(types)`` prompts.

    ``gold`` and ``predicted`` are paired by position (same ids required); ``abstained``: sentence
    id -> the types refused for it (:attr:`fewner.predict.ExtractionResult.abstained`).
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predictions")
    for g, p in zip(gold, predicted, strict=True):
        if g.id != p.id:
            raise ValueError(f"gold sentence {g.id!r} is paired with prediction {p.id!r}")
    return prompt_outcomes_of_pairs(list(zip(gold, predicted, strict=True)), types, abstained)


def prompt_outcomes_of_pairs(
    pairs: Sequence[tuple[Sentence, Sentence]],
    types: Sequence[str],
    abstained: Mapping[str, Sequence[str]] | None = None,
) -> PromptOutcomes:
    """Like :func:`prompt_outcomes` for already paired ``(gold, predicted)`` sentences (e.g. by
    :func:`fewner.eval.metrics.pair_sentences`); ``abstained`` is keyed by the *predicted* id."""
    abstained = abstained or {}
    correct = wrong = refused = 0
    for g, p in pairs:
        refused_types = set(abstained.get(p.id, ()))
        for entity_type in types:
            if entity_type in refused_types:
                refused += 1
                continue
            want = {(s.start, s.end) for s in g.spans if s.label == entity_type}
            got = {(s.start, s.end) for s in p.spans if s.label == entity_type}
            if want == got:
                correct += 1
            else:
                wrong += 1
    return PromptOutcomes(len(pairs) * len(types), correct, wrong, refused)


def truthful_helpfulness(
    correct_rate: float, wrong_rate: float, base_correct: float, base_wrong: float
) -> float | None:
    """THS of a model at ``(correct_rate, wrong_rate)`` against a baseline at
    ``(base_correct, base_wrong)``; None when ``base_wrong == 0`` (see the module docstring)."""
    if base_wrong <= 0:
        return None
    return (correct_rate * base_wrong - wrong_rate * base_correct) / base_wrong
