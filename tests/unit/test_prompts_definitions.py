"""Entity-type definitions: every shipped dataset is covered, lookups, overrides and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from fewner.errors import ConfigError
from fewner.prompts import MissingDefinitionError, available_definitions, load_definitions


def bio_types(path: Path) -> set[str]:
    """Entity types of a BIO tag inventory file (``O``, ``B-X``, ``I-X`` per line)."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return {line[2:] for line in lines if line[:2] in ("B-", "I-")}


def plain_types(path: Path) -> set[str]:
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return {line for line in lines if line and line != "O"}


@pytest.mark.parametrize(
    ("name", "labels_file"), [("conll2003", "conll"), ("wnut17", "wnut"), ("gum", "gum")]
)
def test_definitions_cover_domain_transfer_types(
    shared_data: Path, name: str, labels_file: str
) -> None:
    types = bio_types(shared_data / "domain_transfer_support_sets" / f"labels-{labels_file}.txt")
    assert types, "labels file read"
    defs = load_definitions(name)
    assert set(defs) == types  # no missing and no stray entries
    assert defs.require(sorted(types))


def test_fewnerd_definitions_cover_all_66_types_by_exact_name(shared_data: Path) -> None:
    types = plain_types(shared_data / "fewnerd" / "labels.txt")
    assert len(types) == 66
    defs = load_definitions("fewnerd")
    assert set(defs) == types
    assert defs["organization-media/newspaper"] == (
        "a specific media outlet, newspaper, or press organization"
    )
    for split in ("inter", "intra"):
        for part in ("train", "dev", "test"):
            split_types = plain_types(
                shared_data / "fewnerd" / "type_splits" / split / f"labels_{part}.txt"
            )
            assert split_types <= set(defs), (split, part)


def test_definitions_are_single_line_noun_phrases() -> None:
    for name in available_definitions():
        for entity_type, definition in load_definitions(name).items():
            assert "\n" not in definition and definition == definition.strip(), entity_type
            assert not definition.endswith("."), f"{name}:{entity_type} ends a sentence"


def test_underscore_spelling_finds_fewnerd_types() -> None:
    defs = load_definitions("fewnerd")
    assert defs["person_actor"] == defs["person-actor"]
    assert "organization_government/governmentagency" in defs
    assert defs.get("art_film") == defs["art-film"]
    assert defs.canonical("person_actor") == "person-actor"
    assert defs.get("person_nobody") is None


def test_missing_types_are_all_listed() -> None:
    defs = load_definitions("conll2003")
    with pytest.raises(MissingDefinitionError) as err:
        defs.require(["PER", "DATE", "MONEY"])
    assert err.value.missing == ("DATE", "MONEY")
    assert "'DATE', 'MONEY'" in str(err.value) and "conll2003" in str(err.value)
    with pytest.raises(KeyError):  # still a dict for code that expects KeyError
        defs["DATE"]


def test_user_file_and_overrides(tmp_path: Path) -> None:
    own = tmp_path / "medical.yaml"
    own.write_text(
        "drug: a medication or active substance\ndisease: |\n  an illness\n  or disorder\n"
    )
    defs = load_definitions(own)
    assert defs == {"drug": "a medication or active substance", "disease": "an illness or disorder"}
    merged = load_definitions("conll2003", overrides={"PER": "a human being", "DATE": "a date"})
    assert merged["PER"] == "a human being" and merged["DATE"] == "a date"
    assert merged["LOC"] == load_definitions("conll2003")["LOC"]
    assert "overrides" not in merged.source and "<mapping>" in merged.source


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- a\n- b\n", "mapping"),
        ("PER: ''\n", "non-empty"),
        ("PER: [a]\n", "non-empty"),
        ("a: [\n", "YAML"),
    ],
)
def test_bad_definition_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_definitions(path)


def test_unknown_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="conll2003, fewnerd, gum, wnut17"):
        load_definitions("ontonotes")


def test_definitions_are_a_registry_of_files(tmp_path: Path) -> None:
    from fewner.prompts.definitions import DEFINITIONS
    from fewner.prompts.files import PromptFile

    assert {"conll2003", "fewnerd", "gum", "wnut17"} <= set(available_definitions())
    path = tmp_path / "house.yaml"
    path.write_text("gadget: a named device\n")
    DEFINITIONS.register("house", PromptFile.at(path))
    try:
        assert "house" in available_definitions()
        defs = load_definitions("house")
        assert defs == {"gadget": "a named device"} and defs.source == "house"
    finally:
        DEFINITIONS.unregister("house")
    assert "house" not in available_definitions()
