"""``fewner source-train``: the broad source stage of the LLM extractor (many types, many datasets).

A thin caller of :func:`fewner.train.source.train_source`; the model folder it writes
(``OUT/model``) is what ``fewner.load``, ``fewner predict --model`` and ``init_adapter`` read.
"""

from __future__ import annotations

from pathlib import Path

import click

from fewner.cli.options import threads_option

EPILOG = """\b
Examples:
  fewner source-train -o runs/source                      # the shipped mixture and settings
  fewner source-train -o runs/source --resume             # after a crash: from the last checkpoint
  fewner source-train my-mixture.yaml -o runs/src --set packing=false --set definition_rate=0
  fewner source-train -o runs/smoke --limit 40            # a few sentences, to try the set-up
  fewner source-train -o runs/full --set full=true --set loop.lr=5e-5   # every weight, no LoRA
  fewner train --recipe ner-sft --set init_adapter=runs/source/adapter --out runs/wnut0
"""


@click.command(epilog=EPILOG)
@threads_option()
@click.argument("source", default="smollm2-source")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run folder: config.json, data.json, train/ (log, checkpoints), adapter/, model/ "
                   "(model/weights/ instead of adapter/ with full=true).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="A training key of the source file (packing, definition_rate, loop, ...); repeatable.")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the mixture's paths start [default: $FEWNER_SHARED_DATA, else ../shared/data].")
@click.option("--resume", is_flag=True, help="Continue the run in OUT from its last checkpoint.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Train on the first N dealt sentences only (a smoke test).")
def source_train(source: str, out: Path, overrides: tuple[str, ...], data_root: Path | None,
                 resume: bool, limit: int | None) -> None:
    """Train the source stage from SOURCE, a source file (a shipped name such as smollm2-source,
    or a .yaml path), and save OUT/model (zero-shot extraction for any label): a LoRA adapter,
    or with --set full=true every weight of the model (the folder then carries them, bfloat16)."""
    from fewner.data.spec import default_data_root
    from fewner.train.source import load_source_settings, train_source

    settings = load_source_settings(source, list(overrides))
    metrics = train_source(settings, out, data_root=data_root or default_data_root(), resume=resume,
                           log=lambda m: click.echo(m, err=True), limit=limit)
    click.echo(f"{metrics['steps']} steps in {metrics['seconds']:.0f} s "
               f"({metrics['tokens_per_second']:.0f} training tokens/s); model: {out / 'model'}", err=True)
