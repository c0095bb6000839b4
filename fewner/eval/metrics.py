"""Span-level NER metrics on :class:`fewner.types.Sentence` objects.

What is counted
---------------
A prediction is correct only on an *exact* match of ``(start, end, label)`` (character offsets)
in the paired gold sentence. Gold and predicted spans are compared as *sets* per sentence: a
span listed twice counts once, as in seqeval and conlleval. Overlapping and nested spans are
allowed on both sides; each is matched on its own.

Averages
--------
``micro``
    P/R/F1 from the pooled tp/fp/fn over all types.
``macro``
    Unweighted mean of the per-type P, R and F1 over every type present in gold **or**
    predictions (a type that is only predicted contributes 0 to all three). This is what
    ``seqeval``'s ``average="macro"`` does; it punishes hallucinated types.
``weighted``
    Mean of the per-type P, R and F1 weighted by gold support (seqeval's ``"weighted"``); types
    absent from gold weigh nothing. It need not lie between P and R.

A ratio with a zero denominator is 0.0 (seqeval's ``zero_division`` default), so a run with no
gold and no predicted spans scores 0, not 1.

Error analysis
--------------
Every false-positive prediction gets exactly one kind, tried in this order:

``boundary``
    overlaps a gold span of the *same* type with different boundaries: the OBP-LLM boundary
    error. :attr:`Scores.boundary_errors` reports their count and rate, whose denominator is
    the number of *predicted* spans (overall, and per predicted type).
``type``
    exact boundaries of a gold span, wrong type (:attr:`Scores.type_errors`, same denominator).
``boundary+type``
    overlaps only gold spans of other types, with different boundaries.
``spurious``
    overlaps no gold span at all.

``missed`` counts gold spans that no prediction overlaps.

Episodes
--------
:func:`aggregate_episodes` reports the mean and standard deviation of the per-episode micro
P/R/F1, and the micro P/R/F1 of the counts pooled over all episodes. The official Few-NERD code
(``util/framework.py``, ``FewShotNERFramework.eval``) reports only the pooled figure: it sums
predicted, gold and correct span counts over all test episodes, then divides (adding 1e-6 to
denominators). It also decodes IO tags over each episode's query tokens concatenated without a
separator, so an entity ending one sentence can merge with one starting the next; we score
sentence by sentence and do not reproduce that artefact. Many later papers report mean ± std
over several runs (seeds) rather than over episodes; the per-episode spread here is a different
quantity, which is why both are reported.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fewner.errors import FewnerError
from fewner.types import Sentence, Span

Pairing = Literal["auto", "id", "order"]
ERROR_KINDS: tuple[str, ...] = ("boundary", "type", "boundary+type", "spurious")


class PairingError(FewnerError):
    """Gold and predicted sentences that cannot be matched one to one."""


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def _f1(precision: float, recall: float) -> float:
    # From P and R (as seqeval does) so scores agree to the last bit, not only mathematically.
    return _ratio(2 * precision * recall, precision + recall)


# ----- result types --------------------------------------------------------------------------
@dataclass(frozen=True)
class PRF:
    """Precision, recall and F1 of one type or of the pooled counts, with the counts."""

    tp: int
    fp: int
    fn: int

    @property
    def support(self) -> int:
        """Number of gold spans."""
        return self.tp + self.fn

    @property
    def predicted(self) -> int:
        return self.tp + self.fp

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.predicted)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.support)

    @property
    def f1(self) -> float:
        return _f1(self.precision, self.recall)

    def __add__(self, other: PRF) -> PRF:
        return PRF(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    def to_dict(self) -> dict[str, float | int]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "support": self.support,
            "predicted": self.predicted,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


@dataclass(frozen=True)
class Average:
    """An average of per-type scores (macro or weighted): no counts behind it."""

    precision: float
    recall: float
    f1: float
    support: int
    types: int  # how many types were averaged

    def to_dict(self) -> dict[str, float | int]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "support": self.support,
            "types": self.types,
        }


@dataclass(frozen=True)
class ErrorStats:
    """A kind of error among predicted spans: ``count`` out of ``predicted``, overall and per type.

    ``per_type`` is keyed by the *predicted* label; its entries have empty ``per_type``.
    """

    count: int
    predicted: int
    per_type: Mapping[str, ErrorStats] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Share of predicted spans that have this error (0.0 when nothing was predicted)."""
        return _ratio(self.count, self.predicted)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"count": self.count, "predicted": self.predicted, "rate": self.rate}
        if self.per_type:
            out["per_type"] = {k: v.to_dict() for k, v in sorted(self.per_type.items())}
        return out


