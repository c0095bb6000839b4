"""GRAIT on a tiny random Llama: the knowledge query, features, and a whole grait stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")


from fewner.grait.gradients import gradient_features  # noqa: E402
from fewner.grait.knowledge import query_knowledge, read_knowledge  # noqa: E402
from fewner.prompts import ExtractionFormat  # noqa: E402
from fewner.train.collate import build_examples  # noqa: E402
from fewner.train.lora import PRESETS, wrap  # noqa: E402
from tests.unit.train_tiny import (  # noqa: E402
    mini_sentences,
    tiny_causal_lm,
    write_train_config,
)

FMT = ExtractionFormat("obp-llm", "conll2003")
TYPES = ["PER", "LOC"]

@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("grait") / "tiny")


@pytest.fixture(scope="module")
def tiny(folder: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(0)
    model = wrap(AutoModelForCausalLM.from_pretrained(folder), PRESETS["obp-llm"])
    return model, tokenizer


def test_knowledge_query_counts_and_ranges(tiny, tmp_path: Path) -> None:
    from fewner.grait.knowledge import write_knowledge

    model, tokenizer = tiny
    sentences = mini_sentences()

    def ask(batch_size: int):  # greedy + 2 samples per prompt, seeded
        return query_knowledge(
            model, tokenizer, "tiny", FMT, sentences, TYPES, samples=2, temperature=0.9,
            seed=3, batch_size=batch_size, max_new_tokens=8,
        )

    records = ask(8)
    assert [(r.sentence_id, r.type) for r in records] == [
        (s.id, t) for s in sentences for t in TYPES
    ]
    for r in records:
        assert len(r.answers) == 3  # greedy + 2 samples
        assert 0.0 <= r.correctness <= 1.0 and r.correctness * 3 == pytest.approx(
            round(r.correctness * 3)
        )
        assert 0.0 <= r.entropy <= torch.log(torch.tensor(3.0)).item() + 1e-9
        assert r.greedy_correct == (r.answers[0] == r.gold)
    assert records[3].gold == "" and records[2].gold == "0-15"  # s1: PER "Peter Blackburn", no LOC
    again = ask(3)
    assert [r.answers for r in again] == [r.answers for r in records]  # batching-independent
    path = tmp_path / "knowledge.jsonl"
    write_knowledge(path, records)
    prompts = [(s.id, t) for s in sentences for t in TYPES]
    assert read_knowledge(path, prompts, samples=2, temperature=0.9) == records
    assert read_knowledge(path, prompts, samples=3, temperature=0.9) is None
    assert read_knowledge(path, prompts[:-1], samples=2, temperature=0.9) is None


def test_gradient_features_shape_determinism_and_mode(tiny) -> None:
    model, tokenizer = tiny
    examples = build_examples(mini_sentences()[:2], TYPES, FMT, tokenizer).examples
    model.train()
    a = gradient_features(model, examples, tokenizer.pad_token_id, dim=256, seed=1)
    b = gradient_features(model, examples, tokenizer.pad_token_id, dim=256, seed=1)
    assert a.shape == (len(examples), 256) and torch.equal(a, b)
    assert model.training  # mode restored
    assert all(p.grad is None for p in model.parameters())
    assert not torch.equal(
        a, gradient_features(model, examples, tokenizer.pad_token_id, dim=256, seed=2)
    )
    assert bool((a.norm(dim=1) > 0).all())


def _config(tmp_path: Path, model_dir: Path, refusal: dict) -> Path:
    stages = {
        "base": {"data": {"path": "mini.conll", "limit": 2}, "batch_size": 4},
        "refusal": {
            "kind": "grait",
            "data": {"path": "mini.conll", "skip": 1, "types": ["PER", "LOC", "ORG"]},
            "batch_size": 4,
            "lr": 5e-3,
            "refusal": refusal,
        },
    }
    test = {"data": {"path": "mini.conll", "limit": 2}, "max_new_tokens": 6}
    return write_train_config(tmp_path, model_dir, stages, test=test)


def test_grait_stage_end_to_end(folder: Path, tmp_path: Path, monkeypatch) -> None:
    from fewner.train import loop
    from fewner.train.config import load_config
    from fewner.train.stages import run_training

    seen: list[list[float]] = []
    real_collate = loop.collate

    def spy(items, pad_id):
        batch = real_collate(items, pad_id)
        seen.append(batch["weight"].tolist())
        return batch

    monkeypatch.setattr(loop, "collate", spy)
    refusal = {
        "samples": 1,
        "temperature": 1.0,
        "threshold": 1.0,
        "select": 2,
        "weights": "adaptive",
        "warmup_steps": 2,
        "warmup_batch_size": 2,
        "projection_dim": 64,
        "query_max_new_tokens": 6,
    }
    config = load_config(_config(tmp_path, folder, refusal))
    out = tmp_path / "run"
    metrics = run_training(config, out, log=lambda _m: None)

    stage = out / "refusal"
    knowledge = [json.loads(x) for x in (stage / "knowledge.jsonl").read_text().splitlines()]
    assert len(knowledge) == 3 * 3  # sentences 1..3 (skip 1) x 3 types
    summary = json.loads((stage / "grait.json").read_text())
    assert summary["prompts"] == 9 and summary["known"] + summary["unknown"] == 9
    assert summary["selected"] == min(2, summary["unknown"])
    assert summary["examples"] == summary["known"] + summary["selected"]
    rows = [json.loads(x) for x in (stage / "selection.jsonl").read_text().splitlines()]
    assert len(rows) == summary["selected"] and rows  # a random model knows little
    if rows:
        assert (stage / "features.pt").is_file()
        weights = [r["weight"] for r in rows]
        assert sum(weights) / len(weights) == pytest.approx(1.0, abs=1e-5)
        # the weights reach the training batches
        flat = sorted(w for batch in seen for w in batch)
        for w in weights:
            assert any(abs(w - x) < 1e-5 for x in flat)
    stage_metrics = metrics["stages"]["refusal"]
    assert stage_metrics["grait"]["selected"] == summary["selected"]
    test = metrics["test"]
    assert test["abstain"] is True and test["prompts"]["prompts"] == 2 * 3  # ORG, MISC, PER
    assert set(test["prompts"]) >= {"correct_rate", "wrong_rate", "refused_rate"}
    first = json.loads((out / "test" / "predictions.jsonl").read_text().splitlines()[0])
    assert "abstained_types" in first

    # a resumed run reads the knowledge and the features back instead of recomputing
    logs: list[str] = []
    (stage / "metrics.json").unlink()
    run_training(config, out, resume=True, log=logs.append)
    assert any("read from" in m and "knowledge" in m for m in logs)
    if rows:
        assert any("gradient features read from" in m for m in logs)


def test_rait_uses_every_unknown_prompt_with_weight_one(folder: Path, tmp_path: Path) -> None:
    from fewner.train.config import load_config
    from fewner.train.stages import run_training

    refusal = {"samples": 0, "threshold": 1.0, "query_max_new_tokens": 6}
    config = load_config(_config(tmp_path, folder, refusal))
    config.test = None
    run_training(config, tmp_path / "run", log=lambda _m: None)
    stage = tmp_path / "run" / "refusal"
    summary = json.loads((stage / "grait.json").read_text())
    assert summary["selected"] == summary["unknown"] and not summary["gradients"]
    assert not (stage / "features.pt").exists()
    assert all(
        r["weight"] == 1.0
        for r in map(json.loads, (stage / "selection.jsonl").read_text().splitlines())
    )


def test_unselected_unknown_prompts_keep_gold_when_asked(folder: Path, tmp_path: Path) -> None:
    from fewner.errors import ConfigError
    from fewner.train.config import load_config
    from fewner.train.stages import run_training

    refusal = {
        "samples": 0,
        "threshold": 1.0,
        "select": 1,
        "unselected": "gold",
        "warmup_steps": 1,
        "warmup_batch_size": 2,
        "projection_dim": 32,
        "query_max_new_tokens": 6,
    }
    config = load_config(_config(tmp_path, folder, refusal))
    config.test = None
    run_training(config, tmp_path / "run", log=lambda _m: None)
    summary = json.loads((tmp_path / "run" / "refusal" / "grait.json").read_text())
    assert summary["unknown"] >= 2 and summary["selected"] == 1  # a random model knows little
    assert summary["unselected"] == "gold" and summary["unselected_gold"] == summary["unknown"] - 1
    assert summary["examples"] == summary["known"] + summary["unknown"]

    refusal["unselected"] = "refuse"
    with pytest.raises(ConfigError, match="unselected"):
        load_config(_config(tmp_path, folder, refusal))
