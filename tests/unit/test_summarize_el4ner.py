"""experiments/summarize_el4ner.py: shards of one test set add up to the whole."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def summarize():
    path = REPO / "experiments" / "summarize_el4ner.py"
    spec = importlib.util.spec_from_file_location("summarize_el4ner", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tp: int, predicted: int, gold: int, sentences: int, per_second: float) -> dict:
    return {
        "dataset": "wnut", "run": "ensemble-span", "predictions": "without validation",
        "retrieval": "span", "models": 3, "precision": tp / predicted, "recall": tp / gold,
        "f1": 2 * tp / (predicted + gold), "predicted": predicted, "gold": gold,
        "sentences": sentences, "sentences_per_second": per_second, "model_calls": 10,
        "parse_failures": "1/2/3", "wall_seconds": 100,
    }  # fmt: skip


def _shard(tp, predicted, gold, sentences, per_second, span_tp) -> dict:
    model = {
        "dataset": "wnut", "run": "ensemble-span", "model": "m", "backend_seconds": 50.0,
        "seconds_per_sentence": 50.0 / sentences, "cache_misses": 7,
        "failures": {"extract": [1, 10], "classify": [2, 20], "validate": [0, 0]},
    }  # fmt: skip
    span = {
        "dataset": "wnut", "run": "ensemble-span", "spans_of": "(vote)",
        "precision": span_tp / 8, "recall": span_tp / 6, "f1": 2 * span_tp / 14,
        "predicted": 8, "gold": 6,
    }  # fmt: skip
    return {
        "runs": [_run(tp, predicted, gold, sentences, per_second)],
        "models": [model],
        "stage1_spans": [span],
    }


def test_two_shards_merge_into_the_counts_of_one_run(summarize):
    merged = summarize.merge([_shard(3, 10, 6, 100, 0.5, 2), _shard(5, 6, 10, 50, 0.25, 4)])
    (run,) = merged["runs"]
    assert (run["predicted"], run["gold"], run["sentences"]) == (16, 16, 150)
    assert run["precision"] == pytest.approx(8 / 16) and run["recall"] == pytest.approx(8 / 16)
    assert run["f1"] == pytest.approx(0.5)
    assert run["sentences_per_second"] == pytest.approx(150 / (200 + 200), abs=1e-4)
    assert (run["model_calls"], run["wall_seconds"], run["parse_failures"]) == (20, 200, "2/4/6")
    (model,) = merged["models"]
    assert model["backend_seconds"] == 100.0 and model["cache_misses"] == 14
    assert model["seconds_per_sentence"] == pytest.approx(100 / 150, abs=1e-3)
    assert model["failures"]["classify"] == [4, 40]
    (span,) = merged["stage1_spans"]
    assert span["precision"] == pytest.approx(6 / 16) and span["recall"] == pytest.approx(6 / 12)


def test_one_source_is_printed_as_is_and_a_self_merge_keeps_the_scores(summarize):
    results = REPO / "experiments" / "results" / "el4ner_cpu_n100.json"
    one = summarize.summary(results)
    assert summarize.merge([one]) is one
    twice = summarize.merge([one, json.loads(results.read_text())])
    assert len(twice["runs"]) == len(one["runs"])
    for a, b in zip(one["runs"], twice["runs"], strict=True):
        assert (a["dataset"], a["run"], a["predictions"]) == (
            b["dataset"],
            b["run"],
            b["predictions"],
        )
        assert b["f1"] == pytest.approx(a["f1"]) and b["sentences"] == 2 * a["sentences"]


def test_summaries_written_before_the_stage1_table_merge_too(summarize):
    results = REPO / "experiments" / "results" / "el4ner_cpu_n20.json"
    one = summarize.summary(results)
    assert "stage1_spans" not in one
    twice = summarize.merge([one, json.loads(results.read_text())])
    assert twice["stage1_spans"] == []
    assert [r["predicted"] for r in twice["runs"]] == [2 * r["predicted"] for r in one["runs"]]
