"""Run configs: YAML + --set overrides -> validated dataclasses with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from fewner.errors import ConfigError
from fewner.train.config import (
    apply_overrides,
    config_to_dict,
    default_data_root,
    load_config,
    parse_config,
)

REPO = Path(__file__).resolve().parents[2]
MINIMAL = {"stages": {"target": {"data": {"path": "x.conll"}}}}


@pytest.mark.parametrize("name", ["obp-llm", "cllmfs"])
def test_shipped_configs_load(name: str) -> None:
    config = load_config(REPO / "configs" / f"{name}.yaml")
    expected = {"obp-llm": ["source", "target", "dpo"], "cllmfs": ["source", "target"]}[name]
    assert config.enabled_stages() == expected
    if name == "obp-llm":  # the paper's DPO settings
        dpo = config.stages["dpo"]
        assert (dpo.kind, dpo.loop.lr, dpo.data.path) == (
            "dpo",
            5e-6,
            config.stages["target"].data.path,
        )
        assert dpo.settings is not None
        assert (dpo.settings.beta, dpo.settings.alpha) == (0.1, 0.2)
    assert config.template == name and config.lora.preset == name
    assert config.stages["source"].definitions == "conll2003"
    target = config.stages["target"]
    assert target.data.path.endswith("samples-wnut-5shot/0.txt")
    term = {"obp-llm": "attn_contrastive", "cllmfs": "hidden_contrastive"}[name]
    weight = {"obp-llm": 0.01, "cllmfs": 0.001}[name]
    assert {"name": term, "weight": weight, "layer": 0.8} in target.loss
    assert config.test is not None and config.test.data.limit == 200
    assert Path(config.data_root).is_absolute()
    modules = set(config.lora.target_modules or [])
    assert {"q_proj", "k_proj", "v_proj", "o_proj"} <= modules
    assert ("gate_proj" in modules) == (name == "cllmfs")


def test_defaults_and_resolution() -> None:
    config = parse_config(MINIMAL)
    stage = config.stages["target"]
    loop = stage.loop
    assert (loop.epochs, loop.batch_size, loop.grad_accum, loop.lr) == (1, 8, 1, 2e-4)
    assert stage.loss == [{"name": "nll"}]
    assert config.lora.r == 8 and config.lora.alpha == 16 and config.lora.dropout == 0.05
    assert config.stage_seed("target") == 0
    data = config_to_dict(config)
    assert data["stages"]["target"]["data"]["path"] == "x.conll"
    assert parse_config(data) == config  # the resolved config reads back as itself


def test_data_root_default_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FEWNER_SHARED_DATA", str(tmp_path))
    assert default_data_root() == str(tmp_path)
    config = parse_config(MINIMAL)
    assert config.data_path(config.stages["target"].data) == tmp_path / "x.conll"
    monkeypatch.delenv("FEWNER_SHARED_DATA")
    assert default_data_root() == "../shared/data"


def test_overrides_are_yaml_values_on_dotted_paths() -> None:
    data = apply_overrides(
        MINIMAL,
        [
            "stages.target.epochs=3",
            "stages.target.lr=1e-4",
            "seed=7",
            "stages.target.enabled=false",
            "dev.data.path=dev.conll",
            "stages.target.data.types=[a, b]",
        ],
    )
    config = parse_config(data)
    stage = config.stages["target"]
    assert (stage.loop.epochs, stage.loop.lr, stage.enabled, config.seed) == (3, 1e-4, False, 7)
    assert stage.data.types == ["a", "b"]
    assert config.dev is not None and config.dev.data.path == "dev.conll"
    assert MINIMAL["stages"]["target"] == {"data": {"path": "x.conll"}}  # not mutated


def test_stage_kinds_fill_their_own_defaults() -> None:
    config = parse_config(
        {
            "stages": {
                "target": {"data": {"path": "x"}},
                "dpo": {"kind": "dpo", "data": {"path": "x"}},
            }
        }
    )
    sft, dpo = config.stages["target"], config.stages["dpo"]
    assert (sft.kind, sft.loop.lr, sft.loss, sft.settings) == ("sft", 2e-4, [{"name": "nll"}], None)
    assert (dpo.loop.lr, dpo.loss) == (5e-6, None)
    assert dpo.settings is not None
    assert (dpo.settings.beta, dpo.settings.alpha, dpo.settings.error_feedback) == (
        0.1,
        0.2,
        True,
    )


def test_stage_seeds_follow_the_stage_order() -> None:
    config = parse_config(
        {
            "seed": 5,
            "stages": {"a": {"data": {"path": "x"}}, "b": {"data": {"path": "y"}, "seed": 42}},
        }
    )
    assert config.stage_seed("a") == 5 and config.stage_seed("b") == 42


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["stages.target.epochs=0"], "stages.target.epochs must be >= 1"),
        (["stages.target.epochs=two"], "stages.target.epochs: expected an integer"),
        (["stages.target.lr=fast"], "stages.target.lr: expected a number"),
        (["stages.target.bogus=1"], "stages.target: unknown key(s) ['bogus']"),
        (["stages.target.schedule=step"], "stages.target.schedule: 'step'"),
        (["stages.target.loss=[{weight: 1}]"], "stages.target.loss[0]: each term needs a 'name'"),
        (["stages.target.enabled=yes please"], "expected true or false"),
        (["precision=fp16"], "fp16 is not offered"),
        (["lora.preset=big"], "lora.preset: 'big'"),
        (["stages.target.data=null"], "stages.target.data: expected a mapping"),
        (["stages.bad name={data: {path: x}}"], "not a valid stage name"),
        (["device=tpu"], "device: 'tpu'"),
        (["stages.target"], "expected KEY=VALUE"),
        (["stages.target.kind=ppo"], "stages.target.kind: 'ppo'"),
        (["stages.target.preference={beta: 1}"], "only a kind: dpo stage takes preference"),
        (["stages.target.kind=dpo", "stages.target.loss=[{name: nll}]"], "a dpo stage's loss"),
        (["stages.target.kind=dpo", "stages.target.preference.beta=0"], "preference.beta"),
        (
            [
                "stages.target.kind=dpo",
                "stages.target.preference={boundary_pairs: 0, error_feedback: false}",
            ],
            "no pairs",
        ),
        (["init_adapter=/nonexistent/adapter"], "is not a LoRA adapter folder"),
    ],
)
def test_errors_name_the_key(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(apply_overrides(MINIMAL, overrides), source="cfg.yaml")
    assert message in str(info.value)


def test_missing_required_keys_and_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="stages.target.data: missing"):
        parse_config({"stages": {"target": {}}})
    with pytest.raises(ConfigError, match="define at least one stage"):
        parse_config({"stages": {}})
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_lora_overrides_keep_the_rest_of_the_preset() -> None:
    config = parse_config(apply_overrides(MINIMAL, ["lora.preset=cllmfs", "lora.r=4"]))
    assert config.lora.r == 4 and config.lora.alpha == 16
    assert "down_proj" in (config.lora.target_modules or [])


def test_a_damaged_init_adapter_is_named_before_training(tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{broken")
    with pytest.raises(ConfigError, match=r"init_adapter: .*adapter_config.json: not valid JSON"):
        parse_config(apply_overrides(MINIMAL, [f"init_adapter={adapter}"]), source="cfg.yaml")
    (adapter / "adapter_config.json").write_text("{}")
    with pytest.raises(ConfigError, match="adapter weights missing"):
        parse_config(apply_overrides(MINIMAL, [f"init_adapter={adapter}"]), source="cfg.yaml")


def test_exponent_floats_without_a_dot_are_floats_everywhere(tmp_path: Path) -> None:
    """YAML 1.1 (PyYAML) reads ``3e-3`` as a string; fewner's loader reads it as YAML 1.2 does,
    in config files and ``--set`` values alike (a source run's ``loop.lr=3e-3`` crashed)."""
    from fewner.config_schema import load_yaml
    from fewner.train.source import load_source_settings

    assert load_yaml("3e-3") == 0.003 and load_yaml("-2E+5") == -200000.0
    assert load_yaml("[1e-4, .5e-2, 7, 1e3x]") == [0.0001, 0.005, 7, "1e3x"]
    settings = load_source_settings("smollm2-source", ["loop.lr=3e-3"])
    assert settings.loop["lr"] == 0.003


def test_the_commercial_source_file_leaves_the_non_commercial_data_out(shared_data: Path) -> None:
    from fewner.spanmodel.source import load_mixture_file
    from fewner.train.source import load_source_settings

    settings = load_source_settings("smollm2-source-commercial")
    assert "NC" not in settings.licence and settings.definitions is None
    assert settings.loop["group_by_length"] is True
    mixture = load_mixture_file(settings.mixture, shared_data)
    names = {d.name for d in mixture.datasets}
    assert not names & {"pile-ner", "wikineural"} and "wikigold" in names
    assert 4000 <= len(mixture.epoch(settings.seed, 0)) <= 4400


def test_the_no_wiki_source_file_is_the_shipped_mixture_without_the_wikipedia_sets(shared_data: Path) -> None:
    """The CoNLL-2003 ablation: the shipped mixture and training block, minus the two sets that
    share CoNLL's PER/LOC/ORG/MISC."""
    from fewner.spanmodel.source import load_mixture_file
    from fewner.train.source import load_source_settings

    shipped = load_source_settings("smollm2-source")
    ablation = load_source_settings("smollm2-source-no-wiki")
    assert "WikiNEuRal" not in ablation.licence and "NC" in ablation.licence
    assert (ablation.loop, ablation.definitions, ablation.layout) == (shipped.loop, shipped.definitions, shipped.layout)
    full = {d.name: d.cap for d in load_mixture_file(shipped.mixture, shared_data).datasets}
    mixture = load_mixture_file(ablation.mixture, shared_data)
    assert {d.name: d.cap for d in mixture.datasets} == {k: v for k, v in full.items() if not k.startswith("wiki")}
    assert len(mixture.epoch(ablation.seed, 0)) == 3500
