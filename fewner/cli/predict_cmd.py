"""``fewner predict``: label a data file with any fewner model; a thin layer over the library.

INPUT is a sentence file (any format ``fewner data`` reads; each sentence predicted whole), or
with ``--documents`` texts of any length: one document per line, one per ``.txt`` file of a
folder, or JSONL with ``text`` (and ``id``); read by :func:`fewner.text.read_documents` and
predicted by :func:`fewner.predictors.files.predict_documents_file` (split into sentences, long
ones cut to the model's window, entities at document offsets, one record per document).

``--model`` is a saved fewner folder (``fewner.json``: everything that must match training is
read from it), a distillation student folder, or a language model used as is (catalogue name,
local folder, hub id, GGUF file) with the prompt options below. The work is
:func:`fewner.api.load` + :func:`fewner.predictors.files.predict_file`; outputs are described
there (``OUT.jsonl``, ``OUT.answers.jsonl``, ``OUT.run/``). With a language model, every answer is
committed to ``OUT.run/cache.sqlite`` as it is generated, so re-running the same command after a
crash resumes where it stopped (``--cache PATH`` / ``--no-cache``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from fewner.cli.common import err, out, report_read
from fewner.cli.options import answer_cache, reading_options, run_outputs, threads_option
from fewner.models.catalogue import DEFAULT_CAUSAL_MODEL

_TAG = re.compile(r"^[BIES]-(.+)$")


def read_type_file(path: Path) -> list[str]:
    """Types from a file, one per line: bare names or BIO/BIOES tags (``O`` is skipped).

    Covers both a hand-written list and a ``labels-*.txt`` file of the support sets. ``#``
    starts a comment line. Order of first appearance.
    """
    from fewner.data.io import read_text_lines

    types: dict[str, None] = {}
    for raw in read_text_lines(path):
        line = raw.strip()
        if not line or line.startswith("#") or line == "O":
            continue
        match = _TAG.match(line)
        types.setdefault(match.group(1) if match else line, None)
    return list(types)


def backend_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` strings to constructor options; values are read as YAML scalars."""
    from fewner.config_schema import load_yaml

    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--option")
        options[key.strip()] = load_yaml(value)
    return options


def _format_names() -> list[str]:
    from fewner.data.formats import format_names

    return format_names()


def _template_names() -> list[str]:
    from fewner.prompts.templates import template_families

    return template_families()


def _backend_choices() -> list[str]:
    from fewner.backends.factory import backend_names

    return backend_names()


def _layouts() -> list[str]:
    from fewner.text.documents import DOCUMENT_LAYOUTS

    return list(DOCUMENT_LAYOUTS)


@click.command("predict")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, path_type=Path))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Predictions (fewner JSONL).")
@click.option("--model", "-m", default=None,
              help="A saved fewner model folder, a student folder, or a language model: catalogue "
              f"name, local folder, hub id, GGUF file [default: {DEFAULT_CAUSAL_MODEL}].")
@click.option("--student", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="Same as --model STUDENT_FOLDER (kept for older scripts).")
@click.option("--types", "types_csv", default=None,
              help="Entity types, comma-separated (default: the model's own, else every type of "
              "--definitions).")
@click.option("--types-from", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="File of types, one per line (names or BIO tags, e.g. labels-wnut.txt).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Only the first N sentences (documents with --documents).")
@click.option("--format", "input_format", default="auto", show_default=True,
              help=f"Format of a sentence file INPUT (auto, {', '.join(_format_names())}).")
@click.option("--documents", "documents_layout", type=click.Choice(_layouts()), default=None,
              help="INPUT holds documents of any length, not sentences: 'lines' (plain text, one "
              "document per line, ids FILE:LINE), 'files' (a folder of .txt files read "
              "recursively, one document each, ids their relative paths), 'jsonl' (a \"text\" "
              "field, optional \"id\" and \"meta\"), 'auto' (folder: files, *.jsonl: jsonl, "
              "else lines). Each document is split into sentences, sentences longer than the "
              "model's window are cut into overlapping chunks, and OUT has one record per "
              "document with its id and entities at document character offsets.")
@click.option("--window-words", type=click.IntRange(min=1), default=None,
              help="With --documents: cut sentences longer than N words into chunks [default: "
              "the model's own: 96 words for language models, the encoder's max_length subwords "
              "for a student, no limit for a dictionary].")
@click.option("--window-overlap", type=click.IntRange(min=0), default=None,
              help="With --documents: words shared by consecutive chunks [default: 16].")
@click.option("--gold", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Score against this file (may be INPUT itself) and print P/R/F1.")
@run_outputs()
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Prompts per backend call (LM) or sentences per batch (student).")
@threads_option()
@reading_options()
@click.option("--quantize", is_flag=True, help="int8 dynamic quantization (student or span model, CPU).")
@click.option("--precision", type=click.Choice(["float32", "bfloat16", "int8"]), default=None,
              help="Inference precision of a span model or of an LLM on the hf backend "
              "[default: float32 on a CPU, as saved]; bfloat16 is faster on CPUs with bf16 "
              "instructions and on GPUs (span model: same F1; an LLM's answers can change a little); "
              "int8: span model only.")
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=None,
              help="Token budget per answer (LM) [default: 64].")
