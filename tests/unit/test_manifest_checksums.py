"""Saved and shipped model folders are verified before loading: ``save`` writes ``SHA256SUMS``
(every payload file, ``sha256sum`` format), and a folder whose files do not match it is refused
with the file's name and what to do."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

import fewner
from fewner.errors import ModelNotAvailableError
from fewner.predictors import load_folder
from fewner.predictors.dictionary import DictionaryPredictor
from fewner.predictors.manifest import CHECKSUMS_FILE, MANIFEST_FILE, Manifest, verify_checksums
from fewner.spanmodel.shipped import DEFAULT_SPAN_MODEL, shipped_path
from fewner.types import Sentence


def _saved(tmp_path: Path) -> Path:
    support = [
        Sentence.from_words("Peter lives in Paris".split(), [(0, 1, "PER"), (3, 4, "LOC")], id="a")
    ]
    return DictionaryPredictor(support).save(tmp_path / "dict")


def _flip_a_byte(path: Path, offset: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_save_lists_every_payload_file_in_sha256sum_format(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    lines = (folder / CHECKSUMS_FILE).read_text().splitlines()
    listed = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in lines}
    assert set(listed) == {"support.jsonl"}  # not the manifest (editable), not itself
    assert (
        listed["support.jsonl"]
        == hashlib.sha256((folder / "support.jsonl").read_bytes()).hexdigest()
    )


def test_an_untouched_folder_loads_and_its_manifest_stays_editable(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    assert fewner.load(folder).predict("Peter in Paris")
    data = json.loads((folder / MANIFEST_FILE).read_text())
    data["notes"] = ["edited by hand"]
    (folder / MANIFEST_FILE).write_text(json.dumps(data))
    assert load_folder(folder).labels == ["LOC", "PER"]


def test_a_changed_payload_byte_is_refused_naming_the_file(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    _flip_a_byte(folder / "support.jsonl", offset=3)
    with pytest.raises(ModelNotAvailableError) as info:
        fewner.load(folder)
    message = str(info.value)
    assert "support.jsonl does not match its sha256 in SHA256SUMS" in message
    assert "changed or corrupted" in message and f"delete {CHECKSUMS_FILE}" in message
    (folder / CHECKSUMS_FILE).unlink()  # the documented way out when the change was deliberate
    assert load_folder(folder).kind == "dictionary"


def test_missing_files_malformed_lists_and_paths_outside_are_refused(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    sums = folder / CHECKSUMS_FILE
    original = sums.read_text()
    (folder / "support.jsonl").rename(folder / "moved.jsonl")
    with pytest.raises(
        ModelNotAvailableError, match="support.jsonl is listed in SHA256SUMS but missing"
    ):
        Manifest.read(folder)
    (folder / "moved.jsonl").rename(folder / "support.jsonl")
    sums.write_text(original + "not a checksum line\n")
    with pytest.raises(ModelNotAvailableError, match=r"SHA256SUMS:2: not a sha256sum line"):
        Manifest.read(folder)
    sums.write_text(original + "0" * 64 + "  ../secret\n")
    with pytest.raises(ModelNotAvailableError, match="points outside the model folder"):
        Manifest.read(folder)
    sums.write_text(original + "0" * 64 + " *SHA256SUMS\n")  # a stale self-entry is ignored
    assert Manifest.read(folder).kind == "dictionary"


def test_a_folder_saved_before_checksums_loads_as_before(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    (folder / CHECKSUMS_FILE).unlink()
    _flip_a_byte(folder / "support.jsonl", offset=3)  # nothing recorded, nothing to compare
    verify_checksums(folder)
    assert Manifest.read(folder).kind == "dictionary"


def test_the_shipped_model_is_verified_and_a_tampered_copy_refused(tmp_path: Path) -> None:
    shipped = shipped_path(DEFAULT_SPAN_MODEL)
    if shipped is None:
        pytest.skip("the shipped span model is not in this installation")
    assert "fewner.json" in (shipped / CHECKSUMS_FILE).read_text()  # it also pins its manifest
    verify_checksums(shipped)
    copy = tmp_path / "copy"
    shutil.copytree(shipped, copy)
    _flip_a_byte(copy / "span" / "weights.safetensors", offset=-1)
    with pytest.raises(ModelNotAvailableError, match=r"span/weights.safetensors does not match"):
        Manifest.read(copy)


def test_a_saved_tiny_model_with_a_changed_weight_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from tests.contract.test_predictor_contract import build_student

    predictor, _ = build_student(tmp_path)
    folder = predictor.save(tmp_path / "saved")
    listed = (folder / CHECKSUMS_FILE).read_text()
    weights = sorted(p for p in folder.rglob("*.safetensors"))
    assert weights and all(p.relative_to(folder).as_posix() in listed for p in weights)
    assert load_folder(folder).labels == predictor.labels  # untouched: loads
    _flip_a_byte(weights[0], offset=-8)  # a byte of the tensor data, not the header
    rel = weights[0].relative_to(folder).as_posix()
    with pytest.raises(ModelNotAvailableError, match=f"{rel} does not match its sha256"):
        fewner.load(folder)
