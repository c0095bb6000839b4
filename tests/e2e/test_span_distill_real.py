"""The shipped span model (fewner-span-minilm) distilled on a handful of real CoNLL-2003
sentences annotated by a teacher: recipe span-distill end to end, save and load (slow: loads the
real encoder and trains two short epochs, well under a minute on 2 cores)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

TYPES = ["PER", "LOC", "ORG", "MISC"]
NAMES = {"PER": "person", "LOC": "location", "ORG": "organization", "MISC": "miscellaneous"}


@pytest.mark.slow
def test_shipped_span_model_learns_a_teacher_annotation_file(shared_data, tmp_path):
    import torch

    import fewner
    from fewner.data.formats.jsonl import sentence_record
    from fewner.data.io import read_corpus
    from fewner.errors import ModelNotAvailableError
    from fewner.spanmodel.shipped import DEFAULT_SPAN_MODEL, shipped_path

    if shipped_path(DEFAULT_SPAN_MODEL) is None:
        pytest.skip("the shipped span model is not in this installation")
    torch.set_num_threads(2)
    train = [s for s in read_corpus(shared_data / "conll2003" / "train.txt").sentences if s.spans]
    test = read_corpus(shared_data / "conll2003" / "test.txt").sentences[:5]
    support, annotated = train[:4], train[4:16]
    # a `fewner annotate` output: the teacher's spans (here the gold ones) and a status each
    records = [{**sentence_record(s), "status": "ok", "dropped": [], "answer": "..."}
               for s in annotated]
    records[-1]["status"] = "unparseable"
    path = tmp_path / "ann.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    try:
        predictor = fewner.fit(
            support, TYPES, recipe="span-distill", annotations=str(path), label_names=NAMES,
            epochs=2, batch_size=8, out=tmp_path / "out", progress=False,
        )
    except ModelNotAvailableError as err:  # the shipped model is a delta over minilm-l6
        pytest.skip(str(err))
    manifest = json.loads((tmp_path / "out" / "model" / "fewner.json").read_text())
    assert manifest["kind"] == "span" and manifest["training"]["distilled"][0]["kept"] == 11
    assert manifest["training"]["base"]["stage"] == "pretrain"
    assert manifest["base_model"]["name"] == "minilm-l6"
    texts = [s.text for s in test]
    before = predictor.predict(texts)
    assert fewner.load(tmp_path / "out" / "model").predict(texts) == before
    found = [e for entities in before for e in entities]
    assert found and all(e.label in TYPES for e in found)
    assert all(texts[i][e.start : e.end] == e.text for i, es in enumerate(before) for e in es)
