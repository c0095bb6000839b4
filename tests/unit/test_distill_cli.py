"""`fewner distill` and `fewner predict --student` end to end on a tiny random encoder."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from fewner.cli import cli
from fewner.data.io import write_corpus
from fewner.distill.config import load_distill_config
from fewner.errors import ConfigError
from tests.unit.distill_tiny import tiny_encoder, tiny_sentences


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("distill")
    encoder = tiny_encoder(root / "enc")
    sentences = tiny_sentences()
    write_corpus(sentences, root / "data" / "train.txt", "conll")
    write_corpus(sentences[:3], root / "data" / "test.txt", "conll")
    # A teacher output: the gold spans of t0..t2, an unparseable t3 and a partial t4 that
    # lost its spans; the statuses decide what the student sees.
    records = []
    for s in sentences:
        status = {"t3": "unparseable", "t4": "partial"}.get(s.id, "ok")
        kept = s if status == "ok" else s.with_spans(())
        from fewner.data.formats.jsonl import sentence_record

        records.append({**sentence_record(kept), "status": status, "dropped": [], "answer": "..."})
    distilled = root / "ann.jsonl"
    distilled.write_text("".join(json.dumps(r) + "\n" for r in records))
    config = {
        "student": {"model": str(encoder), "max_length": 48},
        "data_root": str(root / "data"),
        "original": {"path": "train.txt"},
        "distilled": [{"path": str(distilled), "statuses": ["ok", "partial"]}],
        "schedule": "simple_mix",
        "epochs": 2,
        "batch_size": 4,
        "lr": 1e-3,
        "lr_decay": 0.95,
        "threads": 1,
        "test": {"path": "test.txt"},
        "groups": {"A": {"schedule": "original", "distilled": []}},
    }
    path = root / "distill.yaml"
    path.write_text(yaml.safe_dump(config))
    return root, path


def test_distill_run_writes_everything_and_student_predicts(setup):
    root, config = setup
    out = root / "run-D"
    result = CliRunner().invoke(cli, ["distill", "--config", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name in (
        "config.json",
        "metrics.json",
        "data.json",
        "log.jsonl",
        "checkpoint.pt",
        "student/student.json",
        "test/predictions.jsonl",
    ):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    data = json.loads((out / "data.json").read_text())
    assert data["distilled"][0]["kept"] == 4  # ok x3 + partial, not the unparseable one
    assert data["distilled"][0]["statuses"] == {"ok": 3, "unparseable": 1, "partial": 1}
    epochs = metrics["training"]["epoch_records"]
    assert [(e["distilled_examples"], e["original_examples"]) for e in epochs] == [(4, 0), (0, 5)]
    assert epochs[1]["lr"] == pytest.approx(1e-3 * 0.95)
    assert metrics["test"]["sentences"] == 3 and "f1" in metrics["test"]["micro"]
    assert json.loads((out / "config.json").read_text())["schedule"] == {"name": "simple_mix"}

    # The saved student through `fewner predict --student`, scored against the same file.
    preds = root / "preds.jsonl"
    test_file = root / "data" / "test.txt"
    result = CliRunner().invoke(
        cli,
        [
            "predict",
            "--student",
            str(out / "student"),
            str(test_file),
            "-o",
            str(preds),
            "--gold",
            str(test_file),
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    pm = json.loads((root / "preds.run" / "metrics.json").read_text())
    assert pm["scores"]["micro"] == metrics["test"]["micro"]  # same model, same sentences

    # Without --resume an existing run folder is not overwritten.
    refused = CliRunner().invoke(cli, ["distill", "--config", str(config), "--out", str(out)])
    assert refused.exit_code != 0 and "--resume" in str(refused.exception)

    # --resume on a finished run trains nothing more and gives the same scores.
    again = CliRunner().invoke(
        cli, ["distill", "--config", str(config), "--out", str(out), "--resume"]
    )
    assert again.exit_code == 0, again.output
    resumed = json.loads((out / "metrics.json").read_text())
    assert resumed["training"]["resumed_at_epoch"] == 2
    assert resumed["test"]["micro"] == metrics["test"]["micro"]


def test_group_preset_and_errors(setup, tmp_path):
    root, config = setup
    a = load_distill_config(config, group="A")
    assert a.group == "A" and a.schedule == {"name": "original"} and a.distilled == []
    with pytest.raises(ConfigError, match="uses distilled data"):
        load_distill_config(config, overrides=["distilled=[]"])
    with pytest.raises(ConfigError, match="uses original data"):
        load_distill_config(config, overrides=["original=null"])
    with pytest.raises(ConfigError, match="unknown group"):
        load_distill_config(config, group="Q")
    missing = CliRunner().invoke(
        cli,
        [
            "distill",
            "--config",
            str(config),
            "--set",
            f"distilled=[{{path: {tmp_path}/no.jsonl}}]",
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert missing.exit_code != 0 and "fewner annotate" in str(missing.exception or missing.output)


def test_dry_run_prints_weights(setup):
    _, config = setup
    result = CliRunner().invoke(
        cli,
        [
            "distill",
            "--config",
            str(config),
            "--dry-run",
            "--set",
            "schedule=cosine",
            "--set",
            "epochs=3",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "epoch 1: w_distilled 0.5000  w_original 0.5000" in result.output


def test_predict_without_student_still_needs_definitions(setup):
    root, _ = setup
    result = CliRunner().invoke(
        cli, ["predict", str(root / "data" / "test.txt"), "-o", str(root / "p.jsonl")]
    )
    assert result.exit_code != 0 and "--definitions" in result.output


def test_plain_fewner_jsonl_counts_as_ok_distilled_data(tmp_path):
    """Any fewner JSONL (e.g. `fewner icl` or `fewner predict` output) can be distilled data."""
    from fewner.distill.config import DistilledFile
    from fewner.distill.pipeline import read_distilled

    path = tmp_path / "preds.jsonl"
    write_corpus(tiny_sentences(), path, "jsonl")
    kept, statuses = read_distilled(DistilledFile(str(path), limit=4), ["PER", "LOC"])
    assert statuses == {"ok": 5} and len(kept) == 4
    assert all(s.label in {"PER", "LOC"} for x in kept for s in x.spans)
    assert sum(len(x.spans) for x in kept) == 5  # t1: PER, LOC; t2: 3 x LOC; (t0, t3: none)


def test_loss_mix_full_blend_with_dev_evaluation(setup):
    """`mix: loss` trains on both sets every epoch; a dev file is scored after each epoch."""
    from fewner.distill.pipeline import run_distill

    root, config_path = setup
    config = load_distill_config(
        config_path,
        overrides=[
            "mix=loss",
            "schedule=full_blend",
            "epochs=2",
            "dev={path: test.txt}",
            "test=null",
        ],
    )
    lines = []
    metrics = run_distill(config, root / "run-blend", log=lines.append)
    epochs = metrics["training"]["epoch_records"]
    assert [(e["distilled_examples"], e["original_examples"]) for e in epochs] == [(4, 5), (4, 5)]
    assert all(0.0 <= e["dev_f1"] <= 1.0 for e in epochs) and "test" not in metrics
    log = [json.loads(x) for x in (root / "run-blend" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log if r.get("event") == "dev"] == [0, 1]
    assert sum(1 for x in lines if "dev F1" in x) == 2
