"""``--set KEY=VALUE`` recipe overrides for the experiment scripts (imported as ``_overrides``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["stages.target.epochs=2"]`` -> ``{"stages.target.epochs": 2}`` (values read as YAML)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {item!r}: give KEY=VALUE, e.g. stages.target.epochs=2")
        out[key] = yaml.safe_load(value)
    return out
