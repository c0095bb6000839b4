"""The span model on a tiny random encoder: span enumeration, scores, decoding, windows with
exact offsets, label caching, batching invariance, training, save -> load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fewner.spanmodel.batching import encode_words, label_text, span_mask, span_targets
from fewner.spanmodel.config import SpanModelConfig
from fewner.spanmodel.decode import decode_spans
from fewner.types import Sentence
from tests.tiny_models import tiny_encoder


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory) -> Path:
    return tiny_encoder(tmp_path_factory.mktemp("enc") / "bert")


@pytest.fixture()
def model(encoder_dir):
    from fewner.spanmodel.span_model import SpanModel

    torch.set_num_threads(1)
    return SpanModel.build(SpanModelConfig(encoder=str(encoder_dir), max_width=4, hidden=16, dropout=0.0))


def test_label_text_reads_tag_names_as_words():
    assert label_text("creative-work") == "creative work"
    assert label_text("Gene_or_gene_product") == "Gene or gene product"


def test_config_rejects_bad_values():
    from fewner.errors import ConfigError

    with pytest.raises(ConfigError, match="max_width"):
        SpanModelConfig(max_width=0)
    with pytest.raises(ConfigError, match="unknown span model setting"):
        SpanModelConfig.from_dict({"widht": 3})


def test_span_mask_covers_exactly_the_spans_inside_each_sentence():
    words = torch.tensor([[True, True, True], [True, False, False]])
    mask = span_mask(words, 2)
    assert mask[0].tolist() == [[True, True], [True, True], [True, False]]
    assert mask[1].tolist() == [[True, False], [False, False], [False, False]]


def test_span_targets_place_mentions_and_skip_too_wide_ones():
    t = span_targets([[(0, 2, 1), (1, 6, 0)]], n_words=6, max_width=3, n_labels=2)
    assert t.sum() == 1 and t[0, 0, 1, 1] == 1


def test_encode_words_keeps_whole_words_within_the_window(model):
    words = [["peter", "blackburn", "reports", "unbelievably", "long"], ["eu"]]
    full = encode_words(model.tokenizer, words, 256)
    assert full.kept == [5, 1]
    cut = encode_words(model.tokenizer, words, 8)
    assert 0 < cut.kept[0] < 5 and cut.input_ids.size(1) <= 8
    # every kept word's first subword is inside the window
    assert int(cut.word_index[0, : cut.kept[0]].max()) < 8


def test_decode_flat_is_greedy_by_score_and_never_overlaps():
    probs = torch.zeros(1, 4, 3, 2)
    probs[0, 0, 1, 0] = 0.9  # words 0-1, label 0
    probs[0, 1, 0, 1] = 0.95  # word 1, label 1 (overlaps the first)
    probs[0, 3, 0, 0] = 0.6
    valid = torch.ones(1, 4, 3, dtype=torch.bool)
    flat = decode_spans(probs, valid, 0.5)[0]
    assert [(a, b, c) for a, b, c, _ in flat] == [(1, 2, 1), (3, 4, 0)]
    nested = decode_spans(probs, valid, 0.5, nested=True)[0]
    assert [(a, b, c) for a, b, c, _ in nested] == [(0, 2, 0), (1, 2, 1), (3, 4, 0)]


def test_scores_do_not_depend_on_batch_composition_or_label_order(model):
    a = [["peter", "met", "nadim", "in", "brussels"]]
    b = a + [["eu", "rejects", "german", "call", "to", "boycott", "british", "lamb"]]
    labels = ["person", "city"]
    words_a = encode_words(model.tokenizer, a, 64)
    words_b = encode_words(model.tokenizer, b, 64)
    model.net.eval()
    with torch.inference_mode():
        la = model.label_vectors(labels)
        lb = model.label_vectors(list(reversed(labels)))
        one = model.net(words_a, la)[0]
        two = model.net(words_b, lb)[0, : one.size(0)]
    valid = model.net.valid_spans(words_a)[0]
    assert torch.allclose(one[valid], two[valid].flip(-1), atol=1e-5)


def test_label_vectors_are_cached_by_text(model):
    first = model.label_vectors(["person"])
    assert "person" in model._label_cache
    again = model.label_vectors(["person", "person"])
    assert torch.equal(first[0], again[1])


def _predictor(model, **kw):
    from fewner.spanmodel.predictor import SpanPredictor

    return SpanPredictor(model, ["PER", "LOC"], threshold=0.3, **kw)


def _trained(model, steps=30):
    from fewner.spanmodel.pretrain import sentence_batches
    from fewner.spanmodel.source import Example
    from fewner.spanmodel.train import TrainSettings, train

    examples = [
        Example(("peter", "met", "nadim", "in", "brussels"), ((0, 1, "person"), (2, 3, "person"), (4, 5, "place")), ("person", "place")),
        Example(("eu", "rejects", "german", "call"), (), ("person", "place")),
    ]
    settings = TrainSettings(steps=steps, batch_size=2, lr_encoder=1e-3, lr_head=1e-2, warmup=0.0,
                             bf16=False, device="cpu")  # these tests compare with CPU tensors
    return train(model, sentence_batches(examples, 2, 0), settings)


def test_training_lowers_the_loss_and_finds_the_mentions(model):
    metrics = _trained(model, steps=40)
    assert metrics["final_loss"] < 1.0
    spans, _ = model.predict_words([["peter", "met", "nadim", "in", "brussels"]], ["person", "place"], threshold=0.5)
    assert [(a, b, c) for a, b, c, _ in spans[0]] == [(0, 1, 0), (2, 3, 0), (4, 5, 1)]


def test_training_resumes_exactly_from_its_checkpoint(encoder_dir, tmp_path):
    from fewner.spanmodel.pretrain import sentence_batches
    from fewner.spanmodel.source import Example
    from fewner.spanmodel.span_model import SpanModel
    from fewner.spanmodel.train import TrainSettings, train

    config = SpanModelConfig(encoder=str(encoder_dir), max_width=4, hidden=16, dropout=0.0)
    ex = [Example(("peter", "met", "nadim"), ((0, 1, "person"),), ("person", "place"))] * 3
    settings = TrainSettings(steps=6, batch_size=2, bf16=False, checkpoint_every=3, log_every=1)
    whole = SpanModel.build(config)
    train(whole, sentence_batches(ex, 2, 0), settings, tmp_path / "a")
    batches = sentence_batches(ex, 2, 0)

    def crashing(step):  # the job dies while drawing its fifth batch
        if step == 4:
            raise KeyboardInterrupt
        return batches(step)

    with pytest.raises(KeyboardInterrupt):
        train(SpanModel.build(config), crashing, settings, tmp_path / "b")
    resumed = SpanModel.build(config)
    metrics = train(resumed, sentence_batches(ex, 2, 0), settings, tmp_path / "b")
    assert metrics["resumed_at"] == 3
    for (name, p), q in zip(whole.net.state_dict().items(), resumed.net.state_dict().values(), strict=True):
        assert torch.allclose(p, q, atol=1e-6), (name, float((p - q).abs().max()))
    logged = [json.loads(line)["step"] for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert logged == [1, 2, 3, 4, 5, 6]  # step 4, logged before the crash, is not there twice


def test_a_folder_with_another_runs_checkpoint_is_refused_not_resumed(encoder_dir, tmp_path):
    from fewner.errors import ConfigError
    from fewner.spanmodel.adapt import examples_digest
    from fewner.spanmodel.pretrain import sentence_batches
    from fewner.spanmodel.source import Example
    from fewner.spanmodel.span_model import SpanModel
    from fewner.spanmodel.train import TrainSettings, train

    config = SpanModelConfig(encoder=str(encoder_dir), max_width=4, hidden=16, dropout=0.0)
    first = [Example(("peter", "met", "nadim"), ((0, 1, "person"),), ("person",))] * 2
    second = [Example(("peter", "met", "nadim"), ((2, 3, "place"),), ("place",))] * 2
    settings = TrainSettings(steps=2, batch_size=2, bf16=False, checkpoint_every=1, log_every=1)

    def run(examples):
        describe = {"adapt": {"examples_sha256": examples_digest(examples)}}
        return train(SpanModel.build(config), sentence_batches(examples, 2, 0), settings, tmp_path, describe=describe)

    run(first)
    assert run(first)["resumed_at"] == 2  # the same run again: already done
    with pytest.raises(ConfigError, match="another training run.*adapt"):
        run(second)


def test_long_sentences_are_predicted_in_windows_with_exact_offsets(model):
    _trained(model, steps=40)
    predictor = _predictor(model, label_names={"PER": "person", "LOC": "place"})
    predictor.window_words, predictor.window_overlap = 7, 3
    text = " ".join(["peter met nadim in brussels ."] * 6)
    windowed = predictor.predict_sentences(
        [Sentence.from_words(text.split(), [], id="long")], ["PER", "LOC"]
    )
    assert windowed.stats["sentences split into windows"] == 1 and windowed.stats["windows"] > 1
    entities = windowed.entities(0)
    assert entities and all(text[e.start : e.end] == e.text for e in entities)
    assert {e.text for e in entities} <= {"peter", "nadim", "brussels"}
    ordered = sorted((e.start, e.end) for e in entities)
    assert all(a[1] <= b[0] for a, b in zip(ordered, ordered[1:], strict=False))  # still flat
    predictor.window_words = 1000
    whole = predictor.predict_sentences([Sentence.from_words(text.split(), [], id="long")], ["PER", "LOC"])
    assert "sentences split into windows" not in whole.stats


def test_save_load_gives_the_same_predictions(model, tmp_path):
    from fewner.predictors import load_folder

    _trained(model, steps=20)
    predictor = _predictor(model, label_names={"PER": "person", "LOC": "place"})
    texts = ["peter met nadim in brussels", "eu rejects german call"]
    before = predictor.predict(texts)
    predictor.save(tmp_path / "m")
    import fewner.spanmodel.predictor  # noqa: F401 - registers the kind (until it is lazy)

    loaded = load_folder(tmp_path / "m")
    assert loaded.predict(texts) == before
    assert loaded.settings()["label_names"] == {"PER": "person", "LOC": "place"}


def test_a_lora_encoder_saves_only_heads_and_adapter_and_loads_merged(encoder_dir, tmp_path):
    from fewner.spanmodel.span_model import ADAPTER_DIR, SpanModel

    config = SpanModelConfig(encoder=str(encoder_dir), max_width=4, hidden=16, dropout=0.0, lora_r=4)
    model = SpanModel.build(config)
    assert model.lora_active
    _trained(model, steps=15)
    words = [["peter", "met", "nadim", "in", "brussels"]]
    before, _ = model.predict_words(words, ["person", "place"], threshold=0.2)
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / ADAPTER_DIR / "adapter_config.json").is_file()
    loaded = SpanModel.load(tmp_path / "m")
    assert not loaded.lora_active  # merged into a plain encoder for inference
    after, _ = loaded.predict_words(words, ["person", "place"], threshold=0.2)
    assert [(a, b, c) for a, b, c, _ in after[0]] == [(a, b, c) for a, b, c, _ in before[0]]
    for (_, _, _, p), (_, _, _, q) in zip(before[0], after[0], strict=True):
        assert abs(p - q) < 1e-4


def test_a_low_rank_delta_round_trips_and_full_rank_is_exact(encoder_dir, tmp_path):
    from fewner.spanmodel.delta import apply_delta, encode_delta
    from fewner.spanmodel.span_model import DELTA_FILE, SpanModel
    from fewner.spanmodel.train import TrainSettings

    config = SpanModelConfig(encoder=str(encoder_dir), max_width=4, hidden=16, dropout=0.0)
    model = SpanModel.build(config)
    base = SpanModel.build(config).net.encoder.state_dict()
    _trained(model, steps=10)
    trained = model.net.encoder.state_dict()
    # the embeddings did not change (nothing froze them here, so they did): every entry is a delta
    exact = encode_delta(trained, base, rank=10**6)
    rebuilt = SpanModel.build(config).net.encoder
    apply_delta(rebuilt, exact)
    for name, value in rebuilt.state_dict().items():
        assert torch.allclose(value, trained[name], atol=2e-3), name
    model.save(tmp_path / "m", delta_rank=4)
    assert (tmp_path / "m" / DELTA_FILE).is_file()
    loaded = SpanModel.load(tmp_path / "m")
    words = [["peter", "met", "nadim", "in", "brussels"]]
    assert len(loaded.predict_words(words, ["person"], threshold=0.2)[0]) == 1
    assert TrainSettings().freeze_embeddings is False


def test_sorted_sub_batches_return_the_same_spans_in_input_order(model):
    _trained(model, steps=15)
    words = [["peter"] * n for n in (7, 1, 5, 2, 9, 3)]
    words = [["peter", "met", "nadim", "in", "brussels"][: n % 5 + 1] + w for n, w in enumerate(words)]
    together, kept = model.predict_words(words, ["person", "place"], threshold=0.2, batch_size=2)
    assert kept == [len(w) for w in words]
    for sentence, found in zip(words, together, strict=True):
        alone, _ = model.predict_words([sentence], ["person", "place"], threshold=0.2)
        assert [s[:3] for s in found] == [s[:3] for s in alone[0]]
        assert all(abs(a[3] - b[3]) < 1e-4 for a, b in zip(found, alone[0], strict=True))


@pytest.mark.parametrize("precision", ["bfloat16", "int8"])
def test_lower_precisions_predict_close_to_float32_and_refuse_to_save(model, precision, tmp_path):
    from fewner.errors import ConfigError

    _trained(model, steps=15)
    words = [["peter", "met", "nadim", "in", "brussels"], ["nadim", "left"]]
    full, _ = model.predict_words(words, ["person", "place"], threshold=0.05)
    model.set_precision(precision)
    assert model.precision == precision and model.quantized == (precision == "int8")
    low, _ = model.predict_words(words, ["person", "place"], threshold=0.05)
    assert len(low) == 2 and all(0.0 <= s[3] <= 1.0 for found in low for s in found)
    common = {(b, *s[:3]): s[3] for b, found in enumerate(full) for s in found}
    close = [  # bf16 keeps ~3 digits of a logit
        abs(common[(b, *s[:3])] - s[3]) < 0.05
        for b, found in enumerate(low) for s in found if (b, *s[:3]) in common
    ]
    assert close and all(close), (full, low)
    with pytest.raises(ConfigError, match="save it before"):
        model.save(tmp_path / "m")
    with pytest.raises(ConfigError, match="reload"):
        model.set_precision("float32")
    with pytest.raises(ConfigError, match="precision must be"):
        model.set_precision("fp8")


def test_inference_folds_the_span_projection_into_the_labels_with_the_same_logits(model):
    """forward() at inference skips the span layer's hidden x hidden projection (folded into the
    label vectors); the logits must be those of the plain span vectors."""
    from fewner.spanmodel.batching import encode_labels

    _trained(model, steps=5)
    net = model.net.eval()
    words = encode_words(model.tokenizer, [["peter", "met", "nadim"], ["in", "brussels"]], 64)
    with torch.no_grad():
        labels = net.label_vectors(encode_labels(model.tokenizer, ["person", "place", "thing"]))
        plain = torch.einsum("bnkd,ld->bnkl", net.span_vectors(words), labels) + net.bias
        folded = net(words, labels)
    assert folded.shape == plain.shape == (2, 3, 4, 3)
    assert torch.allclose(folded, plain, atol=1e-5), (folded - plain).abs().max()


def test_devices_are_resolved_and_a_missing_gpu_is_a_clear_error(model):
    from fewner.errors import ConfigError
    from fewner.spanmodel.span_model import resolve_device

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert model.to("cpu").device.type == "cpu"
    with pytest.raises(ConfigError, match="not a device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            model.to("cuda")
    model.set_precision("int8")
    with pytest.raises(ConfigError, match="CPU only"):
        model.to("cuda:0")


def test_training_settings_device_is_not_part_of_a_runs_identity(encoder_dir, tmp_path):
    """A run checkpointed with device=cpu resumes under device=auto (another machine's GPU)."""
    from dataclasses import replace

    from fewner.spanmodel.source import Example
    from fewner.spanmodel.span_model import SpanModel
    from fewner.spanmodel.train import TrainSettings, train

    config = SpanModelConfig(encoder=str(encoder_dir), max_width=4, hidden=16, dropout=0.0)
    examples = [Example(("peter", "met", "nadim"), ((0, 1, "person"),), ("person",))] * 2
    settings = TrainSettings(steps=2, batch_size=2, bf16=False, checkpoint_every=2, device="cpu")
    train(SpanModel.build(config, seed=1), lambda step: examples, settings, tmp_path / "run")
    again = SpanModel.build(config, seed=1)
    metrics = train(again, lambda step: examples, replace(settings, device="auto"), tmp_path / "run")
    assert metrics["resumed_at"] == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (the device machine)")
def test_a_gpu_predicts_what_the_cpu_does_trains_there_and_saves_for_the_cpu(model, tmp_path):
    from fewner.spanmodel.span_model import SpanModel

    _trained(model, steps=20)
    words = [["peter", "met", "nadim", "in", "brussels"], ["nadim", "left"]]
    on_cpu, _ = model.predict_words(words, ["person", "place"], threshold=0.1)
    on_gpu, _ = model.to("cuda").predict_words(words, ["person", "place"], threshold=0.1)
    assert [[s[:3] for s in f] for f in on_gpu] == [[s[:3] for s in f] for f in on_cpu]
    assert all(abs(a[3] - b[3]) < 1e-3 for f, g in zip(on_cpu, on_gpu, strict=True) for a, b in zip(f, g, strict=True))
    metrics = _trained_on(model, "cuda")
    assert model.device.type == "cuda" and metrics["final_loss"] is not None
    trained, _ = model.predict_words(words, ["person", "place"], threshold=0.1)
    model.save(tmp_path / "m")
    loaded = SpanModel.load(tmp_path / "m")
    assert loaded.device.type == "cpu"
    again, _ = loaded.predict_words(words, ["person", "place"], threshold=0.1)
    assert [[s[:3] for s in f] for f in again] == [[s[:3] for s in f] for f in trained]


def _trained_on(model, device):
    from fewner.spanmodel.pretrain import sentence_batches
    from fewner.spanmodel.source import Example
    from fewner.spanmodel.train import TrainSettings, train

    examples = [Example(("peter", "met", "nadim"), ((0, 1, "person"),), ("person", "place"))] * 2
    return train(model, sentence_batches(examples, 2, 0), TrainSettings(steps=3, batch_size=2, device=device))
