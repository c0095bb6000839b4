"""The packaged GRAIT recipe (``fewner train --recipe grait``) on the real SmolLM2 and real CoNLL-2003
sentences, shrunk to a few prompts: every artifact of the stage is written, the selection and its
weights are consistent, and ``fewner evaluate`` on the run's test predictions gives the same
per-prompt rates as the run's own metrics (two code paths, one answer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fewner.cli import cli

pytestmark = pytest.mark.slow
pytest.importorskip("peft")

def test_grait_recipe_on_smollm2(shared_data: Path, tmp_path: Path) -> None:
    from fewner.data.formats.jsonl import write_jsonl
    from fewner.data.io import read_corpus
    from fewner.errors import ModelNotAvailableError
    from fewner.models import hf_path

    try:
        hf_path("smollm2-135m-instruct")
    except ModelNotAvailableError as err:
        pytest.skip(str(err))
    out = tmp_path / "run"
    sets = {
        "data_root": str(shared_data),
        "stages.base.data.limit": 4,
        "stages.refusal.data.skip": 4,
        "stages.refusal.data.limit": 3,
        "stages.refusal.refusal.samples": 1,
        "stages.refusal.refusal.warmup_steps": 2,
        "stages.refusal.refusal.projection_dim": 256,
        "test.data.limit": 2,
    }
    args = ["train", "--recipe", "grait", "--out", str(out)]
    args += ["--no-progress"] + [x for k, v in sets.items() for x in ("--set", f"{k}={v}")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output

    stage = out / "refusal"
    summary = json.loads((stage / "grait.json").read_text())
    assert summary["prompts"] == 3 * 4 and summary["known"] + summary["unknown"] == 12
    assert summary["selected"] <= summary["unknown"]
    assert summary["examples"] == summary["known"] + summary["selected"]
    knowledge = [json.loads(x) for x in (stage / "knowledge.jsonl").read_text().splitlines()]
    assert len(knowledge) == 12
    rows = [json.loads(x) for x in (stage / "selection.jsonl").read_text().splitlines()]
    assert len(rows) == summary["selected"]
    if len(rows) > 1:
        assert sum(r["weight"] for r in rows) / len(rows) == pytest.approx(1.0, abs=1e-4)

    metrics = json.loads((out / "metrics.json").read_text())
    prompts = metrics["test"]["prompts"]
    assert prompts["prompts"] == 2 * 4
    rates = prompts["correct_rate"] + prompts["wrong_rate"] + prompts["refused_rate"]
    assert rates == pytest.approx(1.0)

    predictions = out / "test" / "predictions.jsonl"
    assert all("abstained_types" in json.loads(x) for x in predictions.read_text().splitlines())
    gold = tmp_path / "gold.jsonl"
    write_jsonl(read_corpus(shared_data / "conll2003" / "test.txt").sentences[:2], gold)
    scored = CliRunner().invoke(
        cli, ["evaluate", str(gold), str(predictions), "--json", "--types", "PER,LOC,ORG,MISC"]
    )
    assert scored.exit_code == 0, scored.output
    doc = json.loads(scored.stdout)
    for key in ("correct", "wrong", "refused"):
        assert doc["prompts"][key] == prompts[key], key
    assert doc["micro"]["f1"] == pytest.approx(metrics["test"]["f1"])
