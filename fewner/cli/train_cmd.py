"""``fewner train``: run a staged LoRA training recipe: a packaged recipe or a YAML config.

    fewner train --recipe obp-llm --out runs/obp-wnut0
    fewner train --list-recipes
    fewner train --config configs/obp-llm.yaml --out runs/obp-wnut0
    fewner train --config configs/obp-llm.yaml --set stages.source.enabled=false --set seed=1
    fewner train --config configs/obp-llm.yaml --out runs/obp-wnut0 --resume   # after a crash
    fewner train --config configs/obp-llm.yaml --out runs/obp-wnut0 --stage dpo  # one stage alone
    accelerate launch --multi_gpu --num_processes 4 -m fewner.cli train --config ... --out runs/x

Every setting and its default: ``configs/README.md``. ``--recipe NAME`` is the config key
``recipe: NAME`` (a config file's keys are merged over the recipe). The run folder gets the
resolved config, per-stage logs (JSONL), checkpoints and adapters, and the metrics (see
:mod:`fewner.train.stages`). Progress goes to stderr; the final metrics summary to stdout.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click

from fewner.cli.common import err, out
from fewner.cli.options import config_and_recipe, reading_options, threads_option


@click.command("train")
@threads_option()
@reading_options()
@config_and_recipe("recipes", default=None, example="configs/obp-llm.yaml")
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
    help="Run folder (default: runs/<config or recipe name>-<date-time>).",
)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--stage", default=None, help="Run only this stage (after earlier stages in --out).")
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr."
)
def train(
    config_path: Path | None,
    recipe: str | None,
    overrides: tuple[str, ...],
    out_dir: Path | None,
    resume: bool,
    stage: str | None,
    progress: bool,
) -> None:
    """Train a LoRA adapter with a staged recipe (source SFT, target SFT, DPO, ...): a packaged
    --recipe, or the config in --config.

    Several GPUs: start it with `accelerate launch --multi_gpu --num_processes N -m fewner.cli
    train ...` (or torchrun); a step stays the same global step (configs/README.md).
    """
    from fewner.errors import ConfigError

    if config_path is None and recipe is None:
        raise ConfigError("give --config FILE or --recipe NAME (fewner train --list-recipes)")

    from fewner.train.config import load_config
    from fewner.train.distributed import launched_world_size
    from fewner.train.stages import run_training

    config = load_config(config_path, overrides, recipe=recipe)
    world = launched_world_size()
    if out_dir is None:
        if resume:
            raise ConfigError("--resume needs --out: the run folder to continue")
        if world > 1:  # each process would name its own folder after its own clock
            raise ConfigError(f"{world} processes: give the run folder with --out")
        name = config_path.stem if config_path is not None else recipe
        out_dir = Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
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
    if metrics.get("adapter"):  # a folder that loads with one call: fewner.load / predict --model
        from fewner.recipes import save_trained_model

        name = recipe or (config_path.stem if config_path is not None else None)
        summary["model"] = str(save_trained_model(config, Path(out_dir), metrics, recipe=name))
    if "test" in metrics:
        summary["test"] = {
            k: metrics["test"][k] for k in ("f1", "precision", "recall", "sentences")
        }
    out.print_json(json.dumps(summary))
