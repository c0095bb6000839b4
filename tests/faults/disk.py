"""A full disk and a read-only folder, simulated in-process for the files under one folder.

:func:`full_disk` patches ``open`` (``builtins.open`` and ``io.open``, which ``pathlib`` and
``os.fdopen`` use) so that files opened for writing under ``root`` accept ``budget`` characters
in all, then raise ``OSError(ENOSPC)`` on the next write, as a full disk does. :func:`read_only`
makes every open for writing (and every new file or folder) under ``root`` fail with ``EROFS``.
Reads, and files elsewhere, are untouched.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
from pathlib import Path
from typing import Any

import pytest


def _name(file: Any) -> str | None:
    if isinstance(file, int):
        try:
            return os.readlink(f"/proc/self/fd/{file}")
        except OSError:
            return None
    try:
        return os.path.abspath(os.fspath(file))
    except TypeError:
        return None


def _inside(root: Path, file: Any) -> bool:
    name = _name(file)
    return name is not None and (name + os.sep).startswith(str(root.resolve()) + os.sep)


def _writes(mode: str) -> bool:
    return any(c in mode for c in "wax+")


class _Budgeted:
    """A file object whose writes draw on a shared budget of characters."""

    def __init__(self, handle: Any, disk: _Disk) -> None:
        self._handle = handle
        self._disk = disk

    def write(self, data: Any) -> int:
        if len(data) > self._disk.left:
            self._disk.left = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._disk.left -= len(data)
        return self._handle.write(data)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __iter__(self) -> Any:
        return iter(self._handle)

    def __enter__(self) -> _Budgeted:
        self._handle.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._handle.__exit__(*exc)


class _Disk:
    def __init__(self, left: int) -> None:
        self.left = left


def full_disk(monkeypatch: pytest.MonkeyPatch, root: Path, budget: int) -> _Disk:
    """Files written under ``root`` get ``budget`` characters in all (module docstring)."""
    disk = _Disk(budget)
    real = io.open

    def patched(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real(file, mode, *args, **kwargs)
        if _writes(mode) and _inside(root, file):
            return _Budgeted(handle, disk)
        return handle

    monkeypatch.setattr(io, "open", patched)
    monkeypatch.setattr(builtins, "open", patched)
    return disk


def read_only(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """Writing, creating or renaming anything under ``root`` fails with EROFS."""
    real_open, real_os_open, real_mkdir = io.open, os.open, os.mkdir

    def refuse(file: Any) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))

    def patched(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if _writes(mode) and _inside(root, file):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    def patched_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and _inside(root, path):
            refuse(path)
        return real_os_open(path, flags, *args, **kwargs)

    def patched_mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        if _inside(root, path) and not os.path.isdir(path):
            refuse(path)
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(io, "open", patched)
    monkeypatch.setattr(builtins, "open", patched)
    monkeypatch.setattr(os, "open", patched_os_open)
    monkeypatch.setattr(os, "mkdir", patched_mkdir)