@dataclass(frozen=True)
class Scores:
    """Everything :func:`score` measures. See the module docstring for the definitions."""

    micro: PRF
    macro: Average
    weighted: Average
    per_type: Mapping[str, PRF]
    boundary_errors: ErrorStats
    type_errors: ErrorStats
    error_kinds: Mapping[str, int]
    sentences: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "sentences": self.sentences,
            "micro": self.micro.to_dict(),
            "macro": self.macro.to_dict(),
            "weighted": self.weighted.to_dict(),
            "per_type": {k: v.to_dict() for k, v in sorted(self.per_type.items())},
            "boundary_errors": self.boundary_errors.to_dict(),
            "type_errors": self.type_errors.to_dict(),
            "error_kinds": dict(self.error_kinds),
        }


# ----- pairing -------------------------------------------------------------------------------
def pair_sentences(
    gold: Iterable[Sentence], pred: Iterable[Sentence], by: Pairing = "auto"
) -> list[tuple[Sentence, Sentence]]:
    """Match each gold sentence with its prediction.

    ``id`` pairs by sentence id: both sides must hold the same set of unique ids. ``order``
    pairs position by position: same length and identical texts. ``auto`` tries ids first and
    falls back to order, so files that went through a tool which renumbered ids still pair
    when their texts line up. Paired texts must be identical, since spans are character
    offsets into them.
    """
    gold, pred = list(gold), list(pred)
    if by not in ("auto", "id", "order"):
        raise ValueError(f"unknown pairing {by!r}; expected auto, id or order")
    id_problem = _id_problem(gold, pred)
    if by == "id" or (by == "auto" and id_problem is None):
        if id_problem is not None:
            raise PairingError(id_problem)
        by_id = {s.id: s for s in pred}
        pairs = [(g, by_id[g.id]) for g in gold]
    else:
        order_problem = _order_problem(gold, pred)
        if order_problem is not None:
            why = order_problem if by == "order" else f"{id_problem}; {order_problem}"
            raise PairingError(f"cannot pair gold and predicted sentences: {why}")
        pairs = list(zip(gold, pred, strict=True))
    for g, p in pairs:
        if g.text != p.text:
            raise PairingError(
                f"sentence {g.id}: gold and predicted texts differ "
                f"({_clip(g.text)!r} vs {_clip(p.text)!r}); spans are character offsets, "
                "so both sides must hold the same text"
            )
    return pairs


def _id_problem(gold: list[Sentence], pred: list[Sentence]) -> str | None:
    for side, sents in (("gold", gold), ("predictions", pred)):
        dup = [i for i, n in Counter(s.id for s in sents).items() if n > 1]  # first-seen order
        if dup:
            return f"{side} repeat sentence ids ({_some(dup)})"
    gold_ids, pred_ids = {s.id for s in gold}, {s.id for s in pred}
    # In file order, so the message names the first sentences that went wrong.
    missing = [s.id for s in gold if s.id not in pred_ids]
    extra = [s.id for s in pred if s.id not in gold_ids]
    parts = []
    if missing:
        parts.append(f"{len(missing)} gold sentence ids have no prediction ({_some(missing)})")
    if extra:
        parts.append(f"{len(extra)} predicted sentence ids are not in gold ({_some(extra)})")
    return "; ".join(parts) or None


def _order_problem(gold: list[Sentence], pred: list[Sentence]) -> str | None:
    if len(gold) != len(pred):
        return f"{len(gold)} gold vs {len(pred)} predicted sentences, so they cannot pair by order"
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if g.text != p.text:
            return (
                f"by order, sentence {i + 1} differs: gold {_clip(g.text)!r} vs "
                f"predicted {_clip(p.text)!r}"
            )
    return None


def _some(items: Iterable[str], n: int = 5) -> str:
    items = list(items)
    head = ", ".join(items[:n])
    return head + (f", ... ({len(items) - n} more)" if len(items) > n else "")


def _clip(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


# ----- scoring -------------------------------------------------------------------------------
@dataclass
class _Tally:
    tp: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)
    boundary: Counter[str] = field(default_factory=Counter)
    type_err: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)

    def add(self, gold: set[Span], pred: set[Span]) -> None:
        for span in gold & pred:
            self.tp[span.label] += 1
        for span in gold - pred:
            self.fn[span.label] += 1
            if not any(span.overlaps(p) for p in pred):
                self.kinds["missed"] += 1
        for span in pred - gold:
            self.fp[span.label] += 1
            kind = _fp_kind(span, gold)
            self.kinds[kind] += 1
            if kind == "boundary":
                self.boundary[span.label] += 1
            elif kind == "type":
                self.type_err[span.label] += 1


