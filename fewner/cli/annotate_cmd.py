"""``fewner annotate``: a language model (the teacher) labels sentences for distillation.

Outputs, beside ``-o OUT.jsonl``:

* ``OUT.jsonl`` — fewner JSONL (``fewner distill`` and ``read_corpus`` read it) with, per
  sentence, ``status`` (ok / repaired / partial / unparseable), ``dropped`` (mentions not placed
  and why) and the raw ``answer``; written batch by batch as the run goes;
* ``OUT.run/`` — ``config.json``, ``metrics.json`` (status counts, parse and placement counts,
  speed, and P/R/F1 against ``--gold``) and ``cache.sqlite``: every answer is committed as soon
  as it is generated, so re-running the same command after a crash resumes where it stopped.

The work is :func:`fewner.distill.annotate_file.annotate_file` with an
:class:`~fewner.predictors.annotator.AnnotatorPredictor`; this module resolves options and reports.
"""

from __future__ import annotations

from pathlib import Path

import click

from fewner.cli.common import err, naming_long_inputs, out, report_read
from fewner.cli.options import (
    BACKEND_CHOICES,
    answer_cache,
    reading_options,
    run_outputs,
    threads_option,
)
from fewner.models.catalogue import DEFAULT_CAUSAL_MODEL


def _read_input(path: Path, fmt: str, limit: int | None, sample_seed: int | None) -> list:
    """Sentences of INPUT: a folder (or ``--format raw``) is raw text split into sentences."""
    if path.is_dir() or fmt == "raw":
        from fewner.distill.rawtext import read_raw_folder

        corpus = read_raw_folder(path, limit=limit, seed=sample_seed)
        report_read(corpus)
        return corpus.sentences
    from fewner.data.io import read_corpus

    corpus = read_corpus(path, format=fmt)
    report_read(corpus)
    sentences = corpus.sentences
    if limit is not None and sample_seed is not None and limit < len(sentences):
        import random

        keep = sorted(random.Random(sample_seed).sample(range(len(sentences)), limit))
        return [sentences[i] for i in keep]
    return sentences[:limit] if limit is not None else sentences


@click.command("annotate")
@threads_option()
@reading_options()
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Annotations (fewner JSONL + status, dropped, answer).",
)
@click.option(
    "--model",
    "-m",
    default=DEFAULT_CAUSAL_MODEL,
    show_default=True,
    help="Catalogue name, GGUF path (llamacpp), local folder or hub id (hf), server model name (openai).",
)
@click.option(
    "--backend",
    "-b",
    "kind",
    type=click.Choice(BACKEND_CHOICES),
    default="llamacpp",
    show_default=True,
    help="llamacpp is the fast CPU path (annotation needs no training).",
)
@click.option(
    "--style",
    type=click.Choice(["standard", "cot"]),
    default="standard",
    show_default=True,
    help="standard few-shot, or chain-of-thought (reason in steps, then the dictionary).",
)
@click.option(
    "--definitions",
    default="conll2003",
    show_default=True,
    help="Type definitions: shipped name (conll2003, wnut17, ...) or YAML path.",
)
@click.option(
    "--types",
    "types_csv",
    default=None,
    help="Entity types, comma-separated [default: every type of --definitions].",
)
@click.option(
    "--demos-from",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Labelled file to take demonstrations from (e.g. conll2003/valid.txt).",
)
@click.option(
    "--demos",
    "n_demos",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Number of demonstrations (chosen to cover every type; 0: zero-shot).",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only N sentences.")
