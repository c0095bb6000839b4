"""``fewner evaluate`` on refusal-aware predictions: ``abstained_types`` read from fewner JSONL and
scored per prompt, THS against a baseline; the JSONL writer/reader of abstentions round-trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fewner.cli import cli
from fewner.data.formats.jsonl import read_abstentions, write_jsonl
from fewner.errors import DataFormatError
from fewner.eval.refusal import prompt_outcomes, truthful_helpfulness
from fewner.types import Sentence

WORDS = "Ann Lee met Bob in New York City today".split()


def _sentences(spans_by_id: dict[str, list[tuple[int, int, str]]]) -> list[Sentence]:
    return [Sentence.from_words(WORDS, spans, id=sid) for sid, spans in spans_by_id.items()]


@pytest.fixture
def files(tmp_path: Path):
    gold = _sentences({"a": [(0, 2, "PER"), (5, 8, "LOC")], "b": [(3, 4, "PER")]})
    # model: a/PER right, a/LOC refused; b/PER refused, b/LOC right ("no entity")
    model = _sentences({"a": [(0, 2, "PER")], "b": []})
    # baseline: a/PER right, a/LOC wrong (missed); b/PER wrong (hallucinated boundary), b/LOC right
    base = _sentences({"a": [(0, 2, "PER")], "b": [(3, 5, "PER")]})
    paths = {name: tmp_path / f"{name}.jsonl" for name in ("gold", "model", "base")}
    write_jsonl(gold, paths["gold"])
    write_jsonl(model, paths["model"], abstained={"a": ["LOC"], "b": ["PER"]})
    write_jsonl(base, paths["base"])
    return paths, gold, model


def test_writer_and_reader_round_trip_abstentions(files) -> None:
    paths, _, _ = files
    assert read_abstentions(paths["model"]) == {"a": ["LOC"], "b": ["PER"]}
    assert read_abstentions(paths["base"]) is None  # a model that cannot abstain
    records = [json.loads(line) for line in paths["model"].read_text().splitlines()]
    assert [r["abstained_types"] for r in records] == [["LOC"], ["PER"]]


def test_reader_uses_default_ids_and_rejects_bad_values(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"text": "Ann met Bob", "abstained_types": ["PER"]}\n\n'
        '{"text": "Bob", "abstained_types": []}\n'
    )
    assert read_abstentions(path) == {"p.jsonl:1": ["PER"], "p.jsonl:3": []}
    path.write_text('{"text": "Ann", "abstained_types": "PER"}\n')
    with pytest.raises(DataFormatError, match=r"p.jsonl:1: \"abstained_types\" must be a list of type names"):
        read_abstentions(path)


def test_evaluate_scores_prompts_and_ths(files) -> None:
    paths, gold, model = files
    args = ["evaluate", str(paths["gold"]), str(paths["model"]), "--json"]
    result = CliRunner().invoke(cli, [*args, "--baseline", str(paths["base"])])
    assert result.exit_code == 0, result.output
    prompts = json.loads(result.stdout)["prompts"]
    assert prompts["types"] == ["LOC", "PER"]
    assert (prompts["prompts"], prompts["correct"], prompts["wrong"], prompts["refused"]) == (4, 2, 0, 2)
    assert prompts["baseline"]["correct"] == 2 and prompts["baseline"]["wrong"] == 2
    # the same numbers as the library functions the training runs use
    expected = prompt_outcomes(gold, model, ["LOC", "PER"], {"a": ["LOC"], "b": ["PER"]})
    assert prompts["correct_rate"] == expected.correct_rate
    assert prompts["ths"] == pytest.approx(truthful_helpfulness(0.5, 0.0, 0.5, 0.5)) == 0.5


def test_evaluate_types_option_and_table(files) -> None:
    paths, _, _ = files
    result = CliRunner().invoke(
        cli, ["evaluate", str(paths["gold"]), str(paths["model"]), "--types", "PER"]
    )
    assert result.exit_code == 0, result.output
    assert "per prompt (2 = sentences x 1 types)" in result.output
    assert "0.500" in result.output  # a/PER correct, b/PER refused


def test_evaluate_without_abstentions_has_no_prompt_scores(files) -> None:
    paths, _, _ = files
    args = ["evaluate", str(paths["gold"]), str(paths["base"]), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "prompts" not in json.loads(result.stdout)
    result = CliRunner().invoke(cli, [*args, "--baseline", str(paths["model"])])
    assert result.exit_code != 0 and "has no abstained_types" in result.output
