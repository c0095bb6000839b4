"""``fewner predict`` end to end on a tiny random Llama (hf backend): files, run folder, cache.

The model is random, so the scores are meaningless; what is checked is the plumbing: every
output file, its format, the resume-from-cache path and the errors a user sees.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fewner.cli import cli, main
from fewner.cli.predict_cmd import read_type_file
from fewner.data.io import read_corpus

pytest.importorskip("torch")
pytest.importorskip("transformers")

# The tiny tokenizer knows only the characters of its corpus; template and data stay in them.
TEMPLATE = """\
name: tiny
version: 1
instruction: "Entities: {type}. "
input: "Text: {sentence} "
response: "Answer:"
answer:
  prefix: " Answer"
  open: " <<< "
  close: " >>>"
  none: " none"
stop: ["Text:"]
"""
DEFINITIONS = "person: people\nlocation: places\norganization: companies\n"
GOLD = """\
Barack\tB-person
Obama\tI-person
visited\tO
Paris\tB-location
.\tO

John\tB-person
lives\tO
in\tO
London\tB-location

Apple\tB-organization
and\tO
Google\tB-organization
are\tO
companies\tO
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.contract.backends_under_test import tiny_llama

    root = tmp_path_factory.mktemp("predict")
    files = {
        "model": tiny_llama(root / "tiny"),
        "template": root / "tiny-v1.yaml",
        "definitions": root / "defs.yaml",
        "gold": root / "gold.tags",
        "labels": root / "labels.txt",
    }
    files["template"].write_text(TEMPLATE)
    files["definitions"].write_text(DEFINITIONS)
    files["gold"].write_text(GOLD)
    files["labels"].write_text("O\nB-person\nB-location\nI-person\nI-location\n")
    return files


def _args(setup: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "predict",
        str(setup["gold"]),
        "-o",
        str(out),
        "--model",
        str(setup["model"]),
        "--backend",
        "hf",
        "--template",
        str(setup["template"]),
        "--definitions",
        str(setup["definitions"]),
        "--max-new-tokens",
        "24",
        *extra,
    ]


