"""``fewner predict``: label a data file with a language model, one prompt per entity type.

Outputs, all beside ``-o OUT.jsonl``:

* ``OUT.jsonl`` — fewner JSONL, the input sentences with predicted character-offset entities
  (gold entities in the input are ignored for prompting and not copied);
* ``OUT.answers.jsonl`` — every raw answer (sentence id, type, prompt length, answer), written
  as the run goes, for debugging prompts and parsing;
* ``OUT.run/`` — ``config.json`` (every setting used) and ``metrics.json`` (counts, timing, and
  the scores when ``--gold`` is given), plus ``cache.sqlite``: every answer is committed there as
  soon as it is generated, so re-running the same command after a crash or Ctrl-C resumes where
  it stopped (``--cache PATH`` to put it elsewhere, ``--no-cache`` to turn it off).

The prediction itself is :class:`fewner.predict.Extractor`; this module only resolves options,
reads and writes files, and reports.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import click

from fewner.cli.common import err, out, progress, report_read
from fewner.cli.options import answer_cache, model_and_backend, run_folder, run_outputs

_TAG = re.compile(r"^[BIES]-(.+)$")


def read_type_file(path: Path) -> list[str]:
    """Types from a file, one per line: bare names or BIO/BIOES tags (``O`` is skipped).

    Covers both a hand-written list and a ``labels-*.txt`` file of the support sets. ``#``
    starts a comment line. Order of first appearance.
    """
    types: dict[str, None] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line == "O":
            continue
        match = _TAG.match(line)
        types.setdefault(match.group(1) if match else line, None)
    return list(types)


def _backend_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` strings to constructor options; values are read as YAML scalars."""
    import yaml

    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--option")
        options[key.strip()] = yaml.safe_load(value)
    return options


def _gold_for(gold_sentences: list, predictions: list, types: list[str]) -> tuple[list, int]:
    """Gold sentences paired with the predictions (same ids, else the first N) restricted to
    ``types``; also how many gold spans of other types were left out."""
    ids = {p.id for p in predictions}
    by_id = [g for g in gold_sentences if g.id in ids]
    chosen = by_id if len(by_id) == len(predictions) else gold_sentences[: len(predictions)]
    wanted = set(types)
    left_out = sum(1 for g in chosen for s in g.spans if s.label not in wanted)
    return [g.with_spans(s for s in g.spans if s.label in wanted) for g in chosen], left_out


