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

Integrity: :meth:`Manifest.write` (the last step of ``Predictor.save``) also writes
``FOLDER/SHA256SUMS``, the sha256 of every payload file (weights, tokenizer, support data; in the
format of coreutils' ``sha256sum``, so ``sha256sum -c SHA256SUMS`` checks a folder by hand), and
:meth:`Manifest.read` verifies every file a ``SHA256SUMS`` lists before anything is loaded: a
changed, truncated or missing weight file is refused with the file's name and what to do, never
loaded as a silently different model. ``fewner.json`` itself is not listed by ``save`` (settings
and notes stay editable; everything that must match training is checked against the weights
anyway); a ``SHA256SUMS`` that lists it (the shipped models') is honoured. Files are hashed once
per load, in 1 MiB chunks. Folders without ``SHA256SUMS`` (saved before it existed) load as before.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fewner.errors import ModelNotAvailableError
from fewner.models.locate import sha256_file

__all__ = ["CHECKSUMS_FILE", "MANIFEST_FILE", "SCHEMA_VERSION", "Manifest", "verify_checksums",
           "write_checksums"]

MANIFEST_FILE = "fewner.json"
CHECKSUMS_FILE = "SHA256SUMS"
_SUM_LINE = re.compile(r"^(\\?)([0-9a-fA-F]{64}) [ *](.+)$")
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
        write_checksums(folder)  # first: the manifest stays the last file a save writes
        write_json_atomic(path, asdict(self))
        return path

    @classmethod
    def read(cls, folder: str | Path, *, verify: bool = True) -> Manifest:
        """The manifest of ``folder``; errors say what the folder is and what to pass instead.

        ``verify``: check the files listed in ``SHA256SUMS`` (module docstring) first."""
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
        if verify:
            verify_checksums(folder)
        return cls(**data)


# ----- integrity ------------------------------------------------------------------------------
def write_checksums(folder: str | Path) -> Path:
    """Write ``folder/SHA256SUMS``: the sha256 of every file under ``folder`` except the manifest,
    this file and hidden files (sorted, ``sha256sum`` format, written atomically)."""
    folder = Path(folder)
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        hidden = any(part.startswith(".") for part in rel.split("/"))
        if hidden or rel in (MANIFEST_FILE, CHECKSUMS_FILE):
            continue
        escaped = rel.replace("\\", "\\\\").replace("\n", "\\n")
        flag = "\\" if escaped != rel else ""  # sha256sum's mark of an escaped name
        lines.append(f"{flag}{sha256_file(path)}  {escaped}\n")
    target = folder / CHECKSUMS_FILE
    tmp = target.with_name(f".{CHECKSUMS_FILE}.{os.getpid()}.tmp")
    tmp.write_text("".join(lines), encoding="utf-8", newline="\n")
    os.replace(tmp, target)
    return target


def verify_checksums(folder: str | Path) -> None:
    """Check every file ``folder/SHA256SUMS`` lists (nothing when there is none); a missing or
    changed file is a ModelNotAvailableError naming it and saying what to do."""
    folder = Path(folder)
    sums = folder / CHECKSUMS_FILE
    if not sums.is_file():
        return
    try:
        lines = sums.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as err:
        raise ModelNotAvailableError(f"{sums}: unreadable ({err})") from None
    fix = _fix(folder)
    for lineno, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        match = _SUM_LINE.match(line.rstrip("\r"))
        if match is None:
            raise ModelNotAvailableError(
                f"{sums}:{lineno}: not a sha256sum line ('<64 hex digits>  <file>'); {fix}"
            )
        escaped, expected, rel = match.groups()
        if escaped:
            rel = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), rel)
        if rel == CHECKSUMS_FILE:
            continue  # a list that includes an older copy of itself
        parts = Path(rel).parts
        if Path(rel).is_absolute() or ".." in parts:
            raise ModelNotAvailableError(
                f"{sums}:{lineno}: {rel!r} points outside the model folder"
            )
        path = folder / rel
        if not path.is_file():
            raise ModelNotAvailableError(
                f"{folder}: {rel} is listed in {CHECKSUMS_FILE} but missing; {fix}"
            )
        actual = sha256_file(path)
        if actual != expected.lower():
            raise ModelNotAvailableError(
                f"{folder}: {rel} does not match its sha256 in {CHECKSUMS_FILE} (expected "
                f"{expected.lower()[:16]}..., found {actual[:16]}...): the file was changed or "
                f"corrupted after the model was saved, so fewner will not load it; {fix}"
            )


def _fix(folder: Path) -> str:
    """What to do about a folder that fails verification."""
    package = Path(__file__).resolve().parents[1]
    if package in folder.resolve().parents:
        return (
            "this model ships with fewner: reinstall fewner "
            "(pip install --force-reinstall fewner)"
        )
    return (
        "copy or download the folder again, or save the model again (save writes a fresh "
        f"{CHECKSUMS_FILE}); if you changed the file on purpose, delete {CHECKSUMS_FILE}"
    )


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
