"""``fewner bulk``: a large corpus predicted shard by shard on a cluster; a thin layer over
:func:`fewner.bulk.job.run_job` (the job folder, resuming and the engines are described there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from fewner.cli.common import err
from fewner.cli.options import threads_option


def _pairs(pairs: tuple[str, ...], option: str) -> dict[str, Any]:
    """``KEY=VALUE`` strings to a dict; values are read as YAML scalars (``true``, ``8``...)."""
    from fewner.config_schema import load_yaml

    found: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint=option)
        found[key.strip()] = load_yaml(value)
    return found


def _has_own_labels(model: str) -> bool:
    """Whether ``model`` is a saved folder (a manifest or a student: it knows its labels), so
    the workers need no --types; checked here, before a cluster starts."""
    from fewner.predictors import MANIFEST_FILE
    from fewner.spanmodel.shipped import shipped_path

    folder = shipped_path(model) or Path(model).expanduser()
    return any(
        (folder / name).is_file()
        for name in (MANIFEST_FILE, "student.json", "student/student.json")
    )


def _backend_choices() -> list[str]:
    from fewner.backends.factory import backend_names

    return backend_names()


def _engine_choices() -> list[str]:
    from fewner.bulk.engines import ENGINES

    return ENGINES.names()


@click.command("bulk")
@threads_option()
@click.argument("input_path", metavar="INPUT",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Predictions: JSONL, one line per document in input order (id, text, entities).")
@click.option("--model", "-m", required=True,
              help="A saved fewner model folder (every worker must be able to read it), or a "
              "language model name used with --backend/--base-url.")
@click.option("--types", "types_csv", default=None,
              help="Entity types, comma-separated [default: the model's own].")
@click.option("--format", "input_format", type=click.Choice(["auto", "jsonl", "text"]),
              default="auto", show_default=True,
              help="INPUT: JSONL with text (+ id, meta), or plain text, one document per line.")
@click.option("--shard-size", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Documents per shard: the unit of work, of the job folder's files and of resuming.")
@click.option("--engine", type=click.Choice(_engine_choices()), default="dask", show_default=True,
              help="dask: a Dask cluster (local worker processes, or --address); local: this "
              "process only.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes of the local Dask cluster [default: one per CPU].")
@click.option("--address", default=None, metavar="URL",
              help="Join a running Dask scheduler (tcp://HOST:8786) instead of starting workers.")
@click.option("--in-flight", type=click.IntRange(min=1), default=None,
              help="Shards submitted at once [default: twice the workers].")
@click.option("--job", "job_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Job folder (shards, manifest, config, metrics) [default: OUT.job]; rerunning "
              "with the same folder resumes the job.")
@click.option("--no-text", is_flag=True, help="Leave the document text out of the output.")
@click.option("--backend", "-b", default=None, type=click.Choice(_backend_choices()),
              help="Language-model backend for --model (e.g. openai for a vLLM server).")
@click.option("--base-url", default=None,
              help="OpenAI-compatible server for --backend openai, e.g. http://HOST:8000/v1.")
@click.option("--definitions", default=None,
              help="Type definitions for a language model: shipped name or YAML path.")
@click.option("--option", "-O", "backend_pairs", multiple=True, metavar="KEY=VALUE",
              help="Backend option, e.g. -O flavor=vllm -O concurrency=16 (repeatable).")
@click.option("--load", "load_pairs", multiple=True, metavar="KEY=VALUE",
              help="Other fewner.load option, e.g. --load chat=true --load batch_size=32 (repeatable).")
@click.option("--log-every", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Seconds between status lines (done/total shards, documents/s, ETA).")
def bulk(input_path: Path, output: Path, model: str, types_csv: str | None, input_format: str,
         shard_size: int, engine: str, workers: int | None, address: str | None,
         in_flight: int | None, job_dir: Path | None, no_text: bool, backend: str | None,
         base_url: str | None, definitions: str | None, backend_pairs: tuple[str, ...],
         load_pairs: tuple[str, ...], log_every: float) -> None:
    """Predict every document of INPUT on a cluster, shard by shard, into one JSONL in input order.

    Each worker loads the model once; finished shards are kept in the job folder
    (OUT.job/shards, OUT.job/manifest.jsonl), so after a crash or Ctrl-C the same command
    resumes where it stopped and writes the same output.

    \b
      fewner bulk corpus.jsonl -o ents.jsonl -m my-ner/ --workers 8
      fewner bulk corpus.txt -o ents.jsonl -m my-ner/ --address tcp://head:8786
      fewner bulk corpus.jsonl -o ents.jsonl -m Qwen/Qwen2.5-7B-Instruct -b openai \\
          --base-url http://gpu-host:8000/v1 -O flavor=vllm -O concurrency=16 \\
          --types person,organization,location --workers 4
    """
    from fewner.bulk.job import run_job
    from fewner.bulk.jobdir import default_job_dir

    labels = None
    if types_csv is not None:
        labels = [t.strip() for t in types_csv.split(",") if t.strip()]
        if not labels:
            raise click.UsageError("--types: no entity types given")
    elif definitions is None and not _has_own_labels(model):
        raise click.UsageError(
            f"no entity types: {model} is a language model without labels of its own; "
            "pass --types (or --definitions)"
        )
    options = _pairs(load_pairs, "--load")
    backend_options = _pairs(backend_pairs, "--option")
    if base_url is not None:
        backend_options["base_url"] = base_url
    if backend is not None:
        options["backend"] = backend
    if definitions is not None:
        options["definitions"] = definitions
    if backend_options:
        options["backend_options"] = {**options.get("backend_options", {}), **backend_options}
    engine_options: dict[str, Any] = {}
    if engine == "dask":
        if workers is not None and address is not None:
            raise click.UsageError("give --workers (start a local cluster) or --address, not both")
        engine_options = {"workers": workers, "address": address, "in_flight": in_flight}
    elif workers not in (None, 1) or address is not None or in_flight is not None:
        raise click.UsageError("--workers, --address and --in-flight need --engine dask")
    metrics = run_job(
        input_path, output, model, labels=labels, options=options, shard_size=shard_size,
        engine=engine, engine_options=engine_options, job_dir=job_dir, input_format=input_format,
        include_text=not no_text, progress=True, log=err.print, log_every=log_every,
    )
    rate = metrics["documents_per_second"]
    err.print(
        f"{metrics['documents_predicted']} documents predicted on {metrics['workers'] or 0} "
        f"worker(s)" + (f", {rate} documents/s" if rate else "")
        + f"; job folder: {job_dir or default_job_dir(output)}"
    )
