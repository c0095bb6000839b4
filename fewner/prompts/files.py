"""Prompt text kept in YAML files (templates, type definitions), registered by name.

Every ``fewner/resources/<folder>/NAME.yaml`` is registered as ``NAME`` in its
:class:`~fewner.registry.Registry` (:data:`fewner.prompts.templates.TEMPLATES`,
:data:`fewner.prompts.definitions.DEFINITIONS`) when the owning module is imported, so listings,
error messages and CLI help follow the files that ship, never a hard-coded list. Another package
adds its own files by name, ``TEMPLATES.register("mine-v1", PromptFile.at("mine-v1.yaml"))``,
from a module named by an entry point (``fewner.templates``, ``fewner.definitions``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from fewner.registry import Registry

__all__ = ["PromptFile", "register_packaged"]


@dataclass(frozen=True)
class PromptFile:
    """A YAML file of prompt text; ``source`` is how runs and errors name it."""

    resource: Any  # a pathlib.Path or an importlib.resources Traversable: has read_text()
    source: str

    @classmethod
    def at(cls, path: str | Path) -> PromptFile:
        return cls(Path(path), str(path))

    def read_text(self) -> str:
        return self.resource.read_text(encoding="utf-8")


def register_packaged(registry: Registry[PromptFile], folder: str) -> None:
    """Register each ``fewner/resources/<folder>/*.yaml`` under its stem."""
    root = resources.files("fewner").joinpath("resources", folder)
    if not root.is_dir():
        return
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            name = entry.name[: -len(".yaml")]
            registry.register(name, PromptFile(entry, f"fewner:resources/{folder}/{entry.name}"))
