"""Run folders: every run writes its resolved config and its metrics beside its outputs.

A run folder holds ``config.json`` (every setting actually used, defaults included),
``metrics.json`` and whatever the run produces. Files are written atomically (temp file, then
rename) so a crash never leaves a half-written result.

Writing helpers for every job: :func:`write_json_atomic`, :func:`write_text_atomic`,
:func:`atomic_path` (any writer, then a rename), :func:`save_torch_atomic` (checkpoints) and
:class:`LineSink` (JSON lines streamed as a run goes, whole lines only). A full disk or a
read-only folder in any of them is an :class:`OutputError` naming the file and what to do
(the CLI prints it as one line, exit 2); :func:`writing` does the same for any other code.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fewner.errors import FewnerError


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON to ``path`` via a temp file in the same folder and an atomic rename (a full
    disk or a read-only folder: :class:`OutputError` naming ``path``, the old file untouched)."""
    text = json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    write_text_atomic(path, text)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` via a temp file in the same folder
    and an atomic rename: readers see the old file or the new one, never half of one."""
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        # os.open, not mkstemp: the file gets the usual permissions (0666 less the umask)
        tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class RunDir:
    """An output folder for one run."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with writing(self.path):
            self.path.mkdir(parents=True, exist_ok=True)
        self.started = time.time()

    def file(self, name: str) -> Path:
        return self.path / name

    def write_config(self, config: dict[str, Any]) -> Path:
        """Record the resolved config plus where and with what it ran."""
        resolved = {
            **config,
            "_run": {
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started)),
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "argv": sys.argv,
            },
        }
        target = self.file("config.json")
        write_json_atomic(target, resolved)
        return target

    def write_metrics(self, metrics: dict[str, Any]) -> Path:
        target = self.file("metrics.json")
        write_json_atomic(target, {**metrics, "elapsed_seconds": round(time.time() - self.started, 3)})
        return target


class OutputError(FewnerError):
    """An output that could not be written (full disk, read-only folder...): names the path."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        super().__init__(f"cannot write {self.path}: {reason}")


_HINTS = {
    errno.ENOSPC: "the disk is full; free some space or write the output elsewhere",
    errno.EDQUOT: "the disk quota is exceeded; free some space or write the output elsewhere",
    errno.EACCES: "permission denied; make the folder writable or write the output elsewhere",
    errno.EPERM: "permission denied; make the folder writable or write the output elsewhere",
    errno.EROFS: "the file system is read-only; write the output elsewhere",
}


def output_error(path: str | Path, err: BaseException) -> OutputError:
    """``err`` (an OSError, or sqlite3's error for a full disk / read-only file) as an
    :class:`OutputError` naming ``path`` and what to do."""
    code = getattr(err, "errno", None)
    text = str(err).lower()
    if code is None:  # sqlite3 reports these as text
        if "full" in text:
            code = errno.ENOSPC
        elif "readonly" in text or "read-only" in text or "unable to open" in text:
            code = errno.EACCES
    hint = _HINTS.get(code) if code is not None else None
    reason = hint or (getattr(err, "strerror", None) or str(err))
    return OutputError(path, reason)


@contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an OSError raised inside into an :class:`OutputError` naming ``path`` (the output
    the user asked for, not a temp file)."""
    try:
        yield
    except OSError as err:
        raise output_error(path, err) from err


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temp path beside ``path`` to write to; renamed onto ``path`` when the block ends
    without error (removed otherwise): ``path`` is the old file or the whole new one, never
    half of one. An OSError inside: :class:`OutputError` naming ``path``."""
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            yield tmp
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


class LineSink:
    """A JSON-lines file written as a run goes: every :meth:`write` appends whole lines and
    flushes them, so a killed run leaves complete lines only (what was done so far). A full disk
    or a read-only folder: :class:`OutputError` naming the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with writing(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = path.open("w", encoding="utf-8", newline="\n")

    def write(self, records: list[Any]) -> None:
        """Append one line per record (JSON, non-ASCII kept) and flush."""
        if not records:
            return
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        with writing(self.path):
            self._handle.write(text)
            self._handle.flush()

    def close(self) -> None:
        with writing(self.path):
            self._handle.close()

    def __enter__(self) -> LineSink:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.close()
        except OutputError:
            if exc[0] is None:
                raise  # a close that fails on its own is an error; after one, keep the first


def save_torch_atomic(payload: Any, path: Path) -> None:
    """``torch.save(payload)`` to ``path`` through a temp file and a rename (a checkpoint is the
    old one or the whole new one). Saved through a Python file object, so a full disk is an
    ``OSError`` (``torch.save`` to a path name says only "unexpected pos"), reported as
    :class:`OutputError` naming ``path``."""
    import torch

    try:
        with atomic_path(path) as tmp, tmp.open("wb") as handle:
            torch.save(payload, handle)
    except RuntimeError as err:  # torch's writer wraps the OSError of the file it writes to
        cause = os_error_in(err)
        if cause is not None:
            raise output_error(path, cause) from err
        raise


def os_error_in(err: BaseException) -> OSError | None:
    """The OSError that ``err`` is, or that caused it (torch and safetensors wrap the error of
    the file they write to in a RuntimeError); None when there is none."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
