"""``fewner fit``: a model from a few labeled examples with any recipe, saved as a model folder.

A thin caller of :func:`fewner.fit`; the folder it writes (``OUT/model``) is what
``fewner.load``, ``fewner predict --model`` and ``fewner serve`` read.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import click

from fewner.api import DEFAULT_RECIPE
from fewner.cli.options import reading_options, threads_option
from fewner.errors import ConfigError

EPILOG = """\b
Examples:
  fewner fit support.txt --recipe span -o runs/my-span            # the span model, adapted in seconds
  fewner fit support.txt --recipe span --label-name PER=person --label-name LOC=location -o runs/s
  fewner fit annotations.jsonl --recipe span --set steps=300 -o runs/from-llm   # learn LLM annotations
  fewner fit support.txt --recipe distill-from --set pool=unlabeled.txt -o runs/d   # teacher -> student
  fewner fit support.txt --recipe obp-llm --model smollm2-135m-instruct -o runs/obp
  fewner fit support.txt --recipe calibrate -o runs/zero      # the shipped source model, none-bias tuned
  fewner fit support.txt --recipe span -o runs/s --eval ../shared/data/wnut17/emerging.test.annotated
"""


@click.command(epilog=EPILOG)
@threads_option()
@reading_options()
@click.argument("examples", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--recipe", "-r", default=DEFAULT_RECIPE, show_default=True,
              help="A fewner.RECIPES name: span, calibrate, ner-sft, obp-llm, cllmfs, grait, icl, dictionary, ...")
@click.option("--labels", default=None, help="Entity types, comma-separated [default: those in EXAMPLES].")
@click.option("--model", "-m", default=None,
              help="Base model of the recipe [default: the recipe's own, e.g. fewner-span-minilm].")
@click.option("--label-name", "label_names", multiple=True, metavar="LABEL=TEXT",
              help="The text a label is read as by the span model (e.g. PER=person); repeatable.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="A recipe option (span: steps, batch_size, lr_head, freeze_layers, ...); repeatable.")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run folder: the model goes to OUT/model (training logs to OUT/run).")
@click.option("--eval", "eval_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A labeled file to score the fitted model on (predictions and scores in OUT/eval).")
def fit(examples: Path, recipe: str, labels: str | None, model: str | None, label_names: tuple[str, ...],
        overrides: tuple[str, ...], out: Path, eval_file: Path | None) -> None:
    """Fit a model on the labeled EXAMPLES (any data file fewner reads) and save it in OUT/model."""
    import yaml

    import fewner
    from fewner.config_schema import load_yaml
    from fewner.recipes import RECIPES

    options = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. steps=100")
        try:
            options[key.strip()] = load_yaml(raw) if raw.strip() else ""
        except yaml.YAMLError as err:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML: {err}") from None
    if model is not None:
        options["model"] = model
    if label_names:
        pairs = [item.partition("=") for item in label_names]
        bad = [a + b + c for a, b, c in pairs if not b or not a or not c]
        if bad:
            raise ConfigError(f"--label-name {bad[0]!r}: expected LABEL=TEXT, e.g. PER=person")
        options["label_names"] = {a: c for a, _, c in pairs}
    accepts_out = "out" in inspect.signature(RECIPES[recipe]).parameters
    if accepts_out:
        options["out"] = out
    wanted = [t.strip() for t in labels.split(",") if t.strip()] if labels else None
    predictor = fewner.fit(examples, wanted, recipe=recipe, **options)
    folder = out / "model"
    if not (accepts_out and (folder / "fewner.json").is_file()):
        predictor.save(folder)
    if (out / "calibration.txt").is_file():  # recipe calibrate: the grid it chose from
        click.echo((out / "calibration.txt").read_text(encoding="utf-8").rstrip(), err=True)
    click.echo(f"saved {predictor.kind} model for {predictor.labels} to {folder}; "
               f"load it with fewner.load({str(folder)!r}) or fewner predict --model {folder}", err=True)
    if eval_file is not None:
        from rich.console import Console

        from fewner.data.io import read_corpus
        from fewner.eval.report import scores_renderable
        from fewner.predictors.files import predict_file

        gold = read_corpus(eval_file).sentences
        _, scores = predict_file(predictor, gold, out / "eval" / "predictions.jsonl", gold=gold,
                                 score_meta={"gold": str(eval_file)}, log=lambda m: click.echo(m, err=True))
        Console().print(scores_renderable(scores, title=f"{predictor.kind} on {eval_file.name}"))
