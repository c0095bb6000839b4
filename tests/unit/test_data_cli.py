"""``fewner data stats`` and ``fewner data convert`` through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fewner.cli import cli, main
from fewner.data.io import read_corpus


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_data_help_lists_commands_and_formats() -> None:
    result = run("data", "--help")
    assert result.exit_code == 0
    assert "stats" in result.output and "convert" in result.output
    assert "jsonl" in result.output and "-DOCSTART-" in result.output
    for command in ("stats", "convert"):
        assert "--encoding-errors" in run("data", command, "--help").output


def test_stats_json(fixtures_dir: Path) -> None:
    result = run("data", "stats", str(fixtures_dir / "data" / "mini.conll"), "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats == {
        "file": "mini.conll",
        "format": "conll",
        "scheme": "bio",
        "sentences": 3,
        "documents": 2,
        "tokens": 11,
        "mentions": 5,
        "types": {"LOC": 2, "MISC": 1, "ORG": 1, "PER": 1},
        "skipped": {"-DOCSTART- line": 2},
        "repaired": {},
    }


def test_stats_table_and_read_report(tmp_path: Path) -> None:
    path = tmp_path / "r.tsv"
    path.write_text("\nNew\tB-org\nLabour\tI-party\n", encoding="utf-8")
    result = run("data", "stats", str(path))
    assert result.exit_code == 0
    assert "mentions per type" in result.stdout and "party" in result.stdout
    # what was skipped or repaired is reported on stderr too
    assert "repaired 1 x I- tag after a different type" in result.stderr
    assert "skipped 1 x empty sentence" in result.stderr


def test_stats_fewnerd_labels(fixtures_dir: Path) -> None:
    result = run("data", "stats", str(fixtures_dir / "data" / "mini_bioes.tsv"), "--fewnerd-labels", "--json")
    stats = json.loads(result.stdout)
    assert (stats["scheme"], stats["types"]) == ("bioes", {"person-actor": 2})


def test_convert_conll_to_jsonl_and_back(fixtures_dir: Path, tmp_path: Path) -> None:
    src = fixtures_dir / "data" / "mini.conll"
    result = run("data", "convert", str(src), str(tmp_path / "m.jsonl"))
    assert result.exit_code == 0, result.output
    assert "wrote 3 sentences" in result.stderr
    assert read_corpus(tmp_path / "m.jsonl").sentences == read_corpus(src).sentences
    result = run("data", "convert", str(tmp_path / "m.jsonl"), str(tmp_path / "m.conll"), "--to", "conll")
    assert result.exit_code == 0, result.output
    assert [s.spans for s in read_corpus(tmp_path / "m.conll")] == [s.spans for s in read_corpus(src)]


def test_convert_to_io_tags(fixtures_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "io.tsv"
    result = run("data", "convert", str(fixtures_dir / "data" / "mini.tsv"), str(out), "--to", "tags", "--scheme", "io")
    assert result.exit_code == 0, result.output
    tags = {line.split("\t")[1] for line in out.read_text(encoding="utf-8").splitlines() if line}
    assert tags == {"O", "I-location", "I-person", "I-creative-work"}


def test_user_errors_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.tsv"
    path.write_bytes(b"Caf\xe9\tO\n")
    with pytest.raises(SystemExit) as info:
        main(["data", "stats", str(path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}:1: cannot decode byte(s) 0xe9")
    assert "Traceback" not in err
    assert "--encoding-errors replace" in err


def test_encoding_options(tmp_path: Path) -> None:
    path = tmp_path / "l1.txt"
    path.write_bytes(b"Caf\xe9 au lait\n")
    replaced = json.loads(run("data", "stats", str(path), "--encoding-errors", "replace", "--json").stdout)
    latin = json.loads(run("data", "stats", str(path), "--encoding", "latin-1", "--json").stdout)
    assert replaced["format"] == latin["format"] == "text"
    assert latin["tokens"] == 3  # "Café au lait"
    assert replaced["tokens"] == 4  # "Caf", U+FFFD (a symbol: its own token), "au", "lait"


def test_bad_option_value_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["data", "stats", "x.txt", "--format", "xml"])
    assert result.exit_code == 2
    assert "Invalid value" in result.output


def test_data_layer_imports_no_torch() -> None:
    """`fewner data` must start fast: the readers and the command import no torch."""
    code = (
        "import sys, fewner.data.io, fewner.cli.data_cmd; "
        "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
