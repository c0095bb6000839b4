"""Present :class:`~fewner.eval.metrics.Scores` as terminal tables or a JSON-ready dict.

Tables are built as rich renderables and never printed here, so the CLI decides where they go
(stdout for results) and tests can render them to a string.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table

from fewner.eval.metrics import ERROR_KINDS, EpisodeSummary, Scores


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def summary_table(scores: Scores, title: str | None = None) -> Table:
    """Micro, macro and weighted P/R/F1 (in percent) with gold support."""
    table = Table(title=title, title_justify="left")
    table.add_column("average")
    for col in ("P", "R", "F1", "support"):
        table.add_column(col, justify="right")
    table.add_row(
        "micro",
        _pct(scores.micro.precision),
        _pct(scores.micro.recall),
        _pct(scores.micro.f1),
        str(scores.micro.support),
    )
    for name, avg in (("macro", scores.macro), ("weighted", scores.weighted)):
        table.add_row(name, _pct(avg.precision), _pct(avg.recall), _pct(avg.f1), str(avg.support))
    return table


def per_type_table(scores: Scores) -> Table:
    """One row per type: P/R/F1, counts, and boundary/type error rates among its predictions."""
    table = Table(title="per type", title_justify="left")
    table.add_column("type")
    for col in ("P", "R", "F1", "support", "pred", "tp", "fp", "fn", "bound.err", "type err"):
        table.add_column(col, justify="right")
    for label, prf in sorted(scores.per_type.items()):
        bound = scores.boundary_errors.per_type.get(label)
        typ = scores.type_errors.per_type.get(label)
        table.add_row(
            label,
            _pct(prf.precision),
            _pct(prf.recall),
            _pct(prf.f1),
            str(prf.support),
            str(prf.predicted),
            str(prf.tp),
            str(prf.fp),
            str(prf.fn),
            _pct(bound.rate) if bound else "-",
            _pct(typ.rate) if typ else "-",
        )
    return table


def errors_table(scores: Scores) -> Table:
    """False positives by kind (count and share of all predicted spans), and missed gold spans."""
    predicted = scores.micro.predicted
    table = Table(title="errors (share of predicted spans)", title_justify="left")
    table.add_column("kind")
    table.add_column("count", justify="right")
    table.add_column("% of pred", justify="right")
    for kind in ERROR_KINDS:
        n = scores.error_kinds.get(kind, 0)
        table.add_row(kind, str(n), _pct(n / predicted) if predicted else "-")
    missed = scores.error_kinds.get("missed", 0)
    support = scores.micro.support
    table.add_row("missed (of gold)", str(missed), _pct(missed / support) if support else "-")
    return table


def scores_renderable(scores: Scores, per_type: bool = True, title: str | None = None) -> Group:
    """Everything for the terminal: summary, optional per-type table, error breakdown."""
    parts: list[RenderableType] = [summary_table(scores, title)]
    if per_type and scores.per_type:
        parts.append(per_type_table(scores))
    parts.append(errors_table(scores))
    return Group(*parts)


def episodes_table(summary: EpisodeSummary, title: str | None = None) -> Table:
    """Mean ± std of per-episode micro scores, and the pooled micro scores."""
    heading = f"{summary.episodes} episodes" + (f": {title}" if title else "")
    table = Table(title=heading, title_justify="left")
    table.add_column("")
    for col in ("P", "R", "F1"):
        table.add_column(col, justify="right")
    table.add_row(
        "mean ± std",
        *(
            f"{_pct(m.mean)} ± {_pct(m.std)}"
            for m in (summary.precision, summary.recall, summary.f1)
        ),
    )
    pooled = summary.pooled
    table.add_row("pooled micro", _pct(pooled.precision), _pct(pooled.recall), _pct(pooled.f1))
    return table


def scores_json(scores: Scores, **meta: Any) -> dict[str, Any]:
    """The JSON document ``fewner evaluate --json`` prints: ``meta`` (file names, ...) + scores."""
    return {**meta, **scores.to_dict()}
