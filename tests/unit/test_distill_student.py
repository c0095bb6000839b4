"""The student (fewner.distill.student) and its training loop on a tiny random BERT."""

from __future__ import annotations

import pytest
import torch

from fewner.distill.schedules import make_schedule
from fewner.distill.student import Student
from fewner.distill.trainer import TrainSettings, train_student
from fewner.errors import ConfigError, ModelNotAvailableError
from tests.unit.distill_tiny import tiny_encoder, tiny_sentences

TYPES = ["PER", "LOC", "ORG", "MISC"]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return tiny_encoder(tmp_path_factory.mktemp("enc"))


def _student(encoder, seed=0, **kw) -> Student:
    return Student.build(str(encoder), TYPES, max_length=48, seed=seed, **kw)


def test_build_has_bio_head_and_layers_option(encoder):
    s = _student(encoder)
    assert s.model.config.num_labels == 9 and s.model.config.id2label[1] == "B-PER"
    assert len(_student(encoder, layers=1).model.base_model.encoder.layer) == 1
    with pytest.raises(ConfigError):
        _student(encoder, layers=5)


def test_weighted_loss_scales_and_zero_weight_gives_no_gradient(encoder):
    s = _student(encoder)
    s.model.eval()  # no dropout: the same forward pass each time
    items = s.encode(tiny_sentences()[:2])
    full, n = s.loss(s.collate(items, [1.0, 1.0]))
    half, _ = s.loss(s.collate(items, [0.5, 0.5]))
    assert n == sum(len(x.tokens) for x in tiny_sentences()[:2])
    assert torch.isclose(half, full / 2)
    s.model.zero_grad()
    zero, _ = s.loss(s.collate(items, [0.0, 0.0]))
    zero.backward()
    grads = [p.grad for p in s.model.parameters() if p.grad is not None]
    assert grads and all(torch.count_nonzero(g) == 0 for g in grads)


def test_training_fits_a_tiny_set_and_predicts_its_spans(encoder, tmp_path):
    s = _student(encoder)
    data = tiny_sentences()
    settings = TrainSettings(epochs=40, batch_size=5, lr=3e-3, weight_decay=0.0, checkpoint=False)
    summary = train_student(s, [], data, make_schedule("original"), settings, tmp_path)
    first, last = summary["epoch_records"][0], summary["epoch_records"][-1]
    assert last["mean_loss"] < first["mean_loss"] / 4
    assert last["original_examples"] == 5 and last["distilled_examples"] == 0
    predicted = s.predict([x.with_spans(()) for x in data], batch_size=2)
    assert [p.spans for p in predicted] == [x.spans for x in data]
    assert (tmp_path / "log.jsonl").read_text().count('"event": "epoch"') == 40


def test_predict_is_independent_of_batching_and_order(encoder):
    s = _student(encoder, seed=3)
    data = tiny_sentences()
    one = s.predict(data, batch_size=1)
    many = s.predict(list(reversed(data)), batch_size=4)
    assert [p.spans for p in one] == [p.spans for p in reversed(many)]
    assert [p.id for p in one] == [x.id for x in data]
    assert s.predict([], 8) == []


def test_save_load_round_trip_and_quantized_prediction(encoder, tmp_path):
    s = _student(encoder, seed=5)
    s.save(tmp_path / "student")
    loaded = Student.load(tmp_path / "student")
    assert loaded.types == TYPES and loaded.max_length == 48
    data = tiny_sentences()
    assert [p.spans for p in loaded.predict(data)] == [p.spans for p in s.predict(data)]
    quantized = Student.load(tmp_path / "student").quantize()
    assert len(quantized.predict(data)) == len(data)  # int8 may change near-ties, not shapes
    with pytest.raises(ConfigError):
        quantized.save(tmp_path / "q")
    with pytest.raises(ModelNotAvailableError):
        Student.load(tmp_path)


def test_resume_continues_exactly_like_an_uninterrupted_run(encoder, tmp_path):
    data = tiny_sentences()
    sched = make_schedule("cosine")
    settings = TrainSettings(epochs=3, batch_size=2, lr=1e-3, mix="loss", seed=1)
    straight = _student(encoder)
    train_student(straight, data[:3], data[2:], sched, settings, tmp_path / "a")

    interrupted = _student(encoder)
    short = TrainSettings(epochs=3, batch_size=2, lr=1e-3, mix="loss", seed=1)
    calls = []

    def stop_after_first_epoch(record):
        calls.append(record["epoch"])
        if record["epoch"] == 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_student(
            interrupted,
            data[:3],
            data[2:],
            sched,
            short,
            tmp_path / "b",
            on_epoch=stop_after_first_epoch,
        )
    resumed = _student(encoder)  # a fresh process: weights come from the checkpoint
    summary = train_student(resumed, data[:3], data[2:], sched, short, tmp_path / "b", resume=True)
    assert summary["resumed_at_epoch"] == 1
    assert [r["epoch"] for r in summary["epoch_records"]] == [0, 1, 2]
    for (name, a), b in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
