"""``fewner train``: run a staged LoRA training recipe from a YAML config.

    fewner train --config configs/obp-llm.yaml --out runs/obp-wnut0
    fewner train --config configs/obp-llm.yaml --set stages.source.enabled=false --set seed=1
    fewner train --config configs/obp-llm.yaml --out runs/obp-wnut0 --resume   # after a crash
    fewner train --config configs/obp-llm.yaml --out runs/obp-wnut0 --stage dpo  # one stage alone
    accelerate launch --multi_gpu --num_processes 4 -m fewner.cli train --config ... --out runs/x

Every setting and its default: ``configs/README.md``. The run folder gets the resolved config,
per-stage logs (JSONL), checkpoints and adapters, and the metrics (see
:mod:`fewner.train.stages`). Progress goes to stderr; the final metrics summary to stdout.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click

from fewner.cli.common import err, out


@click.command("train")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Run config (YAML), e.g. configs/obp-llm.yaml.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config key (dotted path, YAML value); repeatable. E.g. stages.target.epochs=3.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run folder (default: runs/<config name>-<date-time>).",
)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--stage", default=None, help="Run only this stage (after earlier stages in --out).")
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr."
)
def train(
    config_path: Path,
    overrides: tuple[str, ...],
    out_dir: Path | None,
    resume: bool,
    stage: str | None,
    progress: bool,
) -> None:
    """Train a LoRA adapter with the staged recipe in --config (source SFT, target SFT, DPO).

    Several GPUs: start it with `accelerate launch --multi_gpu --num_processes N -m fewner.cli
    train ...` (or torchrun); a step stays the same global step (configs/README.md).
    """
    from fewner.errors import ConfigError
    from fewner.train.config import load_config
    from fewner.train.distributed import launched_world_size
    from fewner.train.stages import run_training

    config = load_config(config_path, overrides)
    world = launched_world_size()
    if out_dir is None:
        if resume:
            raise ConfigError("--resume needs --out: the run folder to continue")
        if world > 1:  # each process would name its own folder after its own clock
            raise ConfigError(f"{world} processes: give the run folder with --out")
        out_dir = Path("runs") / f"{config_path.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    main = int(os.environ.get("RANK", "0") or 0) == 0
    if main:
        err.print(f"run folder: {out_dir}" + (f" ({world} processes)" if world > 1 else ""))
    metrics = run_training(
        config,
        out_dir,
        resume=resume,
        only_stage=stage,
        progress=progress,
        log=lambda message: err.print(message, markup=False, highlight=False, soft_wrap=True),
    )
    if not main:
        return
    summary = {"run": str(out_dir), "adapter": metrics.get("adapter")}
    if "test" in metrics:
        summary["test"] = {
            k: metrics["test"][k] for k in ("f1", "precision", "recall", "sentences")
        }
    out.print_json(json.dumps(summary))