def _fp_kind(span: Span, gold: set[Span]) -> str:
    overlapping = [g for g in gold if g.overlaps(span)]
    if any(g.label == span.label for g in overlapping):
        return "boundary"  # same type, and not an exact match (it is a false positive)
    if any((g.start, g.end) == (span.start, span.end) for g in overlapping):
        return "type"
    return "boundary+type" if overlapping else "spurious"


def score(gold: Iterable[Sentence], pred: Iterable[Sentence], *, pair: Pairing = "auto") -> Scores:
    """Score predicted spans against gold spans; sentences are paired by :func:`pair_sentences`."""
    return score_pairs(pair_sentences(gold, pred, by=pair))


def score_pairs(pairs: Iterable[tuple[Sentence, Sentence]]) -> Scores:
    """Score already paired ``(gold, predicted)`` sentences."""
    tally = _Tally()
    n = 0
    for g, p in pairs:
        tally.add(set(g.spans), set(p.spans))
        n += 1
    return _scores_from(tally, n)


def _scores_from(t: _Tally, sentences: int) -> Scores:
    labels = sorted(set(t.tp) | set(t.fp) | set(t.fn))
    per_type = {lab: PRF(t.tp[lab], t.fp[lab], t.fn[lab]) for lab in labels}
    micro = sum(per_type.values(), PRF(0, 0, 0))
    predicted = {lab: prf.predicted for lab, prf in per_type.items()}
    kinds = {k: t.kinds[k] for k in (*ERROR_KINDS, "missed")}
    return Scores(
        micro=micro,
        macro=_average(per_type, weighted=False),
        weighted=_average(per_type, weighted=True),
        per_type=per_type,
        boundary_errors=_error_stats(t.boundary, predicted),
        type_errors=_error_stats(t.type_err, predicted),
        error_kinds=kinds,
        sentences=sentences,
    )


def _average(per_type: Mapping[str, PRF], weighted: bool) -> Average:
    support = sum(p.support for p in per_type.values())
    weights = {lab: (p.support if weighted else 1) for lab, p in per_type.items()}
    total = sum(weights.values())

    def mean(metric: str) -> float:
        return _ratio(sum(getattr(p, metric) * weights[lab] for lab, p in per_type.items()), total)

    return Average(mean("precision"), mean("recall"), mean("f1"), support, len(per_type))


def _error_stats(errors: Counter[str], predicted: Mapping[str, int]) -> ErrorStats:
    # Keyed by predicted type: a type that was never predicted has no rate to report.
    per_type = {lab: ErrorStats(errors[lab], n) for lab, n in predicted.items() if n}
    return ErrorStats(sum(errors.values()), sum(predicted.values()), per_type)


# ----- episodes ------------------------------------------------------------------------------
@dataclass(frozen=True)
class MeanStd:
    mean: float
    std: float

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "std": self.std}


@dataclass(frozen=True)
class EpisodeSummary:
    """Per-episode micro P/R/F1 as mean and std over episodes, plus the pooled micro counts.

    ``std`` is the population standard deviation (``ddof=0``, numpy's default) unless
    :func:`aggregate_episodes` was asked otherwise.
    """

    episodes: int
    precision: MeanStd
    recall: MeanStd
    f1: MeanStd
    pooled: PRF

    def to_dict(self) -> dict[str, Any]:
        return {
            "episodes": self.episodes,
            "precision": self.precision.to_dict(),
            "recall": self.recall.to_dict(),
            "f1": self.f1.to_dict(),
            "pooled_micro": self.pooled.to_dict(),
        }


def aggregate_episodes(scores: Sequence[Scores], ddof: int = 0) -> EpisodeSummary:
    """Aggregate the scores of several episodes (see the module docstring for the protocol)."""
    if not scores:
        raise ValueError("no episodes to aggregate")
    if len(scores) <= ddof:
        raise ValueError(f"{len(scores)} episodes are too few for a std with ddof={ddof}")

    def stats(values: list[float]) -> MeanStd:
        mean = math.fsum(values) / len(values)
        var = math.fsum((v - mean) ** 2 for v in values) / (len(values) - ddof)
        return MeanStd(mean, math.sqrt(var))

    return EpisodeSummary(
        episodes=len(scores),
        precision=stats([s.micro.precision for s in scores]),
        recall=stats([s.micro.recall for s in scores]),
        f1=stats([s.micro.f1 for s in scores]),
        pooled=sum((s.micro for s in scores), PRF(0, 0, 0)),
    )
