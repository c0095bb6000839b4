"""``fewner distill-from``: support set + unlabeled text -> teacher labels -> student -> scores.

A thin layer over :func:`fewner.distill.from_support.run_from_support`; the config is
:mod:`fewner.distill.from_support_config` (every key with its default: the preset
``fewner/resources/distill/from_support/from-support.yaml``). Why its own command and not a mode
of ``fewner distill``: that command trains from annotation files already made, with the
study's groups; this one starts from five examples and raw text and owns every stage.
"""

from __future__ import annotations

from pathlib import Path

import click

from fewner.cli.common import err, out
from fewner.cli.options import config_and_recipe, threads_option
from fewner.distill.from_support_config import PRESET, PRESETS

HELP = f"""Distil a few examples into a fast model: the teacher labels unlabeled in-domain text,
a student learns from the support set and those labels, and, with --test, the teacher, the
student from the support set alone and the distilled student are scored (F1, sentences/s).

SUPPORT: the labelled examples (any fewner data file, e.g. a 5-shot support set). POOL:
unlabeled in-domain text: a file with one sentence or one document per line (documents are
split into sentences), a folder of .txt files, or a labelled data file whose labels are
dropped. Never give the test text as the pool (a pool holding the test sentences is refused).

Before a span student learns the teacher's labels, the span model adapted to SUPPORT alone
checks them (--verify): it keeps the teacher spans it finds plausible and adds its own confident
ones; small prompting teachers invent many entities, and a student learning all of them can
end up worse than the student from SUPPORT alone.

Output, in --out RUN: RUN/model (fewner.load, fewner predict --model RUN/model),
RUN/metrics.json and the results table, RUN/teacher/labels.jsonl (the teacher's labels,
appended as they come), RUN/teacher/verified-labels.jsonl (the checked labels). Killed? Rerun
the same command: the labelled sentences are not asked again and training continues from its
last epoch.

The config: the packaged `{PRESET}` preset (--list-recipes), or --config FILE; then the
options below, then --set overrides (e.g. --set pool.limit=500 --set epochs=2).

Example: fewner distill-from ../shared/data/domain_transfer_support_sets/samples-wnut-5shot/0.txt
../shared/data/wnut17/wnut17train.conll --teacher span --test
../shared/data/wnut17/emerging.test.annotated --out runs/wnut-pipeline
"""


@click.command("distill-from", help=HELP)
@threads_option()
@click.argument("support", required=False, type=click.Path(exists=True, dir_okay=False))
@click.argument("pool", required=False, type=click.Path(exists=True))
@config_and_recipe(PRESETS, default=PRESET, example="my-pipeline.yaml")
@click.option(
    "--teacher",
    default=None,
    help="Who labels the pool: a recipe fitted on SUPPORT (icl-fast: the EL4NER ensemble of "
    "small LLMs with SUPPORT as one shared prompt prefix; icl: the same with per-sentence "
    "retrieval, several times slower; span: the shipped span model adapted in seconds; "
    "dictionary), openai:MODEL (with --base-url), or a saved model folder / shipped model "
    "[config: teacher.use; default: icl-fast].",
)
@click.option("--base-url", default=None, help="Server URL of an openai:MODEL teacher.")
@click.option(
    "--definitions",
    default=None,
    help="Type definitions for prompting teachers: shipped name (wnut17, ...) or YAML path.",
)
@click.option(
    "--student",
    type=click.Choice(["span", "token"]),
    default=None,
    help="span: fewner's span model, from the shipped pre-trained one; token: a token "
    "classifier on MiniLM-L6 [config: student.kind; default: span].",
)
@click.option(
    "--verify",
    type=click.Choice(["auto", "support-only", "none"]),
    default=None,
    help="Who checks the teacher's labels: support-only (the span student adapted to SUPPORT "
    "alone keeps a teacher span it scores above verify.keep_above, 0.05, and adds its own spans "
    "above verify.add_above, 0.5), none (learn every teacher label); auto: support-only for a "
    "span student [config: verify.by; default: auto].",
)
@click.option(
    "--test",
    "test_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Labelled test file: score the teacher (its first evaluate.teacher_limit sentences), "
    "the support-only student and the distilled student.",
)
@click.option("--types", "types_csv", default=None,
              help="Entity types, comma-separated [default: every label of SUPPORT].")
@click.option("--pool-limit", type=click.IntRange(min=1), default=None,
              help="At most N pool sentences [config: pool.limit; default: 2000].")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config key by its dotted path, value read as YAML (repeatable).",
)
@click.option(
    "--out",
    "-o",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder (rerun the same command with it to resume).",
)
def distill_from(
    support: str | None,
    pool: str | None,
    config_path: Path | None,
    recipe: str | None,
    teacher: str | None,
    base_url: str | None,
    definitions: str | None,
    student: str | None,
    verify: str | None,
    test_path: str | None,
    types_csv: str | None,
    pool_limit: int | None,
    overrides: tuple[str, ...],
    out_dir: Path,
) -> None:
    """``fewner distill-from`` (its help is :data:`HELP`)."""
    from fewner.distill.from_support import results_table, run_from_support
    from fewner.distill.from_support_config import load_from_support_config

    values: dict = {}
    if support is not None:
        values["support"] = {"path": str(Path(support).resolve())}
    if pool is not None or pool_limit is not None:
        values["pool"] = {}
        if pool is not None:
            values["pool"]["path"] = str(Path(pool).resolve())
        if pool_limit is not None:
            values["pool"]["limit"] = pool_limit
    teacher_values = {"use": teacher, "base_url": base_url, "definitions": definitions}
    teacher_values = {k: v for k, v in teacher_values.items() if v is not None}
    if teacher_values:
        values["teacher"] = teacher_values
    if student is not None:
        values["student"] = {"kind": student}
    if verify is not None:
        values["verify"] = {"by": verify}
    if test_path is not None:
        values["test"] = {"path": str(Path(test_path).resolve())}
    if types_csv:
        values["types"] = [t.strip() for t in types_csv.split(",") if t.strip()]
    config = load_from_support_config(config_path, overrides, recipe=recipe, values=values)
    metrics = run_from_support(config, out_dir, log=err.print)
    rows = results_table(metrics)
    if rows:
        from rich.table import Table

        table = Table(title=f"{out_dir} ({len(metrics['labels'])} types)")
        for name in ("", "F1", "P", "R", "test sentences", "sentences/s"):
            table.add_column(name, justify="left" if not name else "right")
        for row in rows:
            table.add_row(*row)
        out.print(table)
    err.print(f"model: {metrics['model']} (fewner predict --model {metrics['model']} ...); "
              f"metrics: {out_dir / 'metrics.json'}")
