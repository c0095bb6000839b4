"""Conversion bookkeeping with a stand-in for transformers: atomic folders, pad token, markers.

The real conversion (20 s, 540 MB) is in tests/e2e/test_models_real.py.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from fewner.models import convert


class FakeTokenizer:
    def __init__(
        self, pad: str | None, eos: str | None = "<eos>", unk: str | None = "<unk>"
    ) -> None:
        self.pad_token, self.eos_token, self.unk_token = pad, eos, unk
        self.chat_template = "{{ messages }}"
        self._vocab = {t: i for i, t in enumerate(t for t in ("<unk>", "<eos>", "<pad>") if t)}

    def get_vocab(self) -> dict[str, int]:
        return self._vocab

    @property
    def pad_token_id(self) -> int | None:
        return self._vocab.get(self.pad_token) if self.pad_token else None

    def save_pretrained(self, folder: str) -> None:
        Path(folder, "tokenizer.json").write_text(json.dumps({"pad": self.pad_token}))


class FakeModel:
    def __init__(self, fail_while_saving: bool) -> None:
        self.config = types.SimpleNamespace(quantization_config={"quant_method": "gguf"})
        self.generation_config = types.SimpleNamespace(pad_token_id=None)
        self.hf_quantizer = object()
        self.fail = fail_while_saving

    def save_pretrained(self, folder: str) -> None:
        assert not hasattr(self.config, "quantization_config") and self.hf_quantizer is None
        Path(folder, "config.json").write_text(json.dumps(vars(self.config)))
        if self.fail:
            raise RuntimeError("disk full")
        Path(folder, "model.safetensors").write_bytes(b"0" * 64)


@pytest.fixture
def fake_transformers(monkeypatch: pytest.MonkeyPatch):
    """Install stand-ins for torch and transformers; returns the knobs the tests turn."""
    knobs = {"fail": False, "tokenizer": lambda: FakeTokenizer(pad="<eos>"), "calls": 0}

    def load_model(folder, gguf_file, dtype):
        knobs["calls"] += 1
        return FakeModel(knobs["fail"])

    tf = types.ModuleType("transformers")
    tf.__version__ = "0.0-fake"
    tf.AutoTokenizer = types.SimpleNamespace(
        from_pretrained=lambda folder, gguf_file: knobs["tokenizer"]()
    )
    tf.AutoModelForCausalLM = types.SimpleNamespace(from_pretrained=load_model)
    torch = types.ModuleType("torch")
    torch.float32 = "float32"
    monkeypatch.setitem(sys.modules, "transformers", tf)
    monkeypatch.setitem(sys.modules, "torch", torch)
    return knobs


def _gguf(tmp_path: Path) -> Path:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF")
    return path


def test_conversion_writes_a_finished_folder_and_nothing_else(tmp_path, fake_transformers) -> None:
    target = tmp_path / "hf" / "m"
    report = convert.convert_gguf(_gguf(tmp_path), target, "ab" * 32)
    assert convert.is_converted(target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["m"]  # no temp folders left
    assert (target / "model.safetensors").is_file()
    config = json.loads((target / "config.json").read_text())
    assert "quantization_config" not in config and config["pad_token_id"] == 0
    assert report.pad_token == "<unk>" and "replaces EOS" in report.pad_token_source
    assert report.chat_template and report.folder_bytes > 0
    assert convert.read_report(target) == report
    assert target.stat().st_mode & 0o777 == 0o755
    assert (target / "model.safetensors").stat().st_mode & 0o777 == 0o644


def test_crash_while_saving_leaves_no_folder(tmp_path, fake_transformers) -> None:
    fake_transformers["fail"] = True
    target = tmp_path / "hf" / "m"
    with pytest.raises(RuntimeError, match="disk full"):
        convert.convert_gguf(_gguf(tmp_path), target, "ab" * 32)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_folder_of_an_older_recipe_is_replaced(tmp_path, fake_transformers) -> None:
    target = tmp_path / "hf" / "m"
    target.mkdir(parents=True)
    (target / convert.MARKER).write_text(json.dumps({"source": "x"}))  # old/unreadable marker
    assert not convert.is_converted(target)
    convert.convert_gguf(_gguf(tmp_path), target, "ab" * 32)
    assert convert.is_converted(target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["m"]


def test_hf_path_converts_once(tmp_path, fake_transformers, monkeypatch) -> None:
    import fewner.models as models

    monkeypatch.setenv("FEWNER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(models, "gguf_path", lambda name: _gguf(tmp_path))
    first = models.hf_path("smollm2-135m-instruct")
    assert first == str(tmp_path / "cache" / "hf" / "smollm2-135m-instruct")
    assert models.hf_path("SmolLM2-135M-Instruct") == first
    assert fake_transformers["calls"] == 1


@pytest.mark.parametrize(
    ("pad", "eos", "unk", "expected"),
    [
        ("<pad>", "<eos>", "<unk>", "<pad>"),  # a real pad token is kept
        (None, "<eos>", "<unk>", "<unk>"),  # missing: an existing non-EOS special token
        ("<eos>", "<eos>", None, "<eos>"),  # nothing else available: EOS, recorded as such
    ],
)
def test_pad_token_choice(pad, eos, unk, expected) -> None:
    tok = FakeTokenizer(pad=pad, eos=eos, unk=unk)
    chosen, why = convert.choose_pad_token(tok)
    assert chosen == expected == tok.pad_token
    assert why


def test_hf_path_rechecks_after_waiting_for_the_lock(tmp_path, fake_transformers, monkeypatch):
    """A process that waited while another converted must reuse that folder, not convert."""
    import contextlib

    import fewner.models as models

    monkeypatch.setenv("FEWNER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(models, "gguf_path", lambda name: _gguf(tmp_path))

    @contextlib.contextmanager
    def other_process_finishes_first(name):
        convert.convert_gguf(_gguf(tmp_path), models.converted_path("gemma3-270m"), "ab" * 32)
        yield

    monkeypatch.setattr(models, "cache_lock", other_process_finishes_first)
    models.hf_path("gemma3-270m")
    assert fake_transformers["calls"] == 1  # only the "other process" converted


def test_hf_path_rejects_a_plain_file(tmp_path) -> None:
    from fewner.errors import ModelNotAvailableError
    from fewner.models import hf_path

    with pytest.raises(ModelNotAvailableError, match="is a file"):
        hf_path(str(_gguf(tmp_path)))
