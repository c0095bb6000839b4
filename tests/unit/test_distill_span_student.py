"""The span model as a distillation student (fewner.distill.span_student, recipe span-distill,
`fewner distill` with student.kind span) on a tiny random span model and a scripted teacher."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from click.testing import CliRunner

from fewner.cli import cli
from fewner.data.io import write_corpus
from fewner.distill.config import StudentSpec, load_distill_config
from fewner.distill.schedules import SCHEDULES, make_schedule
from fewner.distill.trainer import TrainSettings, epoch_plan, train_student
from fewner.errors import ConfigError
from tests.unit.distill_tiny import tiny_encoder, tiny_sentences

TYPES = ["PER", "LOC", "ORG", "MISC"]
NAMES = {"PER": "person", "LOC": "location", "ORG": "organization", "MISC": "miscellaneous"}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A saved tiny span model folder (kind span): what a student starts from."""
    from fewner.spanmodel.config import SpanModelConfig
    from fewner.spanmodel.predictor import SpanPredictor
    from fewner.spanmodel.span_model import SpanModel

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("span-base")
    config = SpanModelConfig(encoder=str(tiny_encoder(root / "enc")), max_width=4, hidden=16)
    model = SpanModel.build(config, seed=0)
    return SpanPredictor(model, [], threshold=0.3, notes=["base note"]).save(root / "base")


def _student(base, **spec):
    from fewner.distill.span_student import SpanStudent

    options = {"label_names": NAMES, **spec}
    return SpanStudent.build(StudentSpec(kind="span", model=str(base), **options), TYPES)


@pytest.fixture(scope="module")
def annotations(tmp_path_factory):
    """`fewner annotate` output of the tiny sentences by a scripted teacher that misses t4's ORG
    and answers t3 with no dictionary at all (status unparseable)."""
    import fewner.backends.factory as factory
    from fewner.distill.annotate import gold_dictionary

    root = tmp_path_factory.mktemp("annotate")
    data = root / "gold.jsonl"
    write_corpus(tiny_sentences(), data, "jsonl")
    special = {"t4": ' {"PER": ["Nadim Ladki"], "LOC": ["Germany"]}', "t3": "no idea"}

    def answer(prompt: str) -> str:
        for s in tiny_sentences():
            if prompt.rstrip().endswith(f"Text: {s.text}\nAnswer:"):
                return special.get(s.id) or json.dumps(gold_dictionary(s, TYPES))
        raise AssertionError("unexpected prompt")

    real = factory.make_backend
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            factory,
            "make_backend",
            lambda kind, model, cache=None, **o: real("scripted", "t", cache=cache, answers=answer),
        )
        out = root / "ann.jsonl"
        args = ["annotate", str(data), "-o", str(out), "--demos-from", str(data), "--demos", "2",
                "--no-chat", "--batch-size", "2"]
        result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    statuses = [json.loads(x)["status"] for x in out.read_text().splitlines()]
    assert statuses.count("unparseable") == 1 and len(statuses) == 5
    return out


# ----- the student -----------------------------------------------------------------------------
def test_weighted_loss_scales_and_zero_weight_gives_no_gradient(base):
    student = _student(base)
    student.bf16 = False
    student.model.eval()  # no dropout: the same forward pass each time
    items = student.encode(tiny_sentences()[:2])
    assert items[0].labels == tuple(NAMES.values())  # every type asked of every sentence
    full, pairs = student.loss(student.collate(items, [1.0, 1.0]))
    half, _ = student.loss(student.collate(items, [0.5, 0.5]))
    assert pairs > 0 and torch.isclose(half, full / 2)
    one, _ = student.loss(student.collate(items[:1]))
    two, _ = student.loss(student.collate(items[1:]))
    mixed, _ = student.loss(student.collate(items, [1.0, 0.25]))
    assert torch.isclose(mixed, (one + 0.25 * two) / 2, rtol=1e-5)
    student.model.zero_grad()
    zero, _ = student.loss(student.collate(items, [0.0, 0.0]))
    zero.backward()
    grads = [p.grad for p in student.model.parameters() if p.grad is not None]
    assert grads and all(torch.count_nonzero(g) == 0 for g in grads)


