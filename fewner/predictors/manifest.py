"""The manifest that makes a saved fewner model folder self-describing: ``FOLDER/fewner.json``.

It records everything needed to serve the folder with one call (``fewner.load(FOLDER)``,
``fewner predict --model FOLDER``): the schema version, the fewner version that wrote it, the
predictor ``kind`` (a :data:`fewner.predictors.PREDICTORS` name), the label set, the
predictor's settings (template and layout, definitions, chat mode, constraint policy, ...),
the base model with its sha256 or hub revision, the training recipe and a data summary, metrics,
and licence notes. Why a file of our own next to the weights: a peft adapter folder says which
base model it wants but not how it was prompted, and a prompt that differs from training gives
silently worse predictions.

Reading is strict and every problem is one :class:`~fewner.errors.ModelNotAvailableError`
saying what is wrong with which folder and what to pass instead.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fewner.errors import ModelNotAvailableError

__all__ = ["MANIFEST_FILE", "SCHEMA_VERSION", "Manifest"]

MANIFEST_FILE = "fewner.json"
#: Bump when a field changes meaning; readers refuse folders with a newer schema.
SCHEMA_VERSION = 1


def _fewner_version() -> str:
    from fewner import __version__

    return __version__


@dataclass
class Manifest:
    kind: str
    labels: list[str]
    settings: dict[str, Any]
    base_model: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    schema: int = SCHEMA_VERSION
    fewner_version: str = ""
    created: str = ""

    @classmethod
    def new(cls, kind: str, labels: list[str], **fields: Any) -> Manifest:
        return cls(
            kind=kind,
            labels=list(labels),
            fewner_version=_fewner_version(),
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **fields,
        )

    def write(self, folder: str | Path) -> Path:
        from fewner.runs import write_json_atomic

        path = Path(folder) / MANIFEST_FILE
        write_json_atomic(path, asdict(self))
        return path

    @classmethod
    def read(cls, folder: str | Path) -> Manifest:
        """The manifest of ``folder``; errors say what the folder is and what to pass instead."""
        folder = Path(folder)
        path = folder / MANIFEST_FILE
        if not folder.is_dir():
            raise ModelNotAvailableError(f"{folder}: no such model folder")
        if not path.is_file():
            raise ModelNotAvailableError(_what_instead(folder))
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ModelNotAvailableError(f"{path}: unreadable manifest ({err})") from None
        if not isinstance(data, dict):
            raise ModelNotAvailableError(f"{path}: the manifest must be a JSON object")
        schema = data.get("schema")
        if not isinstance(schema, int):
            raise ModelNotAvailableError(f"{path}: no integer 'schema' field")
        if schema > SCHEMA_VERSION:
            raise ModelNotAvailableError(
                f"{folder} was saved by fewner {data.get('fewner_version', '?')} (manifest schema "
                f"{schema}); this fewner ({_fewner_version()}) reads schema {SCHEMA_VERSION} and "
                "older: upgrade fewner to load it"
            )
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelNotAvailableError(f"{path}: unknown manifest field(s) {unknown}")
        for key in ("kind", "labels", "settings"):
            if key not in data:
                raise ModelNotAvailableError(f"{path}: manifest field {key!r} is missing")
        return cls(**data)


def _what_instead(folder: Path) -> str:
    """The message for a folder without a manifest: what it looks like, and what to do."""
    if (folder / "adapter_config.json").is_file():
        base = _adapter_base(folder)
        return (
            f"{folder} is a plain peft adapter without a fewner manifest ({MANIFEST_FILE}), so "
            "fewner cannot know how it was prompted. Load it with the settings it was trained "
            f"with, e.g. fewner.load({base or 'BASE_MODEL'!r}, adapter={str(folder)!r}, "
            "template='obp-llm', definitions=...) or fewner predict --model "
            f"{base or 'BASE_MODEL'} --adapter {folder} ...; then .save() writes a folder "
            "that loads with one call"
        )
    if (folder / "student.json").is_file():
        return (
            f"{folder} is a distillation student saved before manifests; "
            f"fewner.load({str(folder)!r}) reads it as kind 'student'"
        )
    if (folder / "config.json").is_file():
        return (
            f"{folder} has no {MANIFEST_FILE}: if it is a transformers model, pass it as a base "
            f"model (fewner.load({str(folder)!r}) treats folders without a manifest that way)"
        )
    return f"{folder} is not a fewner model folder (no {MANIFEST_FILE})"


def _adapter_base(folder: Path) -> str | None:
    try:
        data = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    base = data.get("base_model_name_or_path") if isinstance(data, dict) else None
    return base if isinstance(base, str) else None
