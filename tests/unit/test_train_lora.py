"""LoRA presets, wrapping (only LoRA trains), atomic saving and loading to continue training."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("peft")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

from fewner.errors import ConfigError, ModelNotAvailableError  # noqa: E402
from fewner.train.lora import (  # noqa: E402
    ADAPTER_FILE,
    PRESETS,
    LoraSettings,
    load_adapter_weights,
    save_adapter,
    trainable_parameters,
    wrap,
)
from tests.unit.train_tiny import tiny_causal_lm  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("tiny"))


def _wrapped(model_dir: Path, preset: str = "obp-llm", seed: int = 0, **overrides):
    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(model_dir)
    return wrap(base, LoraSettings.from_preset(preset, **overrides))


def test_presets() -> None:
    assert PRESETS["obp-llm"] == LoraSettings(8, 16, 0.05, ("q_proj", "k_proj", "v_proj", "o_proj"))
    assert set(PRESETS["cllmfs"].target_modules) == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    assert LoraSettings.from_preset("obp-llm", r=4, alpha=None).alpha == 16
    with pytest.raises(ConfigError, match="unknown lora preset"):
        LoraSettings.from_preset("nope")
    with pytest.raises(ConfigError):
        LoraSettings(r=0)


@pytest.mark.parametrize("preset", ["obp-llm", "cllmfs"])
def test_only_lora_parameters_train(model_dir: Path, preset: str) -> None:
    model = _wrapped(model_dir, preset)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    hit = {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in names}
    assert hit == set(PRESETS[preset].target_modules)
    assert len(trainable_parameters(model)) == len(names)


def test_unknown_target_module_is_a_config_error(model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="cannot apply LoRA"):
        _wrapped(model_dir, target_modules=("c_attn",))


def test_save_and_load_roundtrip_exactly(model_dir: Path, tmp_path: Path) -> None:
    trained = _wrapped(model_dir, seed=1)
    with torch.no_grad():
        for p in trainable_parameters(trained):
            p.add_(torch.randn_like(p))
    folder = save_adapter(trained, tmp_path / "adapter")
    assert (folder / ADAPTER_FILE).is_file() and (folder / "adapter_config.json").is_file()
    save_adapter(trained, folder)  # replacing an existing adapter works
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left
    fresh = _wrapped(model_dir, seed=2)
    load_adapter_weights(fresh, folder)
    a = dict(trained.named_parameters())
    for name, p in fresh.named_parameters():
        assert torch.equal(p, a[name]), name


def test_load_refuses_other_settings_and_missing_files(model_dir: Path, tmp_path: Path) -> None:
    folder = save_adapter(_wrapped(model_dir), tmp_path / "a")
    with pytest.raises(ConfigError):
        load_adapter_weights(_wrapped(model_dir, r=4), folder)
    with pytest.raises(ConfigError):
        load_adapter_weights(_wrapped(model_dir, "cllmfs"), folder)
    with pytest.raises(ModelNotAvailableError):
        load_adapter_weights(_wrapped(model_dir), tmp_path / "missing")


def test_saved_adapter_loads_in_the_hf_backend(model_dir: Path, tmp_path: Path) -> None:
    from fewner.backends.hf import HFBackend

    folder = save_adapter(_wrapped(model_dir), tmp_path / "adapter")
    backend = HFBackend(str(model_dir), adapter=folder, device="cpu")
    assert "+lora:adapter@" in backend.model_id
    assert isinstance(backend.generate(["EU rejects"])[0], str)
