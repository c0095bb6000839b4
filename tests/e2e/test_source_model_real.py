"""The shipped source-stage LLM extractor (``smollm2-135m-ner``) on the real SmolLM2: zero-shot
extraction for labels it is told, from Python and from ``fewner predict --model``; and the
``ner-sft`` recipe starting from it. Slow: real model, real generation on CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import fewner
from fewner.cli import cli
from fewner.spanmodel.shipped import shipped_path

pytestmark = pytest.mark.slow

NAME = "smollm2-135m-ner"


@pytest.fixture(scope="module")
def shipped() -> Path:
    path = shipped_path(NAME)
    if path is None:
        pytest.skip(f"{NAME} is not in this installation")
    return path


def test_the_shipped_extractor_finds_entities_of_any_label_zero_shot(shipped: Path) -> None:
    predictor = fewner.load(NAME)
    assert predictor.settings()["layout"] == "sentence_first"
    assert "non-commercial" in " ".join(predictor_notes(shipped))
    text = "Aspirin reduces the risk of heart attack in patients with diabetes ."
    entities = predictor.predict(text, labels=["drug", "disease"])
    assert all(text[e.start : e.end] == e.text for e in entities)
    assert ("Aspirin", "drug") in {(e.text, e.label) for e in entities}, entities


def test_fewner_predict_serves_the_shipped_name(shipped: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("Barack Obama visited Berlin .\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        cli, ["predict", "--model", NAME, "--types", "person,city", str(source), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 1 and records[0]["text"] == "Barack Obama visited Berlin ."


def predictor_notes(folder: Path) -> list[str]:
    return json.loads((folder / "fewner.json").read_text(encoding="utf-8"))["notes"]
