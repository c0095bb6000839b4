"""Add up the summary rows of several shards of one test set and rescore them exactly.

A long evaluation is often run in shards (test sentences 0-99, then 100-199), each writing
summary rows: flat dicts holding counts (predicted and gold spans, sentences, model calls,
seconds) next to the ratios computed from them (precision, recall, F1, sentences per second).
Ratios of shards cannot be averaged; :func:`add_up` sums the counts of the rows that share a
key and recomputes the ratios from the sums, with the arithmetic of
:class:`fewner.eval.metrics.PRF`, so two shards give, to the last bit, the row of one run over
both.

Rows store no true-positive count; :func:`true_positives` recovers it as
``round(precision * predicted)``, which is exact because the precision was computed as
``tp / predicted`` in floating point (its error is many orders of magnitude below 0.5 for any
span count a test set has).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from fewner.eval.metrics import PRF

__all__ = ["add_up", "group", "pooled_rate", "rescore", "true_positives"]

Row = dict[str, Any]


def group(rows: Iterable[Mapping[str, Any]], keys: Sequence[str]) -> dict[tuple, list[Row]]:
    """The rows by the values of their ``keys`` columns, keys and rows in first-seen order."""
    groups: dict[tuple, list[Row]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(dict(row))
    return groups


def true_positives(row: Mapping[str, Any], predicted: str = "predicted") -> int:
    """The true positives behind a row's ``precision`` and ``predicted`` count (module doc)."""
    return round(row["precision"] * row[predicted])


def rescore(
    row: Mapping[str, Any], tp: int, *, predicted: str = "predicted", gold: str = "gold"
) -> Row:
    """A copy of ``row`` with ``precision``, ``recall`` and ``f1`` recomputed from ``tp`` true
    positives and its ``predicted`` and ``gold`` counts (as :class:`~fewner.eval.metrics.PRF`
    computes them: a zero denominator gives 0.0)."""
    n_pred, n_gold = row[predicted], row[gold]
    if not 0 <= tp <= min(n_pred, n_gold):
        raise ValueError(
            f"{tp} true positives do not fit {n_pred} predicted and {n_gold} gold spans"
        )
    prf = PRF(tp, n_pred - tp, n_gold - tp)
    return {**row, "precision": prf.precision, "recall": prf.recall, "f1": prf.f1}


def pooled_rate(rows: Iterable[Mapping[str, Any]], count: str, rate: str) -> float | None:
    """``count`` per second over all rows: the summed ``count`` over the summed time
    ``count / rate`` of each row (rows with a count of 0 took no time). None when a row with a
    positive count has no rate (None or 0), or when nothing was counted."""
    total = busy = 0.0
    for row in rows:
        n, per_second = row[count], row.get(rate)
        if not n:
            continue
        if not per_second:
            return None
        total += n
        busy += n / per_second
    return total / busy if busy else None


def add_up(
    rows: Iterable[Mapping[str, Any]],
    keys: Sequence[str],
    sum_fields: Sequence[str],
    *,
    combine: Mapping[str, Callable[[list[Row]], Any]] | None = None,
    predicted: str = "predicted",
    gold: str = "gold",
) -> list[Row]:
    """One row per distinct value of the ``keys`` columns, in first-seen order.

    Each is the group's first row, with every column of ``sum_fields`` summed over the group
    (None when a row of the group has None there), every column of ``combine`` set to its
    function of the group's rows, and, when the rows carry a ``precision``, precision, recall
    and F1 recomputed from the summed true positives (:func:`true_positives`) and the summed
    ``predicted`` and ``gold`` counts, which must then be among ``sum_fields``. Other columns
    keep the first row's value, so they should be equal across shards (names, settings).
    """
    out = []
    for members in group(rows, keys).values():
        row = dict(members[0])
        for name in sum_fields:
            values = [m[name] for m in members]
            row[name] = None if None in values else sum(values)
        for name, function in (combine or {}).items():
            row[name] = function(members)
        if "precision" in row:
            missing = [f for f in (predicted, gold) if f not in sum_fields]
            if missing:
                raise ValueError(
                    f"rows with a precision are rescored from summed counts: add {missing} "
                    "to sum_fields"
                )
            tp = sum(true_positives(m, predicted) for m in members)
            row = rescore(row, tp, predicted=predicted, gold=gold)
        out.append(row)
    return out