@click.option(
    "--sample-seed",
    type=int,
    default=None,
    help="With --limit: a seeded random sample of N sentences instead of the first N.",
)
@click.option(
    "--format",
    "input_format",
    default="auto",
    show_default=True,
    help="Format of INPUT: auto, conll, tags, jsonl, text, raw (a folder is always raw).",
)
@click.option(
    "--gold",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Score the annotations against this labelled file (may be INPUT itself).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Prompts per backend call (and per cache commit).",
)
@click.option(
    "--max-new-tokens",
    type=click.IntRange(min=1),
    default=None,
    help="[default: 128 standard, 256 cot]",
)
@click.option(
    "--chat/--no-chat",
    default=True,
    show_default=True,
    help="Wrap the prompt in the model's chat template (instruction-tuned models).",
)
@run_outputs(no_cache_help="Do not store or reuse answers (no resume).")
@click.option("--base-url", default=None, help="Server URL (openai backend).")
@click.option(
    "--option",
    "-O",
    "raw_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Extra backend option, e.g. -O n_threads=2 (repeatable).",
)
def annotate(
    input_path: Path,
    output: Path,
    model: str,
    kind: str,
    style: str,
    definitions: str,
    types_csv: str | None,
    demos_from: Path | None,
    n_demos: int,
    limit: int | None,
    sample_seed: int | None,
    input_format: str,
    gold: Path | None,
    batch_size: int,
    max_new_tokens: int | None,
    chat: bool,
    cache_path: Path | None,
    no_cache: bool,
    run_dir: Path | None,
    base_url: str | None,
    raw_options: tuple[str, ...],
) -> None:
    """Annotate INPUT (a data file, or a folder of raw .txt articles) with a language model,
    one multi-type prompt per sentence answering {"PER": [...], "LOC": [...], ...}.

    Example: fewner annotate ../shared/data/conll2003/train.txt --limit 200 --gold
    ../shared/data/conll2003/train.txt --demos-from ../shared/data/conll2003/valid.txt
    -o runs/annotate/conll200.jsonl --style cot
    """
    from fewner.cli.predict_cmd import backend_options
    from fewner.distill.annotate import pick_demos
    from fewner.distill.annotate_file import DROP_REASONS, annotate_file
    from fewner.predictors.annotator import AnnotatorPredictor
    from fewner.predictors.files import run_folder
    from fewner.prompts.definitions import load_definitions

    defs = load_definitions(definitions)
    types = [t.strip() for t in types_csv.split(",") if t.strip()] if types_csv else list(defs)
    types = list(defs.require(list(dict.fromkeys(types))))  # canonical names, all defined
    sentences = _read_input(input_path, input_format, limit, sample_seed)
    demos: list = []
    if demos_from is not None and n_demos:
        from fewner.data.io import read_corpus

        demos = pick_demos(read_corpus(demos_from), types, n_demos)
    elif n_demos and demos_from is None:
        err.print("[yellow]no --demos-from: zero-shot prompts[/yellow]")
    gold_sentences = None
    if gold is not None:
        from fewner.data.io import read_corpus

        gold_sentences = read_corpus(gold).sentences

    options = backend_options(raw_options)
    if base_url is not None:
        options["base_url"] = base_url
    teacher = AnnotatorPredictor(
        model, types, backend=kind, demos=demos, definitions=dict(defs), style=style, chat=chat,
        max_new_tokens=max_new_tokens, batch_size=batch_size, backend_options=options,
        cache=answer_cache(cache_path, no_cache, run_folder(output, run_dir)),
    )
    run_config = {
        "command": "annotate",
        "input": str(input_path),
        "input_format": input_format,
        "definitions": definitions,
        "limit": limit,
        "sample_seed": sample_seed,
        "demos_from": None if demos_from is None else str(demos_from),
        "cache": None if teacher.cache is None else str(teacher.cache),
        "gold": None if gold is None else str(gold),
        "types": types,
    }
    fix = (
        "split long lines, use fewer --demos, or a model with a longer context (-O n_ctx=N "
        "with llamacpp)"
    )
    teacher.check_fits(sentences, types)  # a line past the context window fails now, named
    with teacher, naming_long_inputs(sentences, fix):
        metrics, scores = annotate_file(
            teacher, sentences, output, labels=types, gold=gold_sentences, run_dir=run_dir,
            config=run_config, score_meta=None if gold is None else {"gold": str(gold)},
        )
    stats, hits = metrics["stats"], metrics["cache_hits"]
    err.print(
        f"wrote {output}: {metrics['sentences']} sentences, {stats.get('spans', 0)} spans in "
        f"{metrics['seconds']:.1f}s"
        + (f"; cache: {hits} hit(s), {metrics['cache_misses']} miss(es)" if hits is not None else "")
    )
    err.print("statuses: " + ", ".join(f"{k}={v}" for k, v in sorted(metrics["statuses"].items())))
    if stats.get("truncated"):
        from rich.markup import escape

        from fewner.predictors.extractor import cut_answers_warning

        budget = max_new_tokens or (256 if style == "cot" else 128)  # the annotator's defaults
        warning = cut_answers_warning(stats["truncated"], budget)
        err.print(f"[yellow]warning: {escape(warning)}[/yellow]", soft_wrap=True)
    dropped = {k: stats[k] for k in DROP_REASONS if stats.get(k)}
    if dropped:
        err.print("dropped: " + ", ".join(f"{k}={v}" for k, v in dropped.items()))
    if scores is not None:
        from fewner.eval.report import scores_renderable

        assert gold is not None
        title = f"{output.name} vs {gold.name} ({scores.sentences} sentences, {style})"
        out.print(scores_renderable(scores, title=title))
    err.print(f"run folder: {run_folder(output, run_dir)}")
