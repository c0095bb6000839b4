"""Distillation configs: the packaged preset and its groups, the example config over it, the
shared data spec for labelled files, and the command's preset options."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from fewner.cli import cli
from fewner.distill.config import (
    DEFAULT_RECIPE,
    config_dict,
    distill_recipe_description,
    distill_recipe_groups,
    distill_recipes,
    load_distill_config,
)
from fewner.errors import ConfigError
from tests.unit.distill_tiny import tiny_sentences

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "configs" / "distill.yaml"
#: The resolved configs of configs/distill.yaml before the preset moved into the package
#: (captured from the previous loader, without data_root).
BEFORE = json.loads((Path(__file__).with_name("icl_distill_resolved_configs.json")).read_text())
GROUPS = ["default", "A", "B", "C", "D", "E"]
#: What the shared data spec adds to the previous {path, limit, format}.
SPEC_KEYS = {"types": None, "skip": 0, "inline": None, "names": None}
#: What the student section gained with the span student (token students keep these defaults).
STUDENT_KEYS = {
    "kind": "token", "label_names": {}, "lr_head": None, "freeze_layers": 0, "threshold": None,
    "device": "auto",
}


def _resolved(config) -> dict:
    return json.loads(json.dumps(config_dict(config)))


def _expected(group: str) -> dict:
    out = copy.deepcopy(BEFORE["distill"][group])
    for key in ("original", "dev", "test"):
        if out[key] is not None:
            out[key] = {**out[key], **SPEC_KEYS}
    out["student"] = {**STUDENT_KEYS, **out["student"]}
    return out


@pytest.mark.parametrize("group", GROUPS)
def test_example_config_resolves_as_before(group, monkeypatch):
    monkeypatch.chdir(REPO)
    chosen = None if group == "default" else group
    resolved = _resolved(load_distill_config(EXAMPLE, group=chosen))
    assert resolved.pop("data_root") == str((REPO / "../shared/data").resolve())
    assert resolved == _expected(group)


@pytest.mark.parametrize("group", GROUPS)
def test_packaged_preset_alone_is_the_same_config_with_the_default_data_root(
    group, monkeypatch, tmp_path
):
    monkeypatch.chdir(tmp_path)  # no source checkout needed
    monkeypatch.setenv("FEWNER_SHARED_DATA", "/fixed/data-root")
    chosen = None if group == "default" else group
    for config in (
        load_distill_config(None, group=chosen),
        load_distill_config(None, group=chosen, recipe="distill"),
    ):
        resolved = _resolved(config)
        assert resolved.pop("data_root") == "/fixed/data-root"
        assert resolved == _expected(group)


def test_presets_are_listed_with_description_and_groups():
    assert DEFAULT_RECIPE in distill_recipes()
    assert distill_recipe_description("distill")
    assert distill_recipe_groups("distill") == ["A", "B", "C", "D", "E"]
    assert yaml.safe_load(EXAMPLE.read_text())["recipe"] == "distill"


def test_file_keys_merge_over_the_preset_groups_replace_then_set(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "recipe: distill\nstudent: {layers: 2}\noriginal: {skip: 10}\n"
        "groups: {F: {schedule: cosine, epochs: 4}}\n"
    )
    config = load_distill_config(path, group="F", overrides=["epochs=6"])
    assert config.student.model == "minilm-l6" and config.student.layers == 2  # merged
    assert config.original is not None
    assert (config.original.path, config.original.limit, config.original.skip) == (
        "conll2003/train.txt",
        1000,
        10,
    )
    assert config.schedule == {"name": "cosine"} and config.epochs == 6 and config.group == "F"
    d = load_distill_config(path, group="D")  # the preset's groups are still there
    assert d.schedule == {"name": "simple_mix"}
    plain = tmp_path / "plain.yaml"
    plain.write_text("schedule: original\noriginal: {path: x.txt}\n")  # no recipe: defaults
    assert load_distill_config(plain).test is None
    other = load_distill_config(plain, overrides=["recipe=distill"])  # --set recipe=NAME
    assert other.test is not None and other.schedule == {"name": "original"}
    with pytest.raises(ConfigError, match="unknown recipe 'nope'; known: distill"):
        load_distill_config(None, recipe="nope")


def test_labelled_data_is_the_shared_data_spec(tmp_path):
    """original/dev/test take path or inline examples, format, skip, limit and types."""
    from fewner.data.io import write_corpus
    from fewner.data.spec import DataSpec
    from fewner.distill.pipeline import read_labelled

    write_corpus(tiny_sentences(), tmp_path / "train.txt", "conll")
    config = load_distill_config(
        None,
        overrides=[
            f"data_root={tmp_path}",
            "types=[PER, LOC]",
            "schedule=original",
            "original={path: train.txt, skip: 1, limit: 2, format: conll}",
            "test=null",
        ],
    )
    assert isinstance(config.original, DataSpec)
    original = read_labelled(config, config.original)
    assert [s.text for s in original] == [s.text for s in tiny_sentences()[1:3]]
    assert {x.label for s in original for x in s.spans} <= {"PER", "LOC"}
    only_loc = DataSpec(path="train.txt", types=["LOC"])
    assert {x.label for s in read_labelled(config, only_loc) for x in s.spans} == {"LOC"}
    records = [{"text": "Ann met Bob in Rome .", "entities": [{"start": 15, "end": 19, "label": "LOC"}]}]
    inline = load_distill_config(
        None,
        overrides=["schedule=original", "types=[LOC]", "test=null"],
        recipe="distill",
    )
    inline.original = DataSpec(inline=records)
    assert [x.label for x in read_labelled(inline, inline.original)[0].spans] == ["LOC"]

    for bad, message in (
        ("original={limit: 3}", "give either path"),
        ("original={path: a.txt, format: xml}", "unknown format 'xml'"),
        ("original={path: a.txt, types: [DATE]}", "not among the run's types"),
        ("test={path: a.txt, skip: -1}", "skip must be >= 0"),
        ("original={path: a.txt, size: 3}", "unknown key"),
    ):
        with pytest.raises(ConfigError, match=message):
            load_distill_config(None, overrides=[bad])
    missing = load_distill_config(
        None, overrides=[f"data_root={tmp_path}", "schedule=original", "original={path: no.txt}"]
    )
    with pytest.raises(ConfigError, match="data file not found"):
        read_labelled(missing, missing.original)


def test_a_run_folder_written_before_the_data_spec_still_resumes():
    from fewner.distill.pipeline import _normalised

    config = load_distill_config(None, group="D")
    current = _resolved(config)
    old = copy.deepcopy(current)
    for key in ("original", "test"):
        old[key] = {k: old[key][k] for k in ("path", "limit", "format")}  # the previous keys
    assert _normalised({**old, "_run": {"started": "x"}}) == current


def test_cli_recipe_group_dry_run_and_list_outside_a_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    listed = runner.invoke(cli, ["distill", "--list-recipes"])
    assert listed.exit_code == 0 and "distill:" in listed.output
    assert "groups: A, B, C, D, E" in listed.output
    for args in (
        ["distill", "--recipe", "distill", "--group", "D", "--dry-run"],
        ["distill", "--group", "D", "--dry-run"],
    ):
        result = runner.invoke(cli, [*args, "--set", "epochs=4"])
        assert result.exit_code == 0, result.output
        assert '"group": "D"' in result.output and '"name": "simple_mix"' in result.output
        assert "epoch 3: w_distilled 0.0000  w_original 1.0000" in result.output
    helped = runner.invoke(cli, ["distill", "--help"])
    for word in ("--recipe", "--list-recipes", "sigmoid (k=8)", "power (n=1)", "simple_mix"):
        assert word in helped.output


def test_student_device_is_checked_before_any_work():
    import torch

    from fewner.distill.config import StudentSpec
    from fewner.errors import ConfigError

    with pytest.raises(ConfigError, match="student.device applies to the span student only"):
        StudentSpec(kind="token", device="cpu").check()
    with pytest.raises(ConfigError, match="not a device"):
        StudentSpec(kind="span", device="gpu0").check()
    StudentSpec(kind="span", device="cpu").check()
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            StudentSpec(kind="span", device="cuda").check()