def test_encoder_and_heads_learn_at_their_own_rates_and_layers_freeze(base):
    groups = _student(base).parameter_groups(1e-4)
    assert [g["lr"] for g in groups] == [1e-4, pytest.approx(1e-3)]
    frozen = _student(base, freeze_layers=1, lr_head=5e-3)
    groups = frozen.parameter_groups(1e-4)
    assert groups[1]["lr"] == 5e-3
    trainable = {id(p) for g in groups for p in g["params"]}
    encoder = frozen.model.encoder
    assert all(id(p) not in trainable for p in encoder.embeddings.parameters())
    assert all(id(p) not in trainable for p in encoder.encoder.layer[0].parameters())
    assert all(id(p) in trainable for p in encoder.encoder.layer[1].parameters())
    with pytest.raises(ConfigError, match="freeze_layers"):
        _student(base, freeze_layers=3)


@pytest.mark.parametrize("mix", ["sample", "loss"])
@pytest.mark.parametrize("name", SCHEDULES.names())
def test_every_schedule_and_mix_trains_the_span_student(base, tmp_path, name, mix):
    data = tiny_sentences()
    student = _student(base)
    schedule = make_schedule(name)
    settings = TrainSettings(epochs=2, batch_size=3, lr=1e-3, mix=mix, seed=1, checkpoint=False)
    summary = train_student(student, data[:3], data[2:], schedule, settings, tmp_path)
    for record in summary["epoch_records"]:
        plan = epoch_plan(schedule, record["epoch"], 2, 3, 3, mix, 1)
        assert record["distilled_examples"] == plan.count(0)
        assert record["original_examples"] == plan.count(1)
        assert record["mean_loss"] is None or record["mean_loss"] >= 0


def test_training_fits_a_tiny_set_and_predicts_its_spans(base, tmp_path):
    student = _student(base, lr_head=3e-2)
    student.bf16 = False
    data = tiny_sentences()
    settings = TrainSettings(epochs=60, batch_size=5, lr=3e-3, weight_decay=0.0, checkpoint=False)
    summary = train_student(student, [], data, make_schedule("original"), settings, tmp_path)
    first, last = summary["epoch_records"][0], summary["epoch_records"][-1]
    assert last["mean_loss"] < first["mean_loss"] / 4
    predicted = student.predict([x.with_spans(()) for x in data], batch_size=2)
    assert [p.spans for p in predicted] == [x.spans for x in data]
    assert [p.id for p in predicted] == [x.id for x in data]


def test_resume_continues_like_an_uninterrupted_run(base, tmp_path):
    data = tiny_sentences()
    sched = make_schedule("cosine")
    settings = TrainSettings(epochs=3, batch_size=2, lr=1e-3, mix="loss", seed=1)
    straight = _student(base)
    train_student(straight, data[:3], data[2:], sched, settings, tmp_path / "a")

    def stop_after_first_epoch(record):
        if record["epoch"] == 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_student(_student(base), data[:3], data[2:], sched, settings, tmp_path / "b",
                      on_epoch=stop_after_first_epoch)
    resumed = _student(base)  # a fresh process: weights come from the checkpoint
    summary = train_student(
        resumed, data[:3], data[2:], sched, settings, tmp_path / "b", resume=True
    )
    assert summary["resumed_at_epoch"] == 1
    for (name, a), b in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.allclose(a, b, atol=1e-6), name


def test_saved_student_is_a_span_model_folder_with_its_history(base, tmp_path):
    import fewner

    student = _student(base, threshold=0.2)
    folder = student.save(tmp_path / "student", training={"schedule": "cosine"})
    manifest = json.loads((folder / "fewner.json").read_text())
    assert manifest["kind"] == "span" and manifest["labels"] == TYPES
    assert manifest["training"]["stage"] == "distill"
    assert manifest["training"]["schedule"] == "cosine"
    assert manifest["training"]["label_names"] == NAMES
    assert manifest["notes"] == ["base note"]  # the base model's notes (licence) carry over
    loaded = fewner.load(folder)
    assert loaded.kind == "span" and loaded.threshold == 0.2 and loaded.label_names == NAMES
    data = [x.with_spans(()) for x in tiny_sentences()]
    assert [p.spans for p in loaded.predict_sentences(data).sentences] == [
        p.spans for p in student.predict(data)
    ]


def test_a_span_student_keeps_its_first_layers_and_saves_a_folder_that_loads_with_them(base, tmp_path):
    import fewner

    student = _student(base, layers=1)
    encoder = student.span_model.net.encoder
    assert len(encoder.encoder.layer) == 1 and encoder.config.num_hidden_layers == 1
    folder = student.save(tmp_path / "student", training={"schedule": "cosine"})
    loaded = fewner.load(folder)
    assert len(loaded.model.net.encoder.encoder.layer) == 1
    data = [x.with_spans(()) for x in tiny_sentences()]
    assert [p.spans for p in loaded.predict_sentences(data).sentences] == [
        p.spans for p in student.predict(data)
    ]
    with pytest.raises(ConfigError, match="student.layers must be in 1..2"):
        _student(base, layers=3)


