"""Packed training sequences (fewner/train/packing.py) and the source stage (fewner/train/source.py).

The contract: a packed sequence computes what its separate per-type examples compute (logits and
the NLL objective), padding rows stay finite, packing is refused where it would be wrong, a
staged run trains with ``packing: true``, and a source run on a tiny mixture writes a model
folder that ``fewner.load`` serves.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fewner.errors import ConfigError
from fewner.prompts import ExtractionFormat, load_template
from fewner.train.collate import build_examples, collate
from fewner.train.kinds import packed_items
from fewner.train.losses import build_loss_terms, forward_with_terms
from fewner.train.packing import PackedNLL, collate_packed, pack
from tests.unit.train_tiny import mini_sentences, tiny_causal_lm, write_train_config

TYPES = ["PER", "LOC", "ORG", "MISC"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture(scope="module")
def model_and_tokenizer(model_dir: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(model_dir).eval(), AutoTokenizer.from_pretrained(model_dir)


def _examples(tokenizer, layout: str = "sentence_first"):
    fmt = ExtractionFormat(load_template("obp-llm", layout=layout), "conll2003")
    return build_examples(mini_sentences(), TYPES, fmt, tokenizer).examples


def test_a_packed_sequence_gives_the_logits_of_its_separate_examples(model_and_tokenizer) -> None:
    model, tokenizer = model_and_tokenizer
    examples = _examples(tokenizer)[:4]  # the four questions of the first sentence
    packed = pack(examples)
    assert len(packed.turns) == 4 and len(packed) < sum(len(e) for e in examples)
    batch = collate_packed([packed], tokenizer.pad_token_id)
    with torch.no_grad():
        together = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         position_ids=batch["position_ids"]).logits[0]
        at = len(packed.prefix)
        for example in examples:
            alone = model(input_ids=torch.tensor([example.input_ids])).logits[0]
            tail = len(example) - len(packed.prefix)
            torch.testing.assert_close(together[at : at + tail], alone[len(packed.prefix):], atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(together[: len(packed.prefix)], alone[: len(packed.prefix)], atol=1e-4, rtol=1e-4)
            at += tail


def test_packed_nll_equals_the_per_example_nll_of_the_unpacked_batch(model_and_tokenizer) -> None:
    model, tokenizer = model_and_tokenizer
    examples = _examples(tokenizer)
    items = packed_items(examples, tokenizer.pad_token_id, {})
    assert len(items.items) == len(mini_sentences())  # one sequence per sentence
    packed_loss, _ = PackedNLL()(model, items.trainer_options["collate_fn"](items.items))
    terms = build_loss_terms([{"name": "nll"}], model)
    plain_loss, _ = forward_with_terms(model, collate(examples, tokenizer.pad_token_id), terms)
    assert float(packed_loss) == pytest.approx(float(plain_loss), rel=1e-4)


def test_padding_rows_stay_finite_and_get_no_loss(model_and_tokenizer) -> None:
    model, tokenizer = model_and_tokenizer
    items = packed_items(_examples(tokenizer), tokenizer.pad_token_id, {}).items
    short, long = sorted(items, key=len)[0], sorted(items, key=len)[-1]
    batch = collate_packed([short, long], tokenizer.pad_token_id)
    assert batch["attention_mask"].shape == (2, 1, len(long), len(long))
    assert (batch["turn"][0, len(short):] == -1).all()
    outputs = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                    position_ids=batch["position_ids"])
    assert torch.isfinite(outputs.logits).all()
    loss, logs = PackedNLL()(model, batch)
    assert torch.isfinite(loss) and logs["nll/tokens"] > 0


def test_a_turn_never_sees_another_turn(model_and_tokenizer) -> None:
    _, tokenizer = model_and_tokenizer
    packed = pack(_examples(tokenizer)[:3])
    batch = collate_packed([packed], tokenizer.pad_token_id)
    mask, turn = batch["attention_mask"][0, 0], batch["turn"][0]
    for q in range(len(turn)):
        seen = set(turn[mask[q]].tolist())
        assert seen <= {0, int(turn[q])}
        assert mask[q, : q + 1].any() and not mask[q, q + 1 :].any()  # causal


def test_packing_is_refused_with_contrastive_terms_or_type_first_prompts(model_dir: Path, tmp_path: Path) -> None:
    from fewner.train.config import load_config

    stage = {"data": {"path": "mini.conll", "types": TYPES}, "packing": True,
             "loss": [{"name": "nll"}, {"name": "attn_contrastive", "weight": 0.01}]}
    with pytest.raises(ConfigError, match="packing"):
        load_config(write_train_config(tmp_path, model_dir, {"target": stage}, layout="sentence_first"))
    stage["loss"] = [{"name": "nll"}]
    with pytest.raises(ConfigError, match="sentence_first"):
        load_config(write_train_config(tmp_path, model_dir, {"target": stage}))


def test_a_packed_stage_trains_and_lowers_the_loss(model_dir: Path, tmp_path: Path) -> None:
    from fewner.train.config import load_config
    from fewner.train.stages import run_training

    stage = {"data": {"path": "mini.conll", "types": TYPES}, "packing": True, "epochs": 6,
             "batch_size": 2, "lr": 3e-3, "loss": [{"name": "nll"}]}
    config = load_config(write_train_config(tmp_path, model_dir, {"target": stage}, layout="sentence_first"))
    run_training(config, tmp_path / "run")
    log = [json.loads(x) for x in (tmp_path / "run" / "target" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if r["event"] == "step"]
    assert len(steps) == 12  # 4 sentences / 2 per step x 6 epochs: one item per sentence
    assert steps[-1]["nll"] < steps[0]["nll"]
    assert (tmp_path / "run" / "adapter" / "adapter_config.json").is_file()


def test_a_stage_with_negatives_asks_fewer_absent_types_and_says_so(model_dir: Path, tmp_path: Path) -> None:
    from fewner.train.config import load_config
    from fewner.train.stages import run_training

    stage = {"data": {"path": "mini.conll", "types": TYPES}, "packing": True, "negatives": 1, "epochs": 1,
             "batch_size": 2, "lr": 1e-3, "loss": [{"name": "nll"}]}
    config = load_config(write_train_config(tmp_path, model_dir, {"target": stage}, layout="sentence_first"))
    assert config.stages["target"].negatives == 1
    metrics = run_training(config, tmp_path / "run")
    assert metrics["stages"]["target"]["skipped"]["absent types not asked (negatives)"] > 0
    resolved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert resolved["stages"]["target"]["negatives"] == 1
    for bad in (-1, 1.5, True):
        stage["negatives"] = bad
        with pytest.raises(ConfigError, match="negatives"):
            load_config(write_train_config(tmp_path, model_dir, {"target": stage}, layout="sentence_first"))


def _tiny_mixture(root: Path, labels: dict | None = None) -> Path:
    (root / "corpus").mkdir(parents=True)
    rows = [
        "Ada\tB-person", "Lovelace\tI-person", "visited\tO", "Paris\tB-city", ".\tO", "She\tO",
        "liked\tO", "Lisp\tB-programming language", ".\tO", "",
        "Kim\tB-person", "uses\tO", "Python\tB-programming language", ".\tO", "",
    ]
    (root / "corpus" / "passages.bio").write_text("\n".join(rows) + "\n", encoding="utf-8")
    definition = {"Definition": "'city' refers to a large town.", "Guidelines": "-"}
    (root / "corpus" / "definitions.json").write_text(
        json.dumps({"city": {"gpt_answer": json.dumps(definition)}}), encoding="utf-8")
    source = root / "tiny-source.yaml"
    source.write_text(json.dumps({
        "licence": "test data",
        "datasets": [{"name": "tiny", "path": "corpus/passages.bio", "split_passages": True, "cap": 10}],
        "labels": labels or {"negatives": [1, 1], "drop_positive": 0.0, "max_labels": 4},
        "max_words": 6,
        "training": {"model": "MODEL", "definitions": "corpus/definitions.json", "definition_rate": 1.0,
                     "loop": {"epochs": 2, "batch_size": 2, "lr": 1e-3}},
    }), encoding="utf-8")
    return source


def test_a_stage_with_replay_also_trains_on_dealt_source_sentences(model_dir: Path, tmp_path: Path) -> None:
    """replay: {sentences: N, source: FILE} adds N sentences of the source file's mixture, each
    asked its own types and sampled absent ones, to the stage's packed data; the resolved config
    records it and the stage summary counts the replayed questions."""
    from fewner.train.config import load_config
    from fewner.train.stages import run_training

    source = _tiny_mixture(tmp_path / "data")
    stage = {"data": {"path": "mini.conll", "types": TYPES}, "packing": True, "epochs": 1, "batch_size": 2,
             "lr": 1e-3, "loss": [{"name": "nll"}], "replay": {"sentences": 2, "source": str(source)}}
    config = load_config(write_train_config(tmp_path, model_dir, {"target": stage}, layout="sentence_first"))
    logs: list[str] = []
    metrics = run_training(config, tmp_path / "run", log=logs.append)
    summary = metrics["stages"]["target"]
    assert summary["replayed_questions"] >= 4  # 2 sentences x (own types + 1 absent one)
    assert summary["packed_sequences"] == len(mini_sentences()) + 2
    assert any("replaying 2 source sentences" in line for line in logs)
    resolved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert resolved["stages"]["target"]["replay"] == {"sentences": 2, "source": str(source)}
    for bad, match in (({"sentences": -1}, "replay.sentences"), ({"sentences": 2, "source": ""}, "replay.source"),
                       ({"count": 2}, "unknown key")):
        stage["replay"] = bad
        with pytest.raises(ConfigError, match=match):
            load_config(write_train_config(tmp_path, model_dir, {"target": stage}, layout="sentence_first"))


def test_replay_without_its_source_corpora_stops_before_the_model_loads(tmp_path: Path) -> None:
    """A stage that replays from corpora not under data_root fails with every missing file named,
    before any model is read (the model here does not exist), through fewner.fit and
    run_training alike; the ner-sft-replay recipe is ner-sft with replay at the lr it was measured
    with, and nothing else."""
    import fewner
    from fewner.train.config import config_to_dict
    from fewner.train.recipes import recipe_config
    from fewner.train.replay import missing_replay_files

    source = _tiny_mixture(tmp_path / "data")
    (tmp_path / "data" / "corpus" / "definitions.json").unlink()
    replay = recipe_config("ner-sft-replay").stages["target"].replay
    replay.source = str(source)
    assert missing_replay_files(replay, tmp_path / "data") == [tmp_path / "data" / "corpus" / "definitions.json"]
    examples = [("Ada met Kim in Paris .", [(0, 3, "person"), (15, 20, "city")])]
    with pytest.raises(ConfigError, match=r"replay reads the source corpora.*1 file\(s\) are not there: .*definitions.json"):
        fewner.fit(examples, recipe="ner-sft-replay", model=str(tmp_path / "no-model"), data_root=str(tmp_path / "data"),
                   overrides={"stages.target.replay.source": str(source), "init_adapter": None}, out=tmp_path / "run")
    assert not (tmp_path / "run" / "target").exists()

    plain = config_to_dict(recipe_config("ner-sft"))
    replayed = config_to_dict(recipe_config("ner-sft-replay"))
    assert replayed["stages"]["target"].pop("replay") == {"sentences": 50, "source": "smollm2-source"}
    assert plain["stages"]["target"].pop("replay") is None
    assert (replayed["stages"]["target"].pop("lr"), plain["stages"]["target"].pop("lr")) == (1.0e-4, 3.0e-5)
    assert replayed == plain


def test_a_source_run_writes_a_model_folder_that_loads_and_predicts(model_dir: Path, tmp_path: Path) -> None:
    import fewner
    from fewner.train.source import load_source_settings, train_source

    source = _tiny_mixture(tmp_path)
    settings = load_source_settings(source, {"model": str(model_dir)})
    metrics = train_source(settings, tmp_path / "run", data_root=tmp_path, progress=False, log=lambda _m: None)
    data = json.loads((tmp_path / "run" / "data.json").read_text())
    assert data["datasets"]["tiny"]["pieces"] == 3  # the first passage cut after its first "."
    assert data["encoded"]["sentences"] == 3 and data["encoded"]["questions with a definition"] >= 1
    assert metrics["steps"] == 4  # 3 packed sequences, batch 2, 2 epochs
    predictor = fewner.load(tmp_path / "run" / "model")
    assert predictor.settings()["layout"] == "sentence_first"
    assert predictor.training["licence"] == "test data"
    assert isinstance(predictor.predict("Ada met Kim in Paris .", labels=["person"]), list)
    with pytest.raises(ConfigError, match="resume"):
        train_source(settings, tmp_path / "run", data_root=tmp_path, progress=False, log=lambda _m: None)


def test_a_full_source_run_trains_every_weight_and_its_folder_carries_them(model_dir: Path, tmp_path: Path) -> None:
    """full: true has no adapter: the weights themselves are saved (bfloat16) inside the model
    folder, which still loads with one call after it is moved."""
    import shutil

    import torch
    from safetensors.torch import load_file

    import fewner
    from fewner.train.source import load_source_settings, train_source

    source = _tiny_mixture(tmp_path)
    settings = load_source_settings(source, {"model": str(model_dir), "full": True, "device": "cpu",
                                             "loop.lr": 1e-2})
    train_source(settings, tmp_path / "run", data_root=tmp_path, progress=False, log=lambda _m: None)
    weights = tmp_path / "run" / "model" / "weights"
    assert not (tmp_path / "run" / "adapter").exists() and not (tmp_path / "run" / "model" / "adapter").exists()
    trained = load_file(str(weights / "model.safetensors"))
    before = load_file(str(model_dir / "model.safetensors"))
    name = next(k for k in trained if "mlp" in k)  # not a LoRA target: only full training moves it
    assert trained[name].dtype == torch.bfloat16
    assert not torch.allclose(trained[name].float(), before[name].float(), atol=1e-3)
    moved = tmp_path / "elsewhere"
    shutil.move(str(tmp_path / "run" / "model"), moved)
    predictor = fewner.load(moved)
    assert predictor.model == str((moved / "weights").resolve())
    assert predictor.adapter is None and predictor.training["full"] is True
    assert isinstance(predictor.predict("Ada met Kim in Paris .", labels=["person"]), list)


def test_a_sentence_with_no_asked_type_is_skipped_and_counted(model_and_tokenizer, tmp_path: Path) -> None:
    """negatives may be 0 and every own type dropped: such a sentence asks nothing (it used to
    crash the run with "nothing to pack")."""
    from fewner.spanmodel.source import load_mixture_file
    from fewner.train.source import build_items, load_source_settings

    _model, tokenizer = model_and_tokenizer
    source = _tiny_mixture(tmp_path, {"negatives": [0, 0], "drop_positive": 1.0, "max_labels": 4})
    settings = load_source_settings(source, {"model": "unused"})
    examples = load_mixture_file(settings.mixture, tmp_path).epoch(0, 0)
    items, counts = build_items(examples, settings, tokenizer, {})
    assert items == [] and counts["sentences with no question (skipped)"] == len(examples) == 3


@pytest.mark.parametrize("wrapped", [False, True], ids=["plain", "peft"])
def test_supervised_logits_equal_the_full_logits_at_those_positions(model_and_tokenizer, wrapped: bool) -> None:
    from fewner.train.lora import LoraSettings, wrap
    from fewner.train.packing import supervised_logits

    model, tokenizer = model_and_tokenizer
    if wrapped:
        import copy

        model = wrap(copy.deepcopy(model), LoraSettings(r=4, alpha=8, dropout=0.0))
    items = packed_items(_examples(tokenizer), tokenizer.pad_token_id, {}).items
    batch = collate_packed(items[:3], tokenizer.pad_token_id)
    rows, cols = (batch["labels"][:, 1:] != -100).nonzero(as_tuple=True)
    with torch.no_grad():
        full = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                     position_ids=batch["position_ids"]).logits[rows, cols]
        chosen = supervised_logits(model, batch, rows, cols)
    assert chosen.shape == (len(rows), full.shape[-1]) and len(rows) > 0
    torch.testing.assert_close(chosen, full, atol=1e-5, rtol=1e-5)
