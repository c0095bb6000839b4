"""``fewner distill``: train a small token classifier on distilled (+ original) data.

    fewner distill --group D --out runs/distill-D          # the packaged `distill` preset
    fewner distill --config configs/distill.yaml --group B --set epochs=4
    fewner distill --list-recipes

A thin layer over :func:`fewner.distill.pipeline.run_distill`; the config is
:mod:`fewner.distill.config` (every key with its default: the preset
``fewner/resources/distill/distill.yaml``).
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from fewner.cli.common import err, out, progress
from fewner.cli.options import config_and_recipe, reading_options, threads_option
from fewner.distill.config import DEFAULT_RECIPE, MIXES
from fewner.distill.schedules import SCHEDULES


def _describe_recipe(name: str) -> str:
    from fewner.distill.config import distill_recipe_description, distill_recipe_groups

    groups = ", ".join(distill_recipe_groups(name)) or "none"
    return f"{distill_recipe_description(name).rstrip('.')} (groups: {groups})"


def _schedule_names() -> str:
    """Each registered schedule, with its parameters and their defaults."""
    names = []
    for name in SCHEDULES.names():
        defaults = SCHEDULES[name].defaults
        params = ", ".join(f"{k}={v:g}" for k, v in defaults.items())
        names.append(f"{name} ({params})" if params else name)
    return ", ".join(names)


HELP = f"""Train a student (default: the MiniLM-L6 encoder) under a blending schedule of distilled
and original data, then score it on the test file.

The config: the packaged `{DEFAULT_RECIPE}` preset (--list-recipes), or --config FILE (which
may start from a preset with `recipe: NAME`); then the --group's keys, then --set overrides.

The weight w0 of distilled data at epoch t of T comes from `schedule`: {_schedule_names()};
original data gets 1 - w0 (full_blend: 1). `mix`: {" or ".join(MIXES)}; sample (default)
draws round(w * N) examples of each set per epoch, loss trains on all of them with the loss
multiplied by w.

Example: fewner distill --group D --set epochs=4 --out runs/distill-D
"""


@click.command("distill", help=HELP)
@threads_option()
@reading_options()
@config_and_recipe(
    "distill", default=DEFAULT_RECIPE, example="configs/distill.yaml", describe=_describe_recipe
)
@click.option(
    "--group",
    default=None,
    help="A group from the config's `groups:`, whose keys replace the top-level ones; the "
    "distill preset's are the study's A-E: A original, B distilled, C distilled + BBC, "
    "D simple mix, E simple mix + BBC [config: group; default: none].",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config key by its dotted path, value read as YAML "
    "(e.g. --set epochs=3 --set schedule=sigmoid:16); repeatable, applied after --group.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run folder [default: runs/distill-<group>-<date>-<time>].",
)
@click.option(
    "--resume", is_flag=True, help="Continue an interrupted run in --out from its last epoch."
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Validate the config, print it and the per-epoch weights, and stop.",
)
@click.option(
    "--plot-schedules",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Plot the study's schedules (w0 over epochs) into this PNG and stop (needs matplotlib).",
)
@click.option(
    "--plot-epochs",
    type=click.IntRange(min=2),
    default=20,
    show_default=True,
    help="Epochs T on the x axis of --plot-schedules.",
)
def distill(
    config_path: Path | None,
    recipe: str | None,
    group: str | None,
    overrides: tuple[str, ...],
    out_dir: Path | None,
    resume: bool,
    dry_run: bool,
    plot_path: Path | None,
    plot_epochs: int,
) -> None:
    """``fewner distill`` (its help is :data:`HELP`)."""
    from fewner.distill.schedules import PAPER_VARIANTS, make_schedule, plot_schedules, weights_over

    if plot_path is not None:
        plot_path.parent.mkdir(parents=True, exist_ok=True)
        plot_schedules([make_schedule(v) for v in PAPER_VARIANTS], plot_epochs, str(plot_path))
        err.print(f"wrote {plot_path} ({len(PAPER_VARIANTS)} schedules, T = {plot_epochs})")
        return
    from fewner.distill.config import config_dict, load_distill_config

    config = load_distill_config(config_path, group, overrides, recipe=recipe)
    if dry_run:
        import json

        out.print_json(json.dumps(config_dict(config)))
        schedule = config.resolved_schedule()
        for t, (wd, wo) in enumerate(weights_over(schedule, config.epochs)):
            out.print(f"epoch {t}: w_distilled {wd:.4f}  w_original {wo:.4f}")
        return
    if out_dir is None:
        if resume:
            raise click.UsageError("--resume needs --out (the run folder to continue)")
        out_dir = Path("runs") / f"distill-{config.group or 'run'}-{time.strftime('%Y%m%d-%H%M%S')}"
    if resume and not out_dir.is_dir():
        raise click.UsageError(f"--resume: {out_dir} does not exist")
    from fewner.distill.pipeline import run_distill

    with progress() as bar:
        run_distill(config, out_dir, resume=resume, log=err.print, progress=bar)
    err.print(f"run folder: {out_dir} (student: {out_dir / 'student'})")
