"""Span models that ship with fewner, by name (no torch imported here).

``fewner.load("fewner-span-minilm")`` finds the packaged folder through :func:`shipped_path`;
``fewner.fit(..., recipe="span")`` adapts it by default.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["DEFAULT_SPAN_MODEL", "SHIPPED", "shipped_path"]

DEFAULT_SPAN_MODEL = "fewner-span-minilm"

#: name -> folder under fewner/resources/models/
SHIPPED: dict[str, str] = {
    DEFAULT_SPAN_MODEL: "fewner-span-minilm",
    # the LLM extractor after the broad source stage (fewner/train/source.py): SmolLM2-135M + LoRA
    "smollm2-135m-ner": "smollm2-135m-ner",
}


def shipped_path(name: str) -> Path | None:
    """The packaged folder of a shipped model name, or None when ``name`` is not one (or its
    folder is not in this installation)."""
    folder = SHIPPED.get(str(name))
    if folder is None:
        return None
    path = Path(str(files("fewner.resources") / "models" / folder))
    return path if (path / "fewner.json").is_file() else None
