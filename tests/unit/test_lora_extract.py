"""The rank-r adapter that stands in for a fully trained model (fewner/train/lora_extract.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from fewner.train.lora import _ATTENTION, _MLP
from fewner.train.lora_extract import extract_lora, extract_model_folder
from tests.unit.test_train_packing import _tiny_mixture
from tests.unit.train_tiny import tiny_causal_lm

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"))


def _tuned_state(model_dir: Path) -> dict[str, torch.Tensor]:
    """The tiny model with every linear weight and one norm moved by a random change."""
    torch.manual_seed(1)
    tuned = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    with torch.no_grad():
        for name, param in tuned.named_parameters():
            if name.endswith("proj.weight"):
                param.add_(0.05 * torch.randn_like(param))
        tuned.model.norm.weight.mul_(1.5)
    return tuned.state_dict()


def test_at_full_rank_the_adapter_reproduces_every_changed_linear_layer(model_dir: Path) -> None:
    tuned = _tuned_state(model_dir)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    width = min(base.config.hidden_size, base.config.intermediate_size)
    model, report = extract_lora(base, tuned, rank=width, target_modules=_ATTENTION + _MLP, dropout=0.0)
    assert report["energy_kept_min"] == pytest.approx(1.0, abs=1e-5)
    assert report["modules"] == 7 * base.config.num_hidden_layers
    # the norm's change is what an adapter cannot hold: it is named, not silently dropped
    assert "model.norm.weight" in report["left_out_largest"]
    assert report["left_out_relative_change_max"] == pytest.approx(0.5, rel=1e-3)
    expected = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    tuned["model.norm.weight"] = expected.state_dict()["model.norm.weight"]  # the one left-out change
    expected.load_state_dict(tuned)
    ids = torch.tensor([[5, 9, 17, 33, 2]])
    with torch.no_grad():
        got = model.eval()(ids).logits
        want = expected.eval()(ids).logits
    assert torch.allclose(got, want, atol=1e-4)


def test_a_lower_rank_keeps_the_largest_part_of_each_change(model_dir: Path) -> None:
    tuned = _tuned_state(model_dir)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    _model, low = extract_lora(base, tuned, rank=2, target_modules=_ATTENTION)
    assert low["modules"] == 4 * base.config.num_hidden_layers
    assert 0 < low["energy_kept_min"] <= low["energy_kept_mean"] < 1


def test_a_fully_trained_source_folder_becomes_an_adapter_folder(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import fewner
    from fewner.errors import ConfigError
    from fewner.train.source import load_source_settings, train_source

    source = _tiny_mixture(tmp_path)
    settings = load_source_settings(source, {"model": str(model_dir), "full": True, "device": "cpu"})
    train_source(settings, tmp_path / "run", data_root=tmp_path, progress=False, log=lambda _m: None)
    report = extract_model_folder(tmp_path / "run" / "model", tmp_path / "lora", rank=4, log=lambda _m: None)
    predictor = fewner.load(tmp_path / "lora")
    assert predictor.model == str(model_dir) and predictor.adapter is not None
    assert predictor.training["extraction"]["rank"] == 4 == report["rank"]
    assert predictor.training["licence"] == "test data"  # the source run's record travels
    from safetensors.torch import load_file

    weights = load_file(str(predictor.adapter / "adapter_model.safetensors"))
    assert {w.dtype for w in weights.values()} == {torch.bfloat16}
    assert isinstance(predictor.predict("Ada met Kim in Paris .", labels=["person"]), list)
    with pytest.raises(ConfigError, match="not a fully trained"):
        extract_model_folder(tmp_path / "lora", tmp_path / "again", rank=4, log=lambda _m: None)
    from fewner.cli import main

    with pytest.raises(SystemExit) as exited:  # the CLI says the same in one line
        main(["extract-lora", str(tmp_path / "lora"), "-o", str(tmp_path / "cli")])
    output = capsys.readouterr().err
    assert exited.value.code == 2 and "not a fully trained model folder" in output and "Traceback" not in output
    assert not (tmp_path / "cli").exists()
