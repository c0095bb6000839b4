"""``fewner evaluate GOLD PRED``: span-level scores of a prediction file against a gold file.

Both files go through the same reader (:func:`fewner.data.io.read_corpus`), so gold and
predictions may be in different formats (e.g. CoNLL gold, JSONL predictions from an LLM).
Results go to stdout (a table, or JSON with ``--json``); what reading skipped or repaired goes to
stderr. The metric definitions live in :mod:`fewner.eval.metrics`.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from fewner.cli.common import err, out, report_read


@click.command("evaluate")
@click.argument("gold", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("pred", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format-gold", default="auto", show_default=True, help="Format of GOLD.")
@click.option("--format-pred", default="auto", show_default=True, help="Format of PRED.")
@click.option(
    "--policy",
    type=click.Choice(["repair", "strict"]),
    default="repair",
    show_default=True,
    help="Invalid tag sequences: repair like conlleval/seqeval default, or drop them like "
    "seqeval strict mode (applies to both files).",
)
@click.option(
    "--pair",
    type=click.Choice(["auto", "id", "order"]),
    default="auto",
    show_default=True,
    help="Match sentences by id, by position (texts must match), or ids first then position.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON on stdout.")
@click.option(
    "--per-type/--no-per-type", default=True, show_default=True, help="Show per-type rows."
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the JSON scores to this file.",
)
def evaluate(
    gold: Path,
    pred: Path,
    format_gold: str,
    format_pred: str,
    policy: str,
    pair: str,
    as_json: bool,
    per_type: bool,
    output: Path | None,
) -> None:
    """Score PRED against GOLD: exact-match span P/R/F1 (micro, macro, weighted, per type),
    boundary errors (predictions overlapping a same-type gold span with other boundaries) and
    type errors, each as a share of the predicted spans."""
    from fewner.data.io import read_corpus
    from fewner.eval.metrics import score
    from fewner.eval.report import scores_json, scores_renderable

    corpora = []
    for path, fmt in ((gold, format_gold), (pred, format_pred)):
        corpus = read_corpus(path, format=fmt, scheme="auto", policy=policy)
        report_read(corpus)
        corpora.append(corpus)
    scores = score(corpora[0].sentences, corpora[1].sentences, pair=pair)  # type: ignore[arg-type]
    doc = scores_json(scores, gold=str(gold), pred=str(pred), policy=policy)
    if not per_type:
        doc.pop("per_type")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        err.print(f"wrote {output}")
    if as_json:
        click.echo(json.dumps(doc, indent=2))
    else:
        title = f"{pred.name} vs {gold.name} ({scores.sentences} sentences)"
        out.print(scores_renderable(scores, per_type=per_type, title=title))
