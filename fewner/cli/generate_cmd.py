"""``fewner generate``: complete prompts with any backend, from the command line.

Useful to check that a model loads and answers sensibly before running a whole job, and to try
stop strings, sampling and adapters. Each completion goes to stdout (one JSON object per line
with ``--jsonl``); loading messages go to stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from fewner.cli.common import err, out
from fewner.cli.options import model_and_backend, threads_option


@click.command("generate")
@threads_option()
@click.argument("prompts", nargs=-1)
@model_and_backend("Catalogue name, local folder, hub id (hf) or server model name.")
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=64, show_default=True)
@click.option(
    "--temperature",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="0 = greedy.",
)
@click.option(
    "--top-p", type=click.FloatRange(min=0, min_open=True, max=1), default=1.0, show_default=True
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Sampling seed (temperature > 0)."
)
@click.option("--stop", multiple=True, help="Stop string (repeatable); '\\n' means a newline.")
@click.option(
    "--chat/--no-chat",
    default=True,
    show_default=True,
    help="Wrap each prompt in the model's chat template.",
)
@click.option("--system", default=None, help="System message (with --chat).")
@click.option(
    "--adapter",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="LoRA adapter folder (hf).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Prompts per batch (hf).",
)
@click.option("--base-url", default=None, help="Server URL (openai backend).")
@click.option(
    "--cache",
    "cache_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="SQLite file: reuse earlier answers, store new ones.",
)
@click.option(
    "--jsonl", is_flag=True, help="Print one JSON object per prompt instead of plain text."
)
def generate(
    prompts: tuple[str, ...],
    model: str,
    kind: str,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    seed: int,
    stop: tuple[str, ...],
    chat: bool,
    system: str | None,
    adapter: Path | None,
    batch_size: int,
    base_url: str | None,
    cache_path: Path | None,
    jsonl: bool,
) -> None:
    """Complete each PROMPT (or each line of stdin when no PROMPT is given).

    Example: fewner generate --model smollm2-135m-instruct "Name three cities in France."
    """
    from fewner.backends.base import GenerationParams
    from fewner.backends.factory import make_backend
    from fewner.errors import ConfigError

    texts = list(prompts) or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise click.UsageError("give at least one PROMPT (or lines on stdin)")
    options: dict[str, object] = {}
    if adapter is not None:
        if kind != "hf":
            raise ConfigError("--adapter works with the hf backend only")
        options["adapter"] = adapter
    if kind == "hf":
        options["batch_size"] = batch_size
    if base_url is not None:
        options["base_url"] = base_url
    params = GenerationParams(
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        stop=tuple(s.replace("\\n", "\n") for s in stop),
        seed=seed,
    )
    with err.status(f"loading {model} ({kind})"):
        backend = make_backend(kind, model, cache=cache_path, **options)
    with backend:
        rendered = [backend.chat_prompt(t, system) if chat else t for t in texts]
        with err.status(f"generating {len(rendered)} completion(s)"):
            answers = backend.generate(rendered, params)
        for prompt, answer in zip(texts, answers, strict=True):
            if jsonl:
                click.echo(
                    json.dumps(
                        {"prompt": prompt, "completion": answer, "model": backend.model_id},
                        ensure_ascii=False,
                    )
                )
            else:
                out.print(answer, markup=False, highlight=False, soft_wrap=True)
        hits = getattr(backend, "hits", None)
        if hits is not None:
            err.print(f"cache: {hits} hit(s), {getattr(backend, 'misses', 0)} miss(es)")
