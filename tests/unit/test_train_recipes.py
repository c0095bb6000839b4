"""Packaged recipes and layered configs: ``recipe: NAME`` + file keys + overrides, and
:func:`recipe_config` with examples held in memory (what ``fewner.fit`` builds)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from fewner.config_schema import apply_overrides, deep_merge, load_layered_config
from fewner.errors import ConfigError
from fewner.train.config import config_to_dict, load_config, parse_config
from fewner.train.recipes import fit_config, list_recipes, recipe_config, recipe_description
from fewner.train.stages import read_sentences
from fewner.types import Sentence
from tests.unit.train_tiny import mini_sentences

REPO = Path(__file__).resolve().parents[2]
#: The resolved configs of configs/*.yaml before the recipes moved into the package (captured
#: with FEWNER_SHARED_DATA=/fixed/data-root).
BEFORE = json.loads((Path(__file__).with_name("train_resolved_configs.json")).read_text())
TARGETS = {
    "obp-llm": ["target", "dpo"],
    "cllmfs": ["target"],
    "grait": ["base", "refusal"],
    "demo": ["target"],
}
WNUT = ["corporation", "creative-work", "group", "location", "person", "product"]


def _with_inline_key(resolved: dict) -> dict:
    """``resolved`` with what the shared data spec adds: ``inline: null`` in every data block."""
    out = copy.deepcopy(resolved)
    blocks = [s["data"] for s in out["stages"].values()]
    blocks += [out[k]["data"] for k in ("dev", "test") if out.get(k)]
    for block in blocks:
        block["inline"] = None
        block["names"] = None  # added with DataSpec.names
    out.setdefault("span_extension", "none")  # added with noun-phrase widening
    out.setdefault("train_spans", "mentions")  # added with head-word training
    for stage in out["stages"].values():
        stage.setdefault("packing", False)  # added with packed stages
        stage.setdefault("negatives", None)  # added with negative subsampling
        stage.setdefault("group_by_length", False)  # added with length-grouped batches
        stage.setdefault("replay", None)  # added with source replay
    return out


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_example_configs_resolve_as_before(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEWNER_SHARED_DATA", "/fixed/data-root")
    resolved = config_to_dict(load_config(REPO / "configs" / f"{name}.yaml"))
    expected = {**_with_inline_key(BEFORE[name]), "target_stages": TARGETS[name]}
    assert resolved == expected
    # the packaged recipe alone is the same config
    assert config_to_dict(load_config(None, recipe=name)) == resolved
    assert config_to_dict(recipe_config(name)) == resolved
    # and the resolved config reads back as itself
    assert config_to_dict(parse_config(json.loads(json.dumps(resolved)))) == resolved


def test_recipes_are_listed_with_a_description_and_their_target_stages() -> None:
    assert set(TARGETS) <= set(list_recipes())
    for name in list_recipes():
        assert recipe_description(name)
        config = recipe_config(name)
        assert config.target_stages and set(config.target_stages) <= set(config.stages)


def test_recipe_config_trains_on_examples_in_memory(tmp_path: Path) -> None:
    sentences = mini_sentences()
    records = [
        {"text": "Ada Lovelace met Babbage .", "entities": [{"start": 0, "end": 12, "label": "PER"}]}
    ]
    labels = ["LOC", "MISC", "ORG", "PER"]
    config = recipe_config(
        "obp-llm",
        {
            "stages.target.data": {"inline": sentences, "types": labels},
            "stages.dpo.data": {"inline": records, "types": labels},
            "definitions": "conll2003",
            "dev": None,
            "test": None,
        },
        data_root=str(tmp_path),
        seed=3,
    )
    assert config.seed == 3 and config.test is None and config.dev is None
    assert config.stages["target"].loop.epochs == 20  # the rest is the recipe's
    got, types = read_sentences(config, config.stages["target"].data)
    assert got == sentences and types == labels
    got, _ = read_sentences(config, config.stages["dpo"].data)
    assert got[0].text == "Ada Lovelace met Babbage ." and got[0].spans[0].label == "PER"
    # the CoNLL source stage has no data here; fewner.fit turns such stages off
    assert config.stages_without_data() == ["source"]
    # the resolved config records the examples as JSONL records and reads back
    resolved = json.loads(json.dumps(config_to_dict(config)))
    inline = resolved["stages"]["target"]["data"]["inline"]
    assert [r["text"] for r in inline] == [s.text for s in sentences]
    assert resolved["stages"]["target"]["data"]["path"] is None
    again = parse_config(resolved)
    assert read_sentences(again, again.stages["target"].data)[0] == read_sentences(
        config, config.stages["target"].data
    )[0]
    assert config_to_dict(again) == resolved


@pytest.mark.parametrize("recipe", ["obp-llm", "cllmfs", "grait"])
def test_fit_config_puts_the_examples_into_the_target_stages(recipe: str, tmp_path: Path) -> None:
    sentences = mini_sentences()
    config = fit_config(
        recipe,
        sentences,
        ["PER", "LOC"],
        model="some/model",
        definitions={"PER": "a person", "LOC": "a place"},
        data_root=str(tmp_path),
        seed=5,
        overrides={"stages.target.epochs": 2} if recipe != "grait" else None,
    )
    targets = TARGETS[recipe]
    assert config.target_stages == targets and config.enabled_stages() == targets
    assert (config.dev, config.test, config.model, config.seed) == (None, None, "some/model", 5)
    assert config.definitions == {"PER": "a person", "LOC": "a place"}
    for name in targets:
        data = config.stages[name].data
        assert data.path is None and data.inline == sentences and data.types == ["PER", "LOC"]
    if recipe != "grait":
        assert config.stages["target"].loop.epochs == 2
    # with the source data present, the recipe's source stage stays on
    if "source" in config.stages:
        source = tmp_path / config.stages["source"].data.path
        source.parent.mkdir(parents=True)
        source.write_text("EU B-ORG\n", encoding="utf-8")
        again = fit_config(recipe, sentences, ["PER"], data_root=str(tmp_path))
        assert again.enabled_stages() == ["source", *targets]


def test_recipe_config_errors_name_the_recipe_and_the_key() -> None:
    with pytest.raises(ConfigError, match="unknown recipe 'nope'; known: .*obp-llm"):
        recipe_config("nope")
    with pytest.raises(ConfigError, match="recipe cllmfs: stages.target.epochs must be >= 1"):
        recipe_config("cllmfs", {"stages.target.epochs": 0})
    with pytest.raises(ConfigError, match="give either path .* or inline"):
        recipe_config("cllmfs", {"stages.target.data.inline": [Sentence.from_words(["x"], [], id="x")]})
    with pytest.raises(ConfigError, match="target_stages: 'nope' is not a stage"):
        recipe_config("cllmfs", target_stages=["nope"])


def test_a_config_file_is_merged_over_its_recipe(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "recipe: cllmfs\nseed: 4\nstages:\n  target:\n    epochs: 3\n    data: {limit: 2}\n"
        "  extra: {data: {path: x.txt}}\n",
        encoding="utf-8",
    )
    config = load_config(path, ["stages.source.enabled=false"])
    assert config.seed == 4 and config.template == "cllmfs"
    target = config.stages["target"]
    assert target.loop.epochs == 3 and target.data.limit == 2  # merged key by key
    assert target.data.types == WNUT and len(target.loss or []) == 2  # kept from the recipe
    assert list(config.stages) == ["source", "target", "extra"]  # new stages go last
    assert config.enabled_stages() == ["target", "extra"]
    # --recipe (or --set recipe=...) chooses another recipe under the same file
    assert load_config(path, recipe="obp-llm").template == "obp-llm"
    assert load_config(path, ["recipe=obp-llm"]).template == "obp-llm"


def test_layered_config_without_a_preset_and_with_a_preset_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text("a: {b: 1}\n", encoding="utf-8")
    assert load_layered_config(path, preset_kind="recipes", overrides=["a.c=2"]) == {
        "a": {"b": 1, "c": 2}
    }
    presets = tmp_path / "resources" / "things"
    presets.mkdir(parents=True)
    (presets / "one.yaml").write_text("# one\npreset: two\nx: 1\n", encoding="utf-8")
    (presets / "two.yaml").write_text("# two\npreset: one\n", encoding="utf-8")
    (presets / "three.yaml").write_text("# three\nx: 3\ny: [1, 2]\n", encoding="utf-8")
    import fewner.config_schema as schema

    monkeypatch.setattr(schema, "_preset_folder", lambda kind: tmp_path / "resources" / kind)
    assert schema.list_presets("things") == ["one", "three", "two"]
    assert schema.preset_description("things", "three") == "three"
    with pytest.raises(ConfigError, match="loop: one -> two -> one"):
        load_layered_config(None, preset_kind="things", preset="one", key="preset")
    three = load_layered_config(None, preset_kind="things", preset="three", key="preset")
    assert three == {"x": 3, "y": [1, 2]}
    with pytest.raises(ConfigError, match="unknown thing '../x'"):
        load_layered_config(None, preset_kind="things", preset="../x")


def test_deep_merge_and_mapping_overrides() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1, "e": {"f": 1}}
    merged = deep_merge(base, {"a": {"c": [3], "g": 2}, "e": None, "h": 1})
    assert merged == {"a": {"b": 1, "c": [3], "g": 2}, "d": 1, "e": None, "h": 1}
    assert list(merged) == ["a", "d", "e", "h"] and base["a"]["c"] == [1, 2]
    # a dotted key replaces the value at its path (a mapping is not merged into the old one)
    assert apply_overrides(base, {"a": {"x": 1}, "e.f": [1]}) == {
        "a": {"x": 1},
        "d": 1,
        "e": {"f": [1]},
    }
    with pytest.raises(ConfigError, match="d is not a mapping"):
        apply_overrides(base, {"d.x": 1})
    with pytest.raises(ConfigError, match="expected a dotted key"):
        apply_overrides(base, {"a..b": 1})


def test_definitions_may_be_a_mapping() -> None:
    data = {"definitions": {"PER": "a person"}, "stages": {"t": {"data": {"path": "x"}}}}
    assert parse_config(data).definitions == {"PER": "a person"}
    with pytest.raises(ConfigError, match="definitions: expected a string"):
        parse_config({**data, "definitions": 5})


def test_a_run_written_before_the_recipes_moved_can_be_continued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its config.json lacks the keys added since (``inline``, ``target_stages``): an absent key
    equals null, and target_stages does not change what a run trains."""
    from fewner.train.stages import _check_resume

    monkeypatch.setenv("FEWNER_SHARED_DATA", "/fixed/data-root")
    (tmp_path / "config.json").write_text(json.dumps(BEFORE["obp-llm"]), encoding="utf-8")
    resolved = config_to_dict(load_config(REPO / "configs" / "obp-llm.yaml"))
    _check_resume(tmp_path, resolved, resume=True, only_stage=None)
    changed = config_to_dict(load_config(None, ["stages.dpo.lr=1e-5"], recipe="obp-llm"))
    with pytest.raises(ConfigError, match="differs in stages.dpo.lr"):
        _check_resume(tmp_path, changed, resume=True, only_stage=None)
