"""The one Registry type: registering, lazy modules, entry points, and the errors a user sees."""

from __future__ import annotations

import sys
import types
from importlib import metadata

import pytest

from fewner.errors import ConfigError
from fewner.registry import Registry


def test_register_lookup_and_clear_errors() -> None:
    reg: Registry[int] = Registry("widget")
    reg.register("one", 1)

    @reg.register("two")
    def two() -> int:
        return 2

    assert reg["one"] == 1 and reg["two"] is two and "one" in reg and "three" not in reg
    assert reg.names() == ["one", "two"] and list(reg) == ["one", "two"] and len(reg) == 2
    with pytest.raises(ConfigError, match="unknown widget 'three'; known: one, two"):
        reg["three"]
    assert reg.get("three", 3) == 3
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("one", 11)
    reg.unregister("one")
    assert reg.names() == ["two"]


def test_lazy_names_import_their_module_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    reg: Registry[str] = Registry("gadget", lazy={"late": "fewner_test_lazy_gadget"})
    module = types.ModuleType("fewner_test_lazy_gadget")
    imported = []

    def load(name: str, *args: object) -> types.ModuleType:
        imported.append(name)
        reg.register("late", "value")
        return module

    monkeypatch.setattr("importlib.import_module", load)
    assert reg.names() == ["late"] and imported == []  # listing imports nothing
    assert reg["late"] == "value" and imported == ["fewner_test_lazy_gadget"]


def test_a_lazy_module_that_is_missing_says_so() -> None:
    reg: Registry[str] = Registry("gizmo", lazy={"gone": "fewner_no_such_module_xyz"})
    with pytest.raises(ConfigError, match="gizmo 'gone' is not available"):
        reg["gone"]


def test_plugins_register_through_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    reg: Registry[str] = Registry("loss term")
    assert reg.group == "fewner.loss_terms"
    plugin = types.ModuleType("fewner_test_plugin")
    plugin.__dict__["registered"] = reg.register("focal", "focal-loss")
    reg.unregister("focal")  # registered again when the entry point's module is imported

    def importer(name: str) -> types.ModuleType:
        reg.register("focal", "focal-loss")
        return plugin

    point = metadata.EntryPoint(name="focal", value="fewner_test_plugin", group=reg.group)
    monkeypatch.setattr(metadata, "entry_points", lambda group: [point] if group == reg.group else [])
    monkeypatch.setitem(sys.modules, "fewner_test_plugin", plugin)
    monkeypatch.setattr("importlib.import_module", importer)
    assert "focal" in reg.names()
    assert reg["focal"] == "focal-loss"


def test_every_fewner_registry_lists_what_it_can_build() -> None:
    from fewner.backends.base import BACKENDS
    from fewner.predictors import PREDICTORS
    from fewner.recipes import RECIPES

    assert {"hf", "llamacpp", "openai"} <= set(BACKENDS.names())
    assert set(PREDICTORS.names()) == {"extractor", "icl", "student", "dictionary", "annotator", "span"}
    assert {"obp-llm", "cllmfs", "grait", "icl", "dictionary"} <= set(RECIPES.names())
