"""``fewner extract-lora``: a small adapter folder from a fully trained model folder.

A thin caller of :func:`fewner.train.lora_extract.extract_model_folder`.
"""

from __future__ import annotations

from pathlib import Path

import click

from fewner.cli.options import threads_option

EPILOG = """\b
Examples:
  fewner source-train -o runs/full --set full=true --set loop.lr=5e-5
  fewner extract-lora runs/full/model -o runs/full-r32 --rank 32
  fewner predict --model runs/full-r32 --labels person,location data.conll
"""


@click.command(epilog=EPILOG)
@threads_option()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The new model folder: fewner.json + adapter/ (bfloat16) on the base model.")
@click.option("--rank", type=click.IntRange(min=1), default=32, show_default=True,
              help="LoRA rank: each weight change is truncated to its largest RANK directions.")
def extract_lora(folder: Path, out: Path, rank: int) -> None:
    """Turn FOLDER, a fully trained model folder (source-train --set full=true; 270 MB for
    SmolLM2-135M), into a LoRA adapter on its base model: every attention and MLP weight change
    truncated to rank RANK (its SVD). Norm and embedding changes are left out; the report says
    how large they were and how much of each change the rank keeps."""
    from fewner.train.lora_extract import extract_model_folder

    report = extract_model_folder(folder, out, rank=rank, log=lambda m: click.echo(m, err=True))
    click.echo(
        f"rank {rank}: {report['adapter_parameters']:,} adapter parameters on {report['modules']} layers; "
        f"energy kept mean {report['energy_kept_mean']:.3f}, min {report['energy_kept_min']:.3f}; "
        f"largest left-out change {report['left_out_relative_change_max']:.4f} (relative); model: {out}",
        err=True,
    )