@click.command("predict")
@click.argument(
    "input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Predictions (fewner JSONL).",
)
@model_and_backend("Catalogue name, local folder, hub id (hf), GGUF path (llamacpp) or server model name.")
@click.option(
    "--adapter",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="LoRA adapter folder (hf).",
)
@click.option(
    "--types",
    "types_csv",
    default=None,
    help="Entity types, comma-separated (default: every type of --definitions).",
)
@click.option(
    "--types-from",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="File of types, one per line (names or BIO tags, e.g. labels-wnut.txt).",
)
@click.option(
    "--template",
    default="obp-llm",
    show_default=True,
    help="Prompt template: shipped name (obp-llm, cllmfs, ...) or YAML path.",
)
@click.option(
    "--layout",
    type=click.Choice(["type_first", "sentence_first"]),
    default=None,
    help="Override the template's section order (must match training).",
)
@click.option(
    "--definitions",
    default=None,
    help="Type definitions: shipped name (wnut17, conll2003, gum, fewnerd) or YAML path "
    "(required unless --student).",
)
@click.option(
    "--constrain/--no-constrain",
    default=True,
    show_default=True,
    help="Constrain mentions to substrings of the input.",
)
@click.option(
    "--edge-punctuation/--no-edge-punctuation",
    default=False,
    show_default=True,
    help="Allow mentions that start or end with a punctuation-only word.",
)
@click.option(
    "--max-words",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Longest allowed mention, in words (constrained).",
)
@click.option(
    "--max-mentions",
    type=click.IntRange(min=1),
    default=None,
    help="At most this many mentions per answer (constrained).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Prompts per backend call.",
)
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=64, show_default=True)
@click.option(
    "--chat/--no-chat",
    default=False,
    show_default=True,
    help="Wrap prompts in the model's chat template (must match training).",
)
@click.option(
    "--abstain/--no-abstain",
    default=False,
    show_default=True,
    help="Let constrained decoding write the template's refusal answer (for refusal-aware "
    "adapters, fewner train kind: grait); abstentions go to abstained_types in the output.",
)
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="Only the first N sentences."
)
@click.option(
    "--format",
    "input_format",
    default="auto",
    show_default=True,
    help="Format of INPUT (auto, conll, tags, jsonl, text).",
)
@click.option(
    "--gold",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Score against this file (may be INPUT itself) and print P/R/F1.",
)
@run_outputs()
@click.option("--device", default=None, help="hf: cpu, cuda, auto.")
@click.option(
    "--student",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A distillation student folder (fewner distill RUN/student): predict with it instead "
    "of a language model; uses --limit, --format, --gold, --batch-size, --run-dir.",
)
@click.option(
    "--threads", type=click.IntRange(min=1), default=None, help="Torch threads (--student)."
)
@click.option("--quantize", is_flag=True, help="int8 dynamic quantization of the student (CPU).")
@click.option("--base-url", default=None, help="Server URL (openai backend).")
@click.option(
    "--option",
    "-O",
    "raw_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Extra backend option, e.g. -O prefix_sharing=true, -O n_threads=2 (repeatable).",
)
def predict(
    input_path: Path,
    output: Path,
    model: str,
    kind: str,
    adapter: Path | None,
    types_csv: str | None,
    types_from: Path | None,
    template: str,
    layout: str | None,
    definitions: str | None,
    constrain: bool,
    edge_punctuation: bool,
    max_words: int,
    max_mentions: int | None,
    batch_size: int,
    max_new_tokens: int,
    chat: bool,
    abstain: bool,
    limit: int | None,
    input_format: str,
    gold: Path | None,
    cache_path: Path | None,
    no_cache: bool,
    run_dir: Path | None,
    device: str | None,
    student: Path | None,
    threads: int | None,
    quantize: bool,
    base_url: str | None,
    raw_options: tuple[str, ...],
) -> None:
    """Predict the entities of INPUT (any format `fewner data` reads) and write fewner JSONL.

    Example: fewner predict --definitions wnut17 --types-from labels-wnut.txt
    emerging.test.annotated -o preds.jsonl --gold emerging.test.annotated

    With --student RUN/student a distillation student (fewner distill) predicts instead:
    fewner predict --student runs/distill-D/student test.txt -o preds.jsonl --gold test.txt
    """
    from fewner.backends.base import GenerationParams
    from fewner.backends.factory import make_backend
    from fewner.data.formats.jsonl import write_jsonl
    from fewner.data.io import read_corpus, write_corpus
    from fewner.errors import ConfigError
    from fewner.predict import Extractor
    from fewner.prompts import ExtractionFormat, load_template
    from fewner.runs import RunDir

    if student is not None:
        from fewner.cli.student_predict import predict_with_student

        predict_with_student(
            student,
            input_path,
            output,
            input_format=input_format,
            limit=limit,
            gold=gold,
            batch_size=batch_size,
            run_dir=run_dir,
            threads=threads,
            quantize=quantize,
        )
        return
    if definitions is None:
        raise click.UsageError("--definitions is required (unless --student)")
    # --- everything that can fail cheaply, before a model loads --------------------------
    if types_csv is not None and types_from is not None:
        raise click.UsageError("give --types or --types-from, not both")
    fmt = ExtractionFormat(load_template(template, layout=layout), definitions)
    if types_csv is not None:
        types = [t.strip() for t in types_csv.split(",") if t.strip()]
    elif types_from is not None:
        types = read_type_file(types_from)
    else:
        types = list(fmt.definitions)
        err.print(f"types (all of {definitions}): {', '.join(types)}")
    types = list(dict.fromkeys(types))
    if not types:
        raise click.UsageError("no entity types given")
    fmt.definitions.require(types)
    if adapter is not None and kind != "hf":
        raise ConfigError("--adapter works with the hf backend only")

    corpus = read_corpus(input_path, format=input_format)
    report_read(corpus)
    sentences = corpus.sentences[:limit] if limit is not None else corpus.sentences
    gold_sentences = None
    if gold is not None:
        gold_corpus = read_corpus(gold)
        report_read(gold_corpus)
        gold_sentences = gold_corpus.sentences

    run = RunDir(run_folder(output, run_dir))
    cache = answer_cache(cache_path, no_cache, run.path)
    options = _backend_options(raw_options)
    if kind == "hf":
        options.setdefault("batch_size", batch_size)
        if adapter is not None:
            options["adapter"] = adapter
        if device is not None:
            options["device"] = device
    if base_url is not None:
        options["base_url"] = base_url
    params = GenerationParams(max_new_tokens=max_new_tokens)

    with err.status(f"loading {model} ({kind})"):
        backend = make_backend(kind, model, cache=cache, **options)
    with backend:
        extractor = Extractor(
            backend,
            fmt,
            constrained=constrain,
            params=params,
            batch_size=batch_size,
            edge_punctuation=edge_punctuation,
            max_words=max_words,
            max_mentions=max_mentions,
            chat=chat,
            abstain=abstain,
        )
        config = {
            "command": "predict",
            "input": str(input_path),
            "input_format": input_format,
            "output": str(output),
            "gold": None if gold is None else str(gold),
            "model": model,
            "adapter": None if adapter is None else str(adapter),
            "backend_options": {k: str(v) for k, v in options.items()},
            "cache": None if cache is None else str(cache),
            "types": types,
            "limit": limit,
            "sentences": len(sentences),
            **extractor.settings(),
        }
        run.write_config(config)
        answers_path = output.with_name(output.stem + ".answers.jsonl")
        answers_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        predictions = []
        abstained: dict[str, list[str]] = {}
        stats: Any = None
        with answers_path.open("w", encoding="utf-8") as sidecar, progress() as bar:
            task = bar.add_task(f"predicting {len(types)} types", total=len(sentences))
            for part in extractor.iter_extract(sentences, types):
                predictions.extend(part.predictions)
                abstained.update(part.abstained)
                stats = part.stats if stats is None else stats + part.stats
                for record in part.answers:
                    sidecar.write(json.dumps(record, ensure_ascii=False) + "\n")
                sidecar.flush()
                bar.advance(task, len(part.predictions))
        seconds = time.perf_counter() - started
        hits, misses = getattr(backend, "hits", None), getattr(backend, "misses", None)

    if abstain or abstained:  # the refusal-aware format: abstained_types on every record
        output.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(predictions, output, abstained=abstained)
    else:
        write_corpus(predictions, output, "jsonl")
    stats = dict(sorted((stats or {}).items()))
    metrics: dict[str, Any] = {
        "sentences": len(predictions),
        "prompts": stats.get("prompts", 0),
        "seconds": round(seconds, 3),
        "sentences_per_second": round(len(predictions) / seconds, 4) if seconds > 0 else None,
        "cache_hits": hits,
        "cache_misses": misses,
        "stats": stats,
    }
    err.print(
        f"wrote {output} ({len(predictions)} sentences, {stats.get('spans', 0)} spans) and "
        f"{answers_path.name} in {seconds:.1f}s"
        + (f"; cache: {hits} hit(s), {misses} miss(es)" if hits is not None else "")
    )
    err.print("counts: " + ", ".join(f"{k}={v}" for k, v in stats.items() if v))

    if gold_sentences is not None:
        from fewner.eval.metrics import score
        from fewner.eval.report import scores_json, scores_renderable

        paired_gold, left_out = _gold_for(gold_sentences, predictions, types)
        if left_out:
            err.print(
                f"[yellow]gold: {left_out} span(s) of types not asked for were left out[/yellow]"
            )
        scores = score(paired_gold, predictions)
        metrics["scores"] = scores_json(scores, gold=str(gold), gold_spans_left_out=left_out)
        out.print(
            scores_renderable(
                scores, title=f"{output.name} vs {gold.name} ({scores.sentences} sentences)"
            )
        )
    run.write_metrics(metrics)
    err.print(f"run folder: {run.path}")