@click.option("--constrain/--no-constrain", "constrained", default=None,
              help="Constrain mentions to substrings of the input [default: on].")
@click.option("--edge-punctuation/--no-edge-punctuation", default=None,
              help="Allow mentions that start or end with a punctuation-only word [default: off].")
@click.option("--max-words", type=click.IntRange(min=1), default=None,
              help="Longest allowed mention, in words (constrained) [default: 8].")
@click.option("--max-mentions", type=click.IntRange(min=1), default=None,
              help="At most this many mentions per answer (constrained).")
@click.option("--abstain/--no-abstain", default=None,
              help="Let constrained decoding write the template's refusal answer (refusal-aware "
              "adapters); abstentions go to abstained_types in the output.")
@click.option("--none-bias", type=float, default=None,
              help="Added to the 'none' answer's first-token logit (hf, llamacpp): negative finds "
              "more entities, positive fewer [default: the saved model's, else 0]; `fewner fit "
              "--recipe calibrate` chooses it on labeled examples.")
@click.option("--retype/--no-retype", default=None,
              help="Give every span found the label whose prompt scores it highest (hf, llamacpp; "
              "one scoring pass per span and label) [default: the saved model's, else off].")
@click.option("--span-extension", type=click.Choice(["none", "noun_chunk", "noun_phrase"]), default=None,
              help="noun_chunk: widen every answer to the noun chunk that holds it (spaCy's "
              "parse; for data annotated as whole noun phrases, like GUM; needs fewner[spacy]); "
              "noun_phrase: that chunk and the 'of' phrases after its head "
              "[default: the saved model's, else none].")
@click.option("--device", default=None,
              help="hf or span model: cpu, cuda, cuda:N, auto [default: hf auto, span cpu].")
@click.option("--base-url", default=None, help="Server URL (openai backend).")
@click.option("--option", "-O", "raw_options", multiple=True, metavar="KEY=VALUE",
              help="Extra backend option, e.g. -O prefix_sharing=true, -O n_threads=2 (repeatable).")
@click.option("--backend", "-b", "kind", default=None,
              type=click.Choice(_backend_choices()),
              help="Language-model backend (not for saved folders) [default: hf].")
@click.option("--adapter", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="A LoRA adapter folder for the language model (hf).")
@click.option("--template", default=None,
              help=f"Prompt template: shipped name ({', '.join(_template_names())}) or YAML path "
              "[default: obp-llm].")
@click.option("--layout", type=click.Choice(["type_first", "sentence_first"]), default=None,
              help="Override the template's section order.")
@click.option("--definitions", default=None,
              help="Type definitions: shipped name (wnut17, conll2003, gum, fewnerd) or YAML path; "
              "without them every type gets a generic definition.")
@click.option("--chat/--no-chat", default=None,
              help="Wrap prompts in the model's chat template [default: off].")
