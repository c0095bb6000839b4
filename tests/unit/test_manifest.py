"""Saved model folders: what the manifest records, and the one-line errors for folders fewner
cannot load (a bare peft adapter, a newer fewner's folder, a broken manifest, another base
model, prompt settings overridden at load time)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import fewner
from fewner.errors import ConfigError, DataFormatError, ModelNotAvailableError
from fewner.predictors import load_folder
from fewner.predictors.dictionary import DictionaryPredictor
from fewner.predictors.manifest import MANIFEST_FILE, SCHEMA_VERSION, Manifest
from fewner.types import Sentence


def _support() -> list[Sentence]:
    return [Sentence.from_words("Peter lives in Paris".split(), [(0, 1, "PER"), (3, 4, "LOC")], id="a")]


def test_manifest_records_kind_labels_versions_and_settings(tmp_path: Path) -> None:
    folder = DictionaryPredictor(_support()).save(tmp_path / "dict")
    data = json.loads((folder / MANIFEST_FILE).read_text())
    assert data["schema"] == SCHEMA_VERSION and data["fewner_version"] == fewner.__version__
    assert data["kind"] == "dictionary" and data["labels"] == ["LOC", "PER"]
    assert data["settings"]["support"] == "support.jsonl" and data["created"]
    loaded = fewner.load(folder)
    assert loaded.predict("Peter in Paris") == [
        fewner.Entity(0, 5, "PER", "Peter"), fewner.Entity(9, 14, "LOC", "Paris")
    ]


def test_a_bare_peft_adapter_says_what_to_pass(tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "smollm2-135m-instruct", "peft_type": "LORA"})
    )
    with pytest.raises(ModelNotAvailableError) as info:
        fewner.load(adapter)
    message = str(info.value)
    assert "plain peft adapter" in message and "smollm2-135m-instruct" in message
    assert "adapter=" in message and "template=" in message


def test_a_folder_from_a_newer_fewner_is_refused_clearly(tmp_path: Path) -> None:
    folder = DictionaryPredictor(_support()).save(tmp_path / "dict")
    data = json.loads((folder / MANIFEST_FILE).read_text())
    data.update(schema=SCHEMA_VERSION + 1, fewner_version="9.0")
    (folder / MANIFEST_FILE).write_text(json.dumps(data))
    with pytest.raises(ModelNotAvailableError, match="fewner 9.0.*upgrade fewner"):
        load_folder(folder)


@pytest.mark.parametrize(
    ("content", "problem"),
    [("{not json", "unreadable manifest"), ("[1]", "JSON object"), ('{"kind": "x"}', "schema"),
     (json.dumps({"schema": 1, "kind": "dictionary", "labels": []}), "'settings' is missing"),
     (json.dumps({"schema": 1, "kind": "nope", "labels": [], "settings": {}}), "unknown predictor 'nope'")],
)
def test_broken_manifests_are_one_clear_error(tmp_path: Path, content: str, problem: str) -> None:
    (tmp_path / MANIFEST_FILE).write_text(content)
    with pytest.raises((ModelNotAvailableError, ConfigError), match=problem):
        load_folder(tmp_path)


def test_not_a_model_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailableError, match="not a fewner model folder"):
        Manifest.read(tmp_path)
    with pytest.raises(ModelNotAvailableError, match="no such model folder"):
        Manifest.read(tmp_path / "missing")


def test_an_adapter_trained_on_other_base_weights_is_refused(tmp_path: Path) -> None:
    from fewner.predictors.extractor import ExtractorPredictor

    folder = tmp_path / "m"
    ExtractorPredictor("smollm2-135m-instruct", ["PER"]).save(folder)
    data = json.loads((folder / MANIFEST_FILE).read_text())
    assert data["base_model"]["sha256"]  # the catalogue's hash is recorded
    data["base_model"]["sha256"] = "0" * 64
    (folder / MANIFEST_FILE).write_text(json.dumps(data))
    with pytest.raises(ModelNotAvailableError, match="install the model it was trained on"):
        fewner.load(folder)


def test_prompt_settings_of_a_saved_model_cannot_be_overridden(tmp_path: Path) -> None:
    from fewner.predictors.extractor import ExtractorPredictor

    folder = ExtractorPredictor("smollm2-135m-instruct", ["PER"], chat=True).save(tmp_path / "m")
    with pytest.raises(ConfigError, match="template is fixed by training"):
        fewner.load(folder, template="cllmfs")
    loaded = fewner.load(folder, batch_size=4, constrained=False)  # decoding may change
    assert loaded.batch_size == 4 and loaded.options["constrained"] is False
    assert loaded.options["chat"] is True  # the saved prompt setting came back


def test_given_definitions_must_cover_the_labels_generic_ones_otherwise() -> None:
    from fewner.predictors.extractor import ExtractorPredictor

    strict = ExtractorPredictor("smollm2-135m-instruct", definitions="conll2003")
    assert strict.labels == ["PER", "LOC", "ORG", "MISC"]  # the definitions name the labels
    with pytest.raises(ConfigError, match="weapon"):
        strict.resolve_labels(["PER", "weapon"])
    free = ExtractorPredictor("smollm2-135m-instruct")
    assert free.resolve_labels(["weapon"]) == ["weapon"]
    assert free.definitions_for(["weapon"]) == {"weapon": "any weapon mentioned"}


def test_fit_takes_pairs_records_and_sentences_and_says_what_is_wrong() -> None:
    pairs = [("Peter lives in Paris", [(0, 5, "PER"), (15, 20, "LOC")])]
    records = [{"text": "Peter lives in Paris", "entities": [{"start": 0, "end": 5, "label": "PER"}]}]
    assert fewner.fit(pairs, recipe="dictionary").labels == ["LOC", "PER"]
    assert fewner.fit(records, recipe="dictionary").labels == ["PER"]
    assert fewner.fit(_support(), ["PER"], recipe="dictionary").labels == ["PER"]
    with pytest.raises(ConfigError, match=r"examples\[0\]: entity 0 must be \(start, end, label\)"):
        fewner.fit([("Peter", [(0, 5)])], recipe="dictionary")
    with pytest.raises(DataFormatError, match=r"examples\[1\]:1: entity PER \[0, 99\) lies outside"):
        fewner.fit([("Paris", []), ("Peter", [(0, 99, "PER")])], recipe="dictionary")
    with pytest.raises(ConfigError, match="unknown recipe 'nope'"):
        fewner.fit(pairs, recipe="nope")