# ----- configuration ---------------------------------------------------------------------------
def test_student_spec_checks_the_kind_and_its_keys():
    spec = StudentSpec()
    spec.check()
    assert spec.model == "minilm-l6"
    spec = StudentSpec(kind="span")
    spec.check()
    assert spec.model == "fewner-span-minilm"
    for bad, match in (
        (StudentSpec(kind="crf"), "student.kind"),
        (StudentSpec(label_names={"PER": "person"}), "student.label_names applies to the span"),
        (StudentSpec(lr_head=1e-3), "student.lr_head applies"),
        (StudentSpec(kind="span", threshold=1.5), "student.threshold"),
    ):
        with pytest.raises(ConfigError, match=match):
            bad.check()


def test_span_distill_preset_and_label_names_outside_the_types():
    config = load_distill_config(None, recipe="span-distill", group="D")
    assert config.student.kind == "span" and config.student.model == "fewner-span-minilm"
    assert config.student.label_names["PER"] == "person" and config.lr == 2e-5
    assert config.schedule == {"name": "simple_mix"}
    with pytest.raises(ConfigError, match="not among the run's types"):
        load_distill_config(None, recipe="span-distill", overrides=["types=[PER]"])


def test_a_model_of_another_kind_is_refused(tmp_path):
    from fewner.distill.span_student import load_span_base
    from fewner.predictors.dictionary import DictionaryPredictor

    folder = DictionaryPredictor(tiny_sentences(), TYPES).save(tmp_path / "dict")
    with pytest.raises(ConfigError, match="is a dictionary model"):
        load_span_base(folder)


# ----- fewner distill ----------------------------------------------------------------------------
def test_fewner_distill_with_a_span_student(base, annotations, tmp_path):
    import fewner

    data = tmp_path / "data"
    write_corpus(tiny_sentences(), data / "train.txt", "conll")
    write_corpus(tiny_sentences()[:3], data / "test.txt", "conll")
    config = {
        "recipe": "span-distill",
        "student": {"model": str(base)},
        "data_root": str(data),
        "original": {"path": "train.txt"},
        "distilled": [{"path": str(annotations)}],
        "test": {"path": "test.txt"},
        "epochs": 2,
        "batch_size": 4,
        "lr": 1e-3,
        "threads": 1,
    }
    path = tmp_path / "span.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["distill", "--config", str(path), "--out", str(out),
                                      "--group", "D"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    epochs = metrics["training"]["epoch_records"]
    assert [(e["distilled_examples"], e["original_examples"]) for e in epochs] == [(4, 0), (0, 5)]
    assert metrics["data"]["distilled"][0]["statuses"] == {"ok": 4, "unparseable": 1}
    manifest = json.loads((out / "student" / "fewner.json").read_text())
    assert manifest["kind"] == "span" and manifest["training"]["schedule"] == "simple_mix"
    assert manifest["training"]["base"] is None or isinstance(manifest["training"]["base"], dict)
    # the saved student serves through fewner.load and predict_file (what `fewner predict`
    # runs): the same scores as the run's test
    from fewner.predictors.files import predict_file

    loaded = fewner.load(out / "student")
    assert loaded.labels == TYPES
    gold = tiny_sentences()[:3]
    _, scores = predict_file(loaded, gold, tmp_path / "preds.jsonl", gold=gold, progress=False)
    assert scores.micro.f1 == pytest.approx(metrics["test"]["micro"]["f1"])


def test_fewner_predict_serves_a_span_student(base, tmp_path):
    from fewner.distill.span_student import SpanStudent

    student = SpanStudent.build(StudentSpec(kind="span", model=str(base)), TYPES)
    folder = student.save(tmp_path / "s")
    test_file = tmp_path / "test.txt"
    write_corpus(tiny_sentences()[:3], test_file, "conll")
    result = CliRunner().invoke(cli, ["predict", "--model", str(folder), str(test_file),
                                      "-o", str(tmp_path / "preds.jsonl")])
    assert result.exit_code == 0, result.output
    # the span model's own device and precision (int8: span models only)
    fast = CliRunner().invoke(cli, ["predict", "--model", str(folder), str(test_file), "-o",
                                    str(tmp_path / "fast.jsonl"), "--precision", "bfloat16",
                                    "--device", "cpu"])
    assert fast.exit_code == 0, fast.output
    assert len((tmp_path / "fast.jsonl").read_text().splitlines()) == 3
    wrong = CliRunner().invoke(cli, ["predict", str(test_file), "-o", str(tmp_path / "x.jsonl"),
                                     "--types", "PER", "--precision", "int8"])
    assert wrong.exit_code != 0 and "int8 works with a span model only" in wrong.output


