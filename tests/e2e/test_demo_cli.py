import json

from click.testing import CliRunner

from fewner.cli import cli


def test_demo_runs_end_to_end_and_writes_run_folder(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--episodes", "6", "--k-shot", "5", "--n-query", "2", "--out", str(out)])
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
