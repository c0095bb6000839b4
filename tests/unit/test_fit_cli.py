"""``fewner fit``: a model folder from a labeled file with any recipe, scored with --eval."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fewner.cli import cli
from fewner.data.io import write_corpus
from fewner.types import Corpus
from tests.unit.distill_tiny import tiny_sentences


@pytest.fixture()
def support(tmp_path: Path) -> Path:
    path = tmp_path / "support.jsonl"
    write_corpus(Corpus("tiny", tiny_sentences()), path, "jsonl")
    return path


def test_fit_dictionary_saves_a_loadable_model_and_scores_it(support: Path, tmp_path: Path) -> None:
    import fewner

    out = tmp_path / "run"
    result = CliRunner().invoke(
        cli, ["fit", str(support), "--recipe", "dictionary", "--labels", "PER,LOC", "-o", str(out),
              "--eval", str(support)], catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    model = fewner.load(out / "model")
    assert model.kind == "dictionary" and model.labels == ["PER", "LOC"]
    assert "Peter Blackburn" in {e.text for e in model.predict(["Peter Blackburn met us in Brussels ."])[0]}
    assert (out / "eval" / "predictions.jsonl").is_file()
    assert "F1" in result.output or "f1" in result.output.lower()


def test_fit_span_adapts_a_span_model_folder(support: Path, tmp_path: Path) -> None:
    from fewner.spanmodel.config import SpanModelConfig
    from fewner.spanmodel.predictor import SpanPredictor
    from fewner.spanmodel.span_model import SpanModel
    from tests.tiny_models import tiny_encoder

    config = SpanModelConfig(encoder=str(tiny_encoder(tmp_path / "enc")), max_width=4, hidden=16)
    SpanPredictor(SpanModel.build(config)).save(tmp_path / "base")
    out = tmp_path / "adapted"
    result = CliRunner().invoke(
        cli, ["fit", str(support), "--recipe", "span", "--model", str(tmp_path / "base"),
              "--label-name", "PER=person", "--set", "steps=3", "--set", "batch_size=2", "-o", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    import json

    manifest = json.loads((out / "model" / "fewner.json").read_text())
    assert manifest["kind"] == "span" and manifest["settings"]["label_names"]["PER"] == "person"
    assert manifest["training"]["stage"] == "adapt" and manifest["training"]["settings"]["steps"] == 3
    assert (out / "run" / "metrics.jsonl").is_file()


def test_fit_rejects_a_malformed_option(support: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["fit", str(support), "--set", "steps", "-o", str(tmp_path / "x")])
    assert result.exit_code != 0 and "KEY=VALUE" in str(result.exception or result.output)


def test_python_and_cli_fit_default_to_the_same_recipe() -> None:
    """``fewner.fit(examples)`` and ``fewner fit FILE`` pick the same recipe when none is named
    (the span model: seconds on a CPU), and it is a registered recipe."""
    import inspect

    import fewner
    from fewner.cli.fit_cmd import fit as fit_command

    python_default = inspect.signature(fewner.fit).parameters["recipe"].default
    cli_default = next(p.default for p in fit_command.params if p.name == "recipe")
    assert python_default == cli_default == "span" and python_default in fewner.RECIPES