# ----- recipe span-distill ------------------------------------------------------------------------
def test_fit_span_distill_from_python_on_an_annotate_output(base, annotations, tmp_path):
    import fewner

    support = tiny_sentences()[:2]
    predictor = fewner.fit(
        support, TYPES, recipe="span-distill", annotations=str(annotations), model=str(base),
        label_names=NAMES, schedule="sigmoid:4", mix="loss", epochs=2, lr=1e-3,
        out=tmp_path / "out", progress=False,
    )
    assert predictor.kind == "span" and predictor.labels == TYPES
    folder = tmp_path / "out" / "model"
    manifest = json.loads((folder / "fewner.json").read_text())
    training = manifest["training"]
    assert training["recipe"] == "span-distill" and training["schedule"] == "sigmoid(k=4)"
    assert training["original"] == 2 and training["distilled"][0]["kept"] == 4
    assert not (tmp_path / "out" / "run" / "checkpoint.pt").exists()
    assert (tmp_path / "out" / "run" / "log.jsonl").is_file()
    texts = ["Peter Blackburn reports from Brussels .", "EU rejects German call ."]
    assert fewner.load(folder).predict(texts) == predictor.predict(texts)
    # in memory, without a run folder: the annotations as sentences
    again = fewner.fit(support, TYPES, recipe="span-distill", annotations=tiny_sentences()[2:],
                       model=str(base), schedule="distilled", epochs=1, progress=False)
    assert again.training["distilled"] == [{"path": "<in memory>", "kept": 3}]


def test_fit_span_distill_errors(base, annotations):
    import fewner

    support = tiny_sentences()[:2]
    with pytest.raises(ConfigError, match="needs annotations="):
        fewner.fit(support, TYPES, recipe="span-distill", model=str(base))
    with pytest.raises(ConfigError, match="unknown schedule"):
        fewner.fit(support, TYPES, recipe="span-distill", annotations=str(annotations),
                   model=str(base), schedule="zigzag")
    with pytest.raises(ConfigError, match="statuses"):
        fewner.fit(support, TYPES, recipe="span-distill", annotations=str(annotations),
                   model=str(base), statuses=["fine"])
    with pytest.raises(ConfigError, match="fewner annotate"):
        fewner.fit(support, TYPES, recipe="span-distill", annotations="no/such.jsonl",
                   model=str(base))


def test_fewner_fit_cli_span_distill(base, annotations, tmp_path):
    support = tmp_path / "support.jsonl"
    write_corpus(tiny_sentences()[:2], support, "jsonl")
    out = tmp_path / "fit"
    result = CliRunner().invoke(cli, [
        "fit", str(support), "--recipe", "span-distill", "--model", str(base),
        "--labels", ",".join(TYPES), "--label-name", "PER=person",
        "--set", f"annotations={annotations}", "--set", "epochs=2", "--set", "schedule=cosine",
        "-o", str(out),
    ])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "model" / "fewner.json").read_text())
    assert manifest["kind"] == "span" and manifest["training"]["schedule"] == "cosine"
    assert manifest["settings"]["label_names"]["PER"] == "person"


def test_a_span_student_on_a_fresh_mpnet_encoder(tmp_path):
    """An MPNet encoder (mpnet-base's architecture, tiny and random) gets new span heads,
    trains with its lowest layer frozen, predicts and saves."""
    from transformers import AutoTokenizer, MPNetConfig, MPNetModel

    import fewner

    bert = tiny_encoder(tmp_path / "bert")
    tokenizer = AutoTokenizer.from_pretrained(bert)
    folder = tmp_path / "mpnet"
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = MPNetConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=80, pad_token_id=tokenizer.pad_token_id,
    )
    MPNetModel(config, add_pooling_layer=False).save_pretrained(folder)
    student = _student(folder, freeze_layers=1)
    assert student.model.encoder.config.model_type == "mpnet"
    settings = TrainSettings(epochs=1, batch_size=3, lr=1e-3, checkpoint=False)
    train_student(student, tiny_sentences(), [], make_schedule("distilled"), settings, tmp_path)
    saved = student.save(tmp_path / "student")
    data = [x.with_spans(()) for x in tiny_sentences()]
    assert [p.spans for p in fewner.load(saved).predict_sentences(data).sentences] == [
        p.spans for p in student.predict(data)
    ]
