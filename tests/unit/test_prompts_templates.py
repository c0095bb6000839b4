"""Prompt templates: exact rendering, layouts, versions, loading and validation errors."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pytest
import yaml

from fewner.decoding import OBP_GRAMMAR
from fewner.errors import ConfigError
from fewner.prompts import LAYOUTS, available_templates, load_template

ROOT = Path(__file__).resolve().parents[2]

PREAMBLE = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n"
)
INSTRUCTION = (
    "### Instruction:\nExtract all entities of type organization-media/newspaper from the input "
    "sentence. The entity of organization-media/newspaper refers to a specific media outlet, "
    "newspaper, or press organization in the input sentence.\n\n"
)
INPUT = "### Input:\nHe joined CTV Television Network in 1990 .\n\n"
RESPONSE = "### Response:\n"
SENTENCE = "He joined CTV Television Network in 1990 ."
TYPE = "organization-media/newspaper"
DEFINITION = "a specific media outlet, newspaper, or press organization"


@pytest.mark.parametrize("name", ["obp-llm-v1", "cllmfs-v1"])
def test_render_prompt_exact_type_first(name: str) -> None:
    t = load_template(name)
    assert t.render_prompt(SENTENCE, TYPE, DEFINITION) == PREAMBLE + INSTRUCTION + INPUT + RESPONSE


@pytest.mark.parametrize("name", ["obp-llm-v1", "cllmfs-v1"])
def test_render_prompt_exact_sentence_first(name: str) -> None:
    t = load_template(name, layout="sentence_first")
    assert t.render_prompt(SENTENCE, TYPE, DEFINITION) == PREAMBLE + INPUT + INSTRUCTION + RESPONSE
    assert t.id == f"{name}+sentence_first"


def test_sentence_first_shares_the_sentence_prefix_across_types() -> None:
    t = load_template("obp-llm-v1", layout="sentence_first")
    a = t.render_prompt(SENTENCE, "person-actor", "an actor")
    b = t.render_prompt(SENTENCE, "art-film", "a film")
    shared = t.shared_prefix(SENTENCE)
    assert shared == PREAMBLE + INPUT
    assert a.startswith(shared) and b.startswith(shared)
    # type_first shares only the preamble
    assert load_template("obp-llm-v1").shared_prefix(SENTENCE) == PREAMBLE


def test_render_target_exact() -> None:
    obp, cllmfs = load_template("obp-llm-v1"), load_template("cllmfs-v1")
    mentions = ["CTV Television Network", "BBC"]
    assert obp.render_target(mentions) == (
        "The entities I extracted for you are <<< CTV Television Network >>> <<< BBC >>>"
    )
    assert obp.render_target([]) == "There are no entities of this type in the sentence."
    assert cllmfs.render_target(mentions) == (
        "<im_start> I can extract entities for you, the extracted entities are "
        "<<< CTV Television Network >>> <<< BBC >>> <im_end>"
    )
    assert cllmfs.render_target([]).startswith("<im_start> ")
    assert cllmfs.render_target([]).endswith(" <im_end>")


def test_obp_template_uses_the_decoding_default_grammar() -> None:
    assert load_template("obp-llm-v1").grammar == OBP_GRAMMAR


def test_braces_in_sentence_and_definition_are_literal() -> None:
    t = load_template("obp-llm-v1")
    prompt = t.render_prompt("a {sentence} with {braces}", "X", "things like {this}")
    assert "### Input:\na {sentence} with {braces}\n\n" in prompt
    assert "refers to things like {this} in" in prompt


def test_shipped_templates_versions_and_names() -> None:
    assert {"obp-llm-v1", "cllmfs-v1"} <= set(available_templates())
    for name in available_templates():
        t = load_template(name)
        assert f"{t.name}-v{t.version}" == name == t.id
        assert t.layout in LAYOUTS
        assert t.stop, "each shipped template names its stop strings"


def test_unversioned_name_takes_the_highest_version(tmp_path: Path) -> None:
    assert load_template("obp-llm").version == "1"
    assert load_template("cllmfs").id == "cllmfs-v1"


def test_load_from_path_and_override_layout(tmp_path: Path) -> None:
    data = yaml.safe_load(
        (resources.files("fewner") / "resources/templates/obp-llm-v1.yaml").read_text()
    )
    data.update(name="mine", version=3, layout="sentence_first")
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data))
    t = load_template(path)
    assert (t.id, t.source) == ("mine-v3+sentence_first", str(path))
    assert load_template(str(path), layout="type_first").id == "mine-v3"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "red"}, "unknown keys"),
        ({"layout": "upside_down"}, "unknown layout"),
        ({"preamble": "About {type}:"}, "may not use {type}"),
        ({"input": "no sentence here"}, "must contain {sentence}"),
        ({"instruction": "Find {type"}, "literal brace"),
        ({"answer": {"open": "<<<", "close": "<<<"}}, "must differ"),
        ({"answer": {"opener": "<"}}, "unknown answer keys"),
        ({"stop": "\n"}, "'stop' must be a list"),
    ],
)
def test_invalid_templates_raise_config_error(tmp_path: Path, change: dict, message: str) -> None:
    data = yaml.safe_load(
        (resources.files("fewner") / "resources/templates/obp-llm-v1.yaml").read_text()
    )
    data.update(change)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("(", r"\(")):
        load_template(path)


def test_unknown_name_and_missing_file() -> None:
    with pytest.raises(ConfigError, match="obp-llm-v1"):
        load_template("no-such-template")
    with pytest.raises(ConfigError, match="not found"):
        load_template("missing/template.yaml")


def test_package_data_ships_the_yaml_resources() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "resources/**/*" in config["tool"]["setuptools"]["package-data"]["fewner"]
    shipped = resources.files("fewner") / "resources"
    for rel in ["templates/obp-llm-v1.yaml", "templates/cllmfs-v1.yaml"] + [
        f"definitions/{n}.yaml" for n in ("conll2003", "wnut17", "gum", "fewnerd")
    ]:
        assert (shipped / rel).is_file(), rel


def test_templates_are_a_registry_of_files_listed_by_name_and_family(tmp_path: Path) -> None:
    """Listings follow the registry (the shipped files, then any registered), never a
    hard-coded list: a registered template loads by name, unversioned name included."""
    from fewner.prompts.files import PromptFile
    from fewner.prompts.templates import TEMPLATES, template_families

    assert set(available_templates()) == {
        p.name[: -len(".yaml")]
        for p in (resources.files("fewner") / "resources/templates").iterdir()
        if p.name.endswith(".yaml")
    }
    assert {"obp-llm", "cllmfs"} <= set(template_families())
    data = yaml.safe_load(
        (resources.files("fewner") / "resources/templates/obp-llm-v1.yaml").read_text()
    )
    path = tmp_path / "house-v2.yaml"
    path.write_text(yaml.safe_dump({**data, "name": "house", "version": 2}))
    TEMPLATES.register("house-v2", PromptFile.at(path))
    try:
        assert "house-v2" in available_templates() and "house" in template_families()
        t = load_template("house")
        assert (t.id, t.source) == ("house-v2", str(path))
    finally:
        TEMPLATES.unregister("house-v2")
    with pytest.raises(ConfigError, match="unknown template 'house'"):
        load_template("house")
    assert load_template("obp-llm-v1").source == "fewner:resources/templates/obp-llm-v1.yaml"
