"""``fewner icl``: label a file with an in-context ensemble of small LLMs (EL4NER), no training.

    fewner icl --pool samples-wnut-5shot/0.txt --definitions wnut17 emerging.test.annotated \\
        --limit 200 --gold emerging.test.annotated -o runs/icl/wnut.jsonl     # the el4ner preset
    fewner icl --config configs/el4ner.yaml ...                             # a file over it
    fewner icl --list-recipes

The work is :func:`fewner.icl.runner.run_icl`; this module resolves the config
(:func:`fewner.icl.config.resolve_icl_config`: packaged preset, config file, then each flag as
the config key it stands for, then ``--set`` overrides), reads the files and prints the tables.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import click

from fewner.cli.common import err, naming_long_inputs, out, progress, report_read
from fewner.cli.options import (
    answer_cache,
    config_and_recipe,
    reading_options,
    run_outputs,
    threads_option,
)
from fewner.data.formats import format_names
from fewner.icl.config import DEFAULT_RECIPE, icl_backend_names
from fewner.icl.retrieval import RETRIEVERS
from fewner.icl.voting import VOTERS
from fewner.prompts.definitions import available_definitions


def _csv(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


@cache
def _default_preset() -> dict[str, Any]:
    from fewner.config_schema import read_preset

    return read_preset("icl", DEFAULT_RECIPE, key="recipe")


def _preset_default(key: str) -> str:
    """``[config: KEY; el4ner: VALUE]`` for a flag's help: the key the flag sets and its value
    in the default preset (read from the packaged file, so the help cannot go stale)."""
    node: Any = _default_preset()
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, bool):
        text = "on" if node else "off"
    elif isinstance(node, list):
        text = ", ".join(str(x) for x in node)
    else:
        text = "none" if node is None else str(node)
    return f"[config: {key}; {DEFAULT_RECIPE}: {text}]"


@click.command("icl")
@threads_option()
@reading_options()
@config_and_recipe("icl", default=DEFAULT_RECIPE, example="configs/el4ner.yaml")
@click.argument(
    "input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--pool",
    "pool_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Labeled sentences the demonstrations come from (e.g. a 5-shot support set file).",
)
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Predictions (fewner JSONL); other outputs go beside it (see below).",
)
@click.option(
    "--models",
    "models_csv",
    default=None,
    help="Ensemble, comma-separated [BACKEND:]MODEL (catalogue name, GGUF path, hub id or server "
    f"model) {_preset_default('models')}.",
)
@click.option(
    "--backend",
    "-b",
    type=click.Choice(icl_backend_names()),
    default=None,
    help=f"Backend of models that name none {_preset_default('backend')}.",
)
@click.option(
    "--types",
    "types_csv",
    default=None,
    help="Entity types, comma-separated [default: the labels of --pool].",
)
@click.option(
    "--types-from",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="File of types, one per line (names or BIO tags, e.g. labels-wnut.txt).",
)
@click.option(
    "--definitions",
    default=None,
    help="One-line type definitions in the prompt (none: type names only): shipped name "
    f"({', '.join(available_definitions())}) or YAML path {_preset_default('definitions')}.",
)
@click.option(
    "--retrieval",
    type=click.Choice(RETRIEVERS.names()),
    default=None,
    help="Demonstration retrieval: span-level similarity, sentence kNN or random "
    f"{_preset_default('retrieval.method')}.",
)
@click.option(
    "-k",
    "k",
    type=click.IntRange(min=1),
    default=None,
    help=f"Demonstrations per sentence {_preset_default('retrieval.k')}.",
)
@click.option(
    "--span-threshold",
    type=click.FloatRange(0, 1, min_open=True),
    default=None,
    help="Share of answering models that must propose a span "
    f"{_preset_default('extract.threshold')}.",
)
@click.option(
    "--validate/--no-validate",
    default=None,
    help=f"Stage 3 self-validation {_preset_default('validate.enabled')}; when on, predictions "
    "before and after it are both scored.",
)
@click.option(
    "--parallel/--no-parallel",
    default=None,
    help="Models answer each stage at the same time, one thread each "
    f"{_preset_default('parallel')}.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config key (dotted, YAML value), e.g. extract.constrained=true or "
    f"classify.voter=weighted (voters: {', '.join(VOTERS.names())}); repeatable, applied after "
    "the flags.",
)
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="Only the first N sentences of INPUT."
)
@click.option(
    "--start",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Skip the first N sentences of INPUT (--limit counts from there): shards a test set "
    "across runs or machines; their metrics.json counts add up to the whole.",
)
@click.option(
    "--format",
    "input_format",
    type=click.Choice(["auto", *format_names()]),
    default="auto",
    show_default=True,
    help="Format of INPUT and --pool; auto guesses from extension and content.",
)
@click.option(
    "--gold",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Score against this file (may be INPUT itself): without and with self-validation.",
)
@run_outputs(
    cache_help="SQLite answer cache, may be shared between runs [default: OUT.run/cache.sqlite]."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print metrics as JSON on stdout instead of tables."
)
@click.option(
    "--allow-unseen-types", is_flag=True,
    help="Ask for --types that no pool sentence is labeled with (a warning, not an error).",
)
def icl(
    input_path: Path,
    pool_path: Path,
    output: Path,
    config_path: Path | None,
    recipe: str | None,
    models_csv: str | None,
    backend: str | None,
    types_csv: str | None,
    types_from: Path | None,
    definitions: str | None,
    retrieval: str | None,
    k: int | None,
    span_threshold: float | None,
    validate: bool | None,
    parallel: bool | None,
    overrides: tuple[str, ...],
    limit: int | None,
    start: int,
    input_format: str,
    gold: Path | None,
    cache_path: Path | None,
    no_cache: bool,
    run_dir: Path | None,
    as_json: bool,
    allow_unseen_types: bool,
) -> None:
    """Label INPUT with an ensemble of small LLMs doing in-context learning (EL4NER).

    Per sentence: k demonstrations are retrieved from --pool; stage 1, every model lists the
    mentions it sees, and a span is kept when enough models propose it; stage 2, every model
    types each kept span and the vote decides; stage 3, every model checks "is SPAN a TYPE?"
    and spans without enough "yes" are dropped. Parse failures are counted per model; every
    answer is cached, so a rerun is free and a run that changes only thresholds, voters or the
    model list reuses every answer it can.

    The config: the packaged el4ner preset (--list-recipes), or --config FILE (which may start
    from a preset with `recipe: NAME`); each flag sets the config key named in its help, and
    --set sets any key.

    Outputs: OUT.jsonl (final), OUT.unvalidated.jsonl (before stage 3), OUT.answers.jsonl
    (every answer), OUT.run/ (config.json, metrics.json, cache.sqlite).
    """
    from fewner.cli.predict_cmd import read_type_file
    from fewner.data.io import read_corpus
    from fewner.icl.config import (
        check_types_in_pool,
        cut_answer_warnings,
        parse_model_spec,
        resolve_icl_config,
    )
    from fewner.icl.runner import IclOutputs, run_icl

    if types_csv is not None and types_from is not None:
        raise click.UsageError("give --types or --types-from, not both")
    flags: list[str] = []
    if models_csv is not None:
        models = [vars(parse_model_spec(m)) for m in _csv(models_csv)]
        flags.append(f"models={json.dumps(models)}")  # JSON is YAML
    for key, value in (
        ("backend", backend),
        ("definitions", definitions),
        ("retrieval.method", retrieval),
        ("retrieval.k", k),
        ("extract.threshold", span_threshold),
        ("validate.enabled", validate),
        ("parallel", parallel),
    ):
        if value is not None:
            flags.append(f"{key}={str(value).lower() if isinstance(value, bool) else value}")
    config = resolve_icl_config(config_path, recipe=recipe, overrides=[*flags, *overrides])

    pool_corpus = read_corpus(pool_path, format=input_format)
    report_read(pool_corpus)
    if types_csv is not None:
        types = _csv(types_csv)
    elif types_from is not None:
        types = read_type_file(types_from)
    else:
        types = pool_corpus.labels
        err.print(f"types (labels of the pool): {', '.join(types)}")
    types = list(dict.fromkeys(types))
    if not types:
        raise click.UsageError("no entity types: give --types or a labeled --pool")
    unseen = check_types_in_pool(types, pool_corpus.labels, str(pool_path), allow=allow_unseen_types)
    if unseen:
        err.print(
            f"[yellow]warning: no demonstration in the pool for {', '.join(unseen)}[/yellow]",
            soft_wrap=True,
        )
    defs: dict[str, str] = {}
    if config.definitions:
        from fewner.prompts import load_definitions

        defs = load_definitions(config.definitions).require(types)

    corpus = read_corpus(input_path, format=input_format)
    report_read(corpus)
    end = None if limit is None else start + limit
    sentences = corpus.sentences[start:end]
    if not sentences:
        raise click.UsageError(
            f"--start {start} is past the end of INPUT ({len(corpus.sentences)} sentences)"
        )
    gold_sentences = None
    if gold is not None:
        gold_corpus = read_corpus(gold)
        report_read(gold_corpus)
        gold_sentences = gold_corpus.sentences

    outputs = IclOutputs.beside(output, run_dir)
    cache = answer_cache(cache_path, no_cache, outputs.run_dir)
    fix = (
        "split long lines, retrieve fewer demonstrations (-k N), or give the models a longer "
        "context (options: {n_ctx: N} for llamacpp)"
    )
    with progress() as bar, naming_long_inputs(sentences, fix):
        task = bar.add_task(f"icl x{len(config.models)} models", total=len(sentences))
        metrics = run_icl(
            config,
            sentences,
            pool_corpus.sentences,
            types,
            outputs,
            definitions=defs,
            gold=gold_sentences,
            cache=cache,
            extra_config={
                "config_file": None if config_path is None else str(config_path),
                "recipe": recipe or (DEFAULT_RECIPE if config_path is None else None),
                "input": str(input_path),
                "pool": str(pool_path),
                "gold": None if gold is None else str(gold),
                "limit": limit,
                "start": start,
                "definitions_source": config.definitions,
            },
            progress=lambda n: bar.advance(task, n),
            log=lambda m: bar.update(task, description=m),
        )
    if as_json:
        click.echo(json.dumps(metrics, indent=2))
    else:
        out.print(_tables(metrics))
    for warning in cut_answer_warnings(metrics, config):
        err.print(f"[yellow]warning: {warning}[/yellow]", soft_wrap=True)
    err.print(
        f"wrote {outputs.predictions} ({metrics['sentences']} sentences, "
        f"{metrics['sentences_per_second']} sentences/s); run folder: {outputs.run_dir}"
    )


def _tables(metrics: dict[str, Any]) -> Any:
    from rich.console import Group
    from rich.table import Table

    models = Table(title="per model", title_justify="left")
    for col in (
        "model",
        "answers",
        "extract fail",
        "classify fail",
        "validate fail",
        "seconds",
        "cache hit/miss",
    ):
        models.add_column(
            col, justify="left" if col == "model" else "right", no_wrap=col == "model"
        )
    for name, row in metrics["models"].items():
        cache = metrics["cache"].get(name, {})
        models.add_row(
            name,
            str(row.get("extract_answers", 0)),
            str(row.get("extract_failures", 0)),
            str(row.get("classify_failures", 0)),
            str(row.get("validate_failures", 0)),
            f"{row.get('seconds', 0):.1f}",
            f"{cache.get('hits')}/{cache.get('misses')}",
        )
    parts: list[Any] = [models]
    scores = metrics.get("scores")
    if scores:
        table = Table(title="ensemble (micro, %)", title_justify="left")
        for col in ("predictions", "P", "R", "F1", "predicted", "gold"):
            table.add_column(col, justify="left" if col == "predictions" else "right")
        for label, key in (
            ("without self-validation", "unvalidated"),
            ("with self-validation", "validated"),
        ):
            s = scores.get(key)
            if not s:
                continue
            micro = s["micro"]
            table.add_row(
                label,
                f"{100 * micro['precision']:.2f}",
                f"{100 * micro['recall']:.2f}",
                f"{100 * micro['f1']:.2f}",
                str(micro["predicted"]),
                str(micro["support"]),
            )
        parts.append(table)
    return Group(*parts)
