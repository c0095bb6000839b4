"""``fewner icl`` on real models: SmolLM2-135M through llama.cpp and the MiniLM encoder (slow).

Two WNUT-17 test sentences with the 5-shot support set 0 as pool. What is checked holds for any
model output: every predicted span is a token-aligned piece of its sentence with a WNUT type,
every model answered stage 1 once per sentence, and a rerun is served from the cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fewner.cli import cli

pytestmark = pytest.mark.slow

WNUT_TYPES = {"corporation", "creative-work", "group", "location", "person", "product"}


def test_icl_smollm2_with_span_retrieval(shared_data: Path, gguf: Path, tmp_path: Path) -> None:
    test = shared_data / "wnut17" / "emerging.test.annotated"
    pool = shared_data / "domain_transfer_support_sets" / "samples-wnut-5shot" / "0.txt"
    out = tmp_path / "wnut.jsonl"
    args = [
        "icl", str(test), "--pool", str(pool), "--models", "llamacpp:smollm2-135m-instruct",
        "--set", "backend_options.n_threads=1", "--definitions", "wnut17", "--limit", "2",
        "--gold", str(test), "-o", str(out), "--json",
    ]  # fmt: skip
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    metrics = json.loads((tmp_path / "wnut.run" / "metrics.json").read_text())
    model = metrics["models"]["smollm2-135m-instruct"]
    assert model["extract_answers"] == 2
    assert model["classify_answers"] == metrics["totals"]["kept"]
    assert metrics["scores"]["unvalidated"]["micro"]["support"] > 0
    for line in out.read_text().splitlines():
        record = json.loads(line)
        starts = {t[1] for t in record["tokens"]} if "tokens" in record else None
        for entity in record["entities"]:
            assert entity["label"] in WNUT_TYPES
            assert 0 <= entity["start"] < entity["end"] <= len(record["text"])
            if starts is not None:
                assert entity["start"] in starts

    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    rerun = json.loads((tmp_path / "wnut.run" / "metrics.json").read_text())
    assert rerun["cache"]["smollm2-135m-instruct"]["misses"] == 0
    assert (tmp_path / "wnut.jsonl").read_text() == out.read_text()
