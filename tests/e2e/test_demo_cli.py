import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fewner.cli import cli

REPO = Path(__file__).resolve().parents[2]


def test_demo_runs_end_to_end_and_writes_run_folder(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--episodes", "6", "--k-shot", "5", "--n-query", "2", "--no-lm", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "6 episodes" in result.output
    config = json.loads((out / "config.json").read_text())
    assert config["episodes"] == 6 and config["k_shot"] == 5 and "_run" in config
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["episodes"] == 6 and 0.0 <= metrics["f1"]["mean"] <= 1.0
    episode_lines = (out / "episodes.jsonl").read_text().splitlines()
    assert len(episode_lines) == 6
    for line in episode_lines:
        episode = json.loads(line)
        assert len(episode["types"]) == 5
        query_labels = {lab for tags in episode["query"]["label"] for lab in tags} - {"O"}
        assert query_labels <= set(episode["types"])
    assert (out / "predictions.jsonl").stat().st_size > 0
    # the shipped span model: zero-shot on every episode, adapted and saved on episode 0
    assert metrics["span"]["zero_shot"]["episodes"] == 6
    assert 0.0 <= metrics["span"]["episode0_adapted_f1"] <= 1.0
    assert (out / "span" / "model" / "fewner.json").is_file()
    assert "span model, zero-shot" in result.output


def test_demo_lm_part_trains_and_extracts_with_a_tiny_model(tmp_path):
    """The LM part end to end (LoRA SFT on episode 0, constrained extraction of its query set),
    with a tiny random Llama in place of SmolLM2 so it runs in seconds."""
    pytest.importorskip("torch")
    from tests.unit.train_tiny import tiny_causal_lm

    model = tiny_causal_lm(tmp_path / "tiny")
    config_path = tmp_path / "demo.yaml"
    config_path.write_text(f"recipe: demo\nmodel: {model}\ninit_adapter: null\n")  # not SmolLM2's adapter
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        cli,
        ["demo", "--episodes", "2", "--out", str(out), "--lm-config", str(config_path), "--lm-epochs", "1"],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["lm"]["types"]) == 5
    assert 0.0 <= metrics["lm"]["test"]["f1"] <= 1.0
    predictions = (out / "lm" / "query.jsonl").read_text().splitlines()
    query = [json.loads(line) for line in predictions]
    for sentence in query:  # constrained decoding: every predicted span is a slice of its text
        for entity in sentence["entities"]:
            assert 0 <= entity["start"] < entity["end"] <= len(sentence["text"])
            assert entity["label"] in metrics["lm"]["types"]
    assert (out / "lm" / "run" / "config.json").is_file()
    manifest = json.loads((out / "lm" / "model" / "fewner.json").read_text())
    assert manifest["kind"] == "extractor" and manifest["labels"] == metrics["lm"]["types"]
    assert manifest["training"]["recipe"] == "demo" and manifest["training"]["examples"] > 0
