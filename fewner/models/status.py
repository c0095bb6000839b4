"""A cheap account of each catalogue model: installed, verified, converted, sizes.

Used by ``fewner models list``. Nothing here hashes a file or imports torch: "verified" means a
stamp from an earlier successful check matches the file as it is now.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from fewner.models.catalogue import CATALOGUE, ModelEntry
from fewner.models.convert import folder_size, is_converted, read_report
from fewner.models.locate import (
    cache_dir,
    expected_gguf_path,
    install_command,
    is_installed,
    is_verified,
    locate_part,
)


@dataclass(frozen=True)
class ModelStatus:
    name: str
    kind: str
    instruct: bool
    installed: bool
    verified: bool
    converted: bool
    size_bytes: int | None
    converted_bytes: int | None
    licence: str
    licence_note: str
    location: str | None
    cache_location: str | None
    install: str
    optional: bool
    description: str

    @property
    def label(self) -> str:
        """Short kind for tables: encoder, instruct (chat) LM or base LM."""
        if self.kind == "encoder":
            return "encoder"
        return "instruct" if self.instruct else "base LM"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _converted_folder(entry: ModelEntry) -> Path | None:
    return cache_dir() / "hf" / entry.name if entry.kind == "causal" else None


def model_status(entry: ModelEntry) -> ModelStatus:
    installed = is_installed(entry)
    file: Path | None = None
    if entry.kind == "encoder":
        file = locate_part(entry.parts[0])
    elif installed:
        file = expected_gguf_path(entry)
    verified = bool(file is not None and file.is_file() and is_verified(file, entry.sha256))
    size: int | None = None
    if installed:
        size = sum(p.stat().st_size for part in entry.parts if (p := locate_part(part)) is not None)
    folder = _converted_folder(entry)
    converted = folder is not None and is_converted(folder)
    converted_bytes = None
    if converted and folder is not None:
        report = read_report(folder)
        converted_bytes = report.folder_bytes if report is not None else folder_size(folder)
    location = None
    if entry.kind == "encoder" and file is not None:
        location = str(file.parent)
    elif file is not None:
        location = str(file)
    return ModelStatus(
        name=entry.name,
        kind=entry.kind,
        instruct=entry.instruct,
        installed=installed,
        verified=verified,
        converted=converted,
        size_bytes=size,
        converted_bytes=converted_bytes,
        licence=entry.licence,
        licence_note=entry.licence_note,
        location=location,
        cache_location=str(folder) if folder is not None else None,
        install=install_command(entry),
        optional=entry.optional,
        description=entry.description,
    )


def all_statuses() -> list[ModelStatus]:
    return [model_status(entry) for entry in CATALOGUE.values()]