def test_predict_writes_predictions_answers_and_run_folder_then_resumes(
    setup: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out" / "preds.jsonl"
    args = _args(setup, out, "--gold", str(setup["gold"]), "--batch-size", "4")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "micro" in result.output  # the F1 table

    predictions = read_corpus(out).sentences  # readable fewner JSONL: flat, token-aligned
    gold = read_corpus(setup["gold"]).sentences
    assert [p.text for p in predictions] == [g.text for g in gold]
    assert {s.label for p in predictions for s in p.spans} <= {"person", "location", "organization"}

    answers = [json.loads(line) for line in out.with_name("preds.answers.jsonl").open()]
    assert len(answers) == 3 * 3  # every type (all of the definitions) for every sentence
    assert {a["type"] for a in answers} == {"person", "location", "organization"}
    assert all(a["prompt_chars"] > 0 and isinstance(a["answer"], str) for a in answers)

    run = out.with_name("preds.run")
    config = json.loads((run / "config.json").read_text())
    assert config["types"] == ["person", "location", "organization"]
    assert config["constrained"] is True and config["template"] == "tiny-v1"
    assert config["params"]["max_new_tokens"] == 24 and config["params"]["temperature"] == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["sentences"] == 3 and metrics["prompts"] == 9
    assert metrics["cache_misses"] == 9 and metrics["cache_hits"] == 0
    assert metrics["stats"]["answers"] == 9
    assert metrics["stats"].get("not_found", 0) == 0  # constrained: only substrings
    assert metrics["scores"]["micro"]["support"] == 6
    assert (run / "cache.sqlite").is_file()

    # the same command again resumes from the cache: same predictions, no generation
    first = out.read_text()
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert out.read_text() == first
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["cache_hits"] == 9 and metrics["cache_misses"] == 0


def test_types_from_a_labels_file_limit_and_no_cache(
    setup: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "p.jsonl"
    args = _args(
        setup,
        out,
        "--types-from",
        str(setup["labels"]),
        "--limit",
        "2",
        "--no-cache",
        "--no-constrain",
        "--gold",
        str(setup["gold"]),
    )
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert len(read_corpus(out).sentences) == 2
    metrics = json.loads((tmp_path / "p.run" / "metrics.json").read_text())
    assert metrics["prompts"] == 4 and metrics["cache_hits"] is None
    assert metrics["scores"]["sentences"] == 2
    assert metrics["scores"]["micro"]["support"] == 4  # 2 persons + 2 locations asked
    config = json.loads((tmp_path / "p.run" / "config.json").read_text())
    assert config["types"] == ["person", "location"] and config["constrained"] is False
    assert not (tmp_path / "p.run" / "cache.sqlite").exists()


def test_raw_text_input(setup: dict[str, Path], tmp_path: Path) -> None:
    text = tmp_path / "in.txt"
    text.write_text("John lives in London\nApple and Google are companies\n")
    out = tmp_path / "t.jsonl"
    args = _args(setup, out, "--types", "person", "--no-cache")
    args[1] = str(text)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert [s.text for s in read_corpus(out).sentences] == [
        "John lives in London",
        "Apple and Google are companies",
    ]


def test_user_errors_are_one_line_and_come_before_loading(
    setup: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _args(setup, tmp_path / "x.jsonl", "--types", "person,weapon")
    (tmp_path / "not-a-model").mkdir()  # an existing folder: loading it would fail, later
    args[args.index("--model") + 1] = str(tmp_path / "not-a-model")  # never reached
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    message = capsys.readouterr().err
    assert "weapon" in message and "Traceback" not in message

    both = _args(
        setup, tmp_path / "x.jsonl", "--types", "person", "--types-from", str(setup["labels"])
    )
    result = CliRunner().invoke(cli, both)
    assert result.exit_code == 2 and "not both" in result.output


def test_read_type_file_takes_names_and_tags(tmp_path: Path) -> None:
    f = tmp_path / "types.txt"
    f.write_text("# wanted\nO\nB-creative-work\nI-creative-work\nperson\n\nS-group\nperson\n")
    assert read_type_file(f) == ["creative-work", "person", "group"]


# ----- the real SmolLM2 (slow): constrained answers on a real tokenizer, both local backends ----


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["hf", "llamacpp"])
def test_predict_on_real_smollm2_names_only_input_substrings(
    backend: str, shared_data: Path, tmp_path: Path
) -> None:
    from fewner.errors import ModelNotAvailableError
    from fewner.models import gguf_path, hf_path

    if backend == "llamacpp":
        pytest.importorskip("llama_cpp")
    try:
        (gguf_path if backend == "llamacpp" else hf_path)("smollm2-135m-instruct")
    except ModelNotAvailableError as err:
        pytest.skip(str(err))
    test_file = shared_data / "wnut17" / "emerging.test.annotated"
    out = tmp_path / f"{backend}.jsonl"
    args = [
        "predict",
        str(test_file),
        "-o",
        str(out),
        "--backend",
        backend,
        "--definitions",
        "wnut17",
        "--types",
        "location,person",
        "--limit",
        "2",
        "--max-new-tokens",
        "32",
        "--gold",
        str(test_file),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / f"{backend}.run" / "metrics.json").read_text())
    stats = metrics["stats"]
    assert stats["answers"] == 4 and stats.get("mentions", 0) > 0
    # the backend kept to the language itself: nothing for the parser or safety net to drop
    # (llama.cpp's grammar cannot count, so its own post-filter may drop repeats: allowed)
    zero = ["not_found", "repeat_exhausted", "unaligned", "unparseable"]
    for key in zero + (["filtered_mentions"] if backend == "hf" else []):
        assert stats.get(key, 0) == 0, (key, stats)
    from fewner.prompts import ExtractionFormat

    fmt = ExtractionFormat("obp-llm", "wnut17")
    gold = {s.id: s for s in read_corpus(test_file).sentences[:2]}
    assert [p.id for p in read_corpus(out).sentences] == list(gold)
    for record in map(json.loads, out.with_name(f"{backend}.answers.jsonl").open()):
        sentence = gold[record["sentence_id"]]
        assert "raw_answer" not in record
        assert fmt.constraint(sentence).is_prefix(record["answer"]), record
        for mention in fmt.grammar.mentions_in(record["answer"]):
            assert mention in sentence.text
