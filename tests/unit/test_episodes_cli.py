"""``fewner episodes sample`` and ``fewner episodes fixed``."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from fewner.cli import cli, main
from fewner.data.episodes import mention_counts
from fewner.data.io import read_episodes

TYPES = ["person", "place", "thing", "event"]


@pytest.fixture
def tags_file(tmp_path: Path) -> Path:
    """80 two-column BIO sentences with 0-2 mentions of four types."""
    rng = random.Random(0)
    lines = []
    for i in range(80):
        lines.append(f"word{i}\tO")
        for _ in range(rng.randint(0, 2)):
            label = rng.choice(TYPES)
            lines += [f"Ent{i}\tB-{label}", f"ity\tI-{label}", "and\tO"]
        lines.append("")
    path = tmp_path / "train.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_sample_writes_few_nerd_episodes(tags_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "episodes.jsonl"
    code, output = run(
        "episodes", "sample", str(tags_file), "-n", "2", "-k", "1", "-q", "2",
        "-e", "6", "--seed", "3", "-o", str(out),
    )  # fmt: skip
    assert code == 0, output
    assert "wrote 6 episodes" in output
    assert "greedy attempts" in output
    episodes = read_episodes(out)
    assert len(episodes) == 6
    for episode in episodes:
        assert len(episode.types) == 2
        support, query = mention_counts(episode.support), mention_counts(episode.query)
        assert all(1 <= support[t] <= 2 and 2 <= query[t] <= 4 for t in episode.types)


def test_same_seed_gives_the_same_file(tags_file: Path, tmp_path: Path) -> None:
    files = []
    for name, seed in [("a", "5"), ("b", "5"), ("c", "6")]:
        path = tmp_path / f"{name}.jsonl"
        args = ("episodes", "sample", str(tags_file), "-n", "2", "-e", "4", "--seed", seed)
        assert run(*args, "-o", str(path))[0] == 0
        files.append(path.read_bytes())
    assert files[0] == files[1]
    assert files[0] != files[2]


def test_types_option_restricts_the_pool(tags_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "e.jsonl"
    code, _ = run(
        "episodes", "sample", str(tags_file), "-n", "2", "-e", "10",
        "-t", "person,place", "-t", "event", "-o", str(out),
    )  # fmt: skip
    assert code == 0
    assert {t for e in read_episodes(out) for t in e.types} <= {"person", "place", "event"}


def test_impossible_request_is_one_line_error(
    tags_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["episodes", "sample", str(tags_file), "-n", "9", "-o", str(tmp_path / "x.jsonl")])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert "error: cannot sample 9-way episodes from 4 type(s)" in captured.err
    assert "Traceback" not in captured.err


def test_unknown_type_is_an_error(tags_file: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "episodes",
                "sample",
                str(tags_file),
                "-n",
                "1",
                "-t",
                "animal",
                "-o",
                str(tmp_path / "x"),
            ]
        )
    assert exc.value.code == 2
    assert "animal" in capsys.readouterr().err


def test_help_texts_explain_the_protocol() -> None:
    code, output = run("episodes", "sample", "--help")
    assert code == 0
    for phrase in ["K~2K", "Q~2Q", "--other-types", "--seed", "--types"]:
        assert phrase in output
    code, output = run("episodes", "fixed", "--help")
    assert code == 0 and "--data-root" in output and "FEWNER_SHARED_DATA" in output


def test_fixed_json_lists_eleven_rows(shared_data: Path) -> None:
    code, output = run(
        "episodes",
        "fixed",
        "--dataset",
        "wnut",
        "--shots",
        "1",
        "--data-root",
        str(shared_data),
        "--json",
    )
    assert code == 0
    rows = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert [r["sentences"] for r in rows] == [6, 5, 5, 4, 5, 5, 5, 5, 6, 5, 1287]
    assert rows[-1]["set"] == "test"
    assert set(rows[0]["mentions"]) == {
        "corporation", "creative-work", "group", "location", "person", "product",
    }  # fmt: skip


def test_fixed_table(shared_data: Path) -> None:
    code, output = run(
        "episodes", "fixed", "--dataset", "conll", "--shots", "1", "--data-root", str(shared_data)
    )
    assert code == 0
    assert "sentences" in output and "MISC" in output and "3453" in output


def test_fixed_missing_data_root_is_a_usage_error(tmp_path: Path) -> None:
    code, output = run(
        "episodes", "fixed", "--dataset", "gum", "--data-root", str(tmp_path / "nope")
    )
    assert code == 2 and "does not exist" in output