def predict(input_path: Path, output: Path, model: str | None, student: Path | None,
            types_csv: str | None, types_from: Path | None, limit: int | None,
            input_format: str, documents_layout: str | None, window_words: int | None,
            window_overlap: int | None, gold: Path | None, cache_path: Path | None, no_cache: bool,
            run_dir: Path | None, batch_size: int | None, quantize: bool, precision: str | None,
            raw_options: tuple[str, ...], device: str | None, base_url: str | None,
            **prompt_and_decoding: Any) -> None:
    """Predict the entities of INPUT and write fewner JSONL: a sentence file (any format
    `fewner data` reads), or with --documents texts of any length.

    \b
    A saved model folder needs nothing else:
      fewner predict --model runs/obp-wnut0/model test.txt -o preds.jsonl --gold test.txt
    A language model as is, with the prompt settings it was trained with:
      fewner predict -m smollm2-135m-instruct --adapter runs/x/adapter --definitions wnut17 \\
          --types-from labels-wnut.txt emerging.test.annotated -o preds.jsonl
    Documents of any length (entities at document offsets; OUT.run/metrics.json counts the
    sentences cut to the model's window):
      fewner predict -m my-ner/ --documents lines articles.txt -o preds.jsonl
      fewner predict -m my-ner/ --documents files articles/ -o preds.jsonl
      fewner predict -m my-ner/ --documents jsonl docs.jsonl -o preds.jsonl
    """
    from fewner.api import load, saved_kind
    from fewner.data.io import read_corpus
    from fewner.predictors import PREDICTORS
    from fewner.predictors.files import predict_documents_file, predict_file, run_folder

    if documents_layout is None:
        if input_path.is_dir():
            raise click.UsageError(
                f"{input_path} is a folder: pass --documents files to read one document per .txt file"
            )
        if window_words is not None or window_overlap is not None:
            raise click.UsageError("--window-words and --window-overlap apply with --documents only")
    elif input_format != "auto":
        raise click.UsageError("--format is for sentence files; --documents says how INPUT is read")
    if student is not None:
        if model is not None:
            raise click.UsageError("give --model or --student, not both")
        model = str(student)
    if types_csv is not None and types_from is not None:
        raise click.UsageError("give --types or --types-from, not both")
    labels = None
    if types_csv is not None:
        labels = [t.strip() for t in types_csv.split(",") if t.strip()]
    elif types_from is not None:
        labels = read_type_file(types_from)
    if labels is not None and not labels:
        raise click.UsageError("no entity types given")
    options = {k: v for k, v in prompt_and_decoding.items() if v is not None}
    if "kind" in options:
        options["backend"] = options.pop("kind")
    extra = backend_options(raw_options)
    kind = saved_kind(model) if model is not None else None
    if kind == "span":  # the span model itself runs on the device, not a backend
        for name, value in (("device", device), ("precision", precision)):
            if value is not None:
                options[name] = value
    else:
        if precision == "int8":
            raise click.UsageError("--precision int8 works with a span model only")
        if precision is not None:  # the hf backend's weights (its dtype option)
            if options.get("backend", "hf") != "hf":
                raise click.UsageError("--precision works with a span model or the hf backend only")
            extra["dtype"] = precision
        if device is not None:
            extra["device"] = device
    if base_url is not None:
        extra["base_url"] = base_url
    local = kind is not None and kind in PREDICTORS and not PREDICTORS[kind].language_model
    if local:
        lm_options = [k for k in [*options, *extra] if k not in ("device", "precision")]
        if lm_options:
            raise click.UsageError(
                f"{model} is a {kind} model: LM options ({', '.join(lm_options)}) do not apply"
            )
        if quantize:
            options["quantize"] = True
    else:
        if quantize:
            raise click.UsageError("--quantize works with a student or span model only")
        if extra:
            options["backend_options"] = extra
        options["cache"] = answer_cache(cache_path, no_cache, run_folder(output, run_dir))
        if batch_size is not None:
            options["batch_size"] = batch_size
    predictor = load(model or DEFAULT_CAUSAL_MODEL, **options)
    if local and batch_size is not None:
        predictor.batch_sentences = batch_size
    if window_words is not None:
        predictor.window_words = window_words
    if window_overlap is not None:
        predictor.window_overlap = window_overlap
    if labels is None and not predictor.labels:
        raise click.UsageError("no entity types: pass --types, --types-from or --definitions")
    wanted = predictor.resolve_labels(labels)  # fails before any model or data loads
    if labels is None:
        err.print(f"types (the model's): {', '.join(wanted)}")

    if documents_layout is not None:
        from fewner.text.documents import read_documents

        documents = read_documents(input_path, documents_layout, limit=limit)
        _report_documents(documents)
    else:
        corpus = read_corpus(input_path, format=input_format)
        report_read(corpus)
        sentences = corpus.sentences[:limit] if limit is not None else corpus.sentences
    gold_sentences = None
    if gold is not None:
        gold_corpus = read_corpus(gold)
        report_read(gold_corpus)
        gold_sentences = gold_corpus.sentences
    run_config = {
        "command": "predict",
        "input": str(input_path),
        "input_format": input_format if documents_layout is None else None,
        "documents_layout": documents_layout,
        "gold": None if gold is None else str(gold),
        "model": model or DEFAULT_CAUSAL_MODEL,
        "limit": limit,
    }
    check_fits = getattr(predictor, "check_fits", None)
    if documents_layout is None and check_fits is not None:
        check_fits(sentences, wanted)  # a line past the context window fails now, named
    with predictor:
        run = predict_file if documents_layout is None else predict_documents_file
        metrics, scores = run(
            predictor, sentences if documents_layout is None else documents.documents, output,  # type: ignore[arg-type]
            labels=wanted, gold=gold_sentences, run_dir=run_dir, config=run_config,
            score_meta=None if gold is None else {"gold": str(gold)}, log=err.print,
        )
    err.print("counts: " + ", ".join(f"{k}={v}" for k, v in metrics["stats"].items() if v))
    from rich.markup import escape

    for warning in metrics.get("warnings") or ():
        err.print(f"[yellow]warning: {escape(warning)}[/yellow]", soft_wrap=True)
    if scores is not None:
        from fewner.eval.report import scores_renderable

        assert gold is not None
        title = f"{output.name} vs {gold.name} ({scores.sentences} {'sentences' if documents_layout is None else 'documents'})"
        out.print(scores_renderable(scores, title=title))
    err.print(f"run folder: {run_folder(output, run_dir)}")


def _report_documents(documents: Any) -> None:
    """Documents read, and what reading skipped or repaired (nothing is dropped silently)."""
    report_read(documents)  # a DocumentSet has a Corpus's name, skipped and repaired
    err.print(f"{documents.name}: {len(documents.documents)} documents")
