"""``fewner evaluate GOLD PRED``: span-level scores of a prediction file against a gold file.

Both files go through the same reader (:func:`fewner.data.io.read_corpus`), so gold and
predictions may be in different formats (e.g. CoNLL gold, JSONL predictions from an LLM).
Results go to stdout (a table, or JSON with ``--json``); what reading skipped or repaired goes to
stderr. The metric definitions live in :mod:`fewner.eval.metrics`.

A prediction file from a refusal-aware model (``abstained_types`` on its records: ``fewner
predict --abstain``, or a ``kind: grait`` run's test predictions) is also scored per prompt (one
prompt = one sentence x one type): correct / wrong / refused rates (:mod:`fewner.eval.refusal`),
because span scores cannot tell a refusal from "no entity". ``--baseline`` adds the Truthful
Helpfulness Score against a baseline model's predictions of the same sentences.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from fewner.cli.common import err, out, report_read
from fewner.cli.options import reading_options


@click.command("evaluate")
@reading_options()
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
    "--types",
    help="Comma-separated entity types asked per sentence, for the per-prompt refusal scores "
    "(default: the types of GOLD plus any abstained type).",
)
@click.option(
    "--baseline",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Predictions of the baseline model (e.g. before refusal-aware tuning) on the same "
    "sentences: adds the Truthful Helpfulness Score, THS = (c*w0 - w*c0)/w0.",
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
    types: str | None,
    baseline: Path | None,
    output: Path | None,
) -> None:
    """Score PRED against GOLD: exact-match span P/R/F1 (micro, macro, weighted, per type),
    boundary errors (predictions overlapping a same-type gold span with other boundaries) and
    type errors, each as a share of the predicted spans. Predictions with ``abstained_types``
    (refusal-aware models) also get per-prompt correct / wrong / refused rates; with --baseline,
    the Truthful Helpfulness Score."""
    from fewner.data.io import read_corpus
    from fewner.eval.metrics import pair_sentences, score_pairs
    from fewner.eval.report import scores_json, scores_renderable

    def read(path: Path, fmt: str):
        corpus = read_corpus(path, format=fmt, scheme="auto", policy=policy)
        report_read(corpus)
        return corpus

    gold_corpus, pred_corpus = read(gold, format_gold), read(pred, format_pred)
    pairs = pair_sentences(gold_corpus.sentences, pred_corpus.sentences, by=pair)  # type: ignore[arg-type]
    scores = score_pairs(pairs)
    doc = scores_json(scores, gold=str(gold), pred=str(pred), policy=policy)
    if not per_type:
        doc.pop("per_type")
    # only fewner JSONL carries abstained_types
    is_jsonl = format_pred == "jsonl" or (format_pred == "auto" and pred.suffix == ".jsonl")
    refusal = (
        _refusal_scores(gold_corpus, pairs, pred, types, baseline, read, pair)
        if is_jsonl or baseline is not None
        else None
    )
    if refusal is not None:
        doc["prompts"] = refusal
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        err.print(f"wrote {output}")
    if as_json:
        click.echo(json.dumps(doc, indent=2))
    else:
        title = f"{pred.name} vs {gold.name} ({scores.sentences} sentences)"
        out.print(scores_renderable(scores, per_type=per_type, title=title))
        if refusal is not None:
            out.print(_refusal_table(refusal))


def _refusal_scores(gold_corpus, pairs, pred: Path, types, baseline, read, pair) -> dict | None:
    """Per-prompt outcomes (and THS with a baseline) when PRED carries ``abstained_types``."""
    from fewner.eval.metrics import pair_sentences
    from fewner.eval.refusal import prompt_outcomes_of_pairs, truthful_helpfulness

    abstained = _abstentions(pred)
    if abstained is None:
        if baseline is not None:
            raise click.UsageError(
                f"--baseline needs refusal-aware predictions: {pred.name} has no abstained_types"
            )
        return None
    if types:
        asked = [t.strip() for t in types.split(",") if t.strip()]
    else:
        labels = {s.label for g in gold_corpus.sentences for s in g.spans}
        labels |= {t for refused in abstained.values() for t in refused}
        asked = sorted(labels)
    if not asked:
        raise click.UsageError("no entity types to ask: pass --types")
    outcomes = prompt_outcomes_of_pairs(pairs, asked, abstained)
    doc: dict = {"types": asked, **outcomes.to_dict()}
    if baseline is not None:
        base_pairs = pair_sentences(gold_corpus.sentences, read(baseline, "auto").sentences, by=pair)
        base = prompt_outcomes_of_pairs(base_pairs, asked, _abstentions(baseline))
        doc["baseline"] = {"path": str(baseline), **base.to_dict()}
        doc["ths"] = truthful_helpfulness(
            outcomes.correct_rate, outcomes.wrong_rate, base.correct_rate, base.wrong_rate
        )
    return doc


def _abstentions(path: Path) -> dict | None:
    """``abstained_types`` by sentence id (None: the file has none); bad values are usage errors."""
    from fewner.data.formats.jsonl import read_abstentions

    try:
        return read_abstentions(path)
    except ValueError as error:
        raise click.UsageError(str(error)) from None


def _refusal_table(doc: dict):
    from rich.table import Table

    table = Table(
        title=f"per prompt ({doc['prompts']} = sentences x {len(doc['types'])} types)",
        title_justify="left",
    )
    for column in ("", "correct", "wrong", "refused", "THS"):
        table.add_column(column, justify="left" if not column else "right")
    rows = [("predictions", doc, doc.get("ths"))]
    if "baseline" in doc:
        rows.append(("baseline", doc["baseline"], 0.0 if doc.get("ths") is not None else None))
    for name, outcome, ths in rows:
        table.add_row(
            name,
            f"{outcome['correct_rate']:.3f}",
            f"{outcome['wrong_rate']:.3f}",
            f"{outcome['refused_rate']:.3f}",
            "-" if ths is None else f"{ths:.3f}",
        )
    return table
