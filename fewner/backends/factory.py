"""Build a backend from its registry name: the one place configs and the CLI turn names into
objects.

Backend modules register themselves on import (:func:`fewner.backends.base.register_backend`).
Importing all of them up front would import torch for every command, so this module knows which
module defines which name and imports only the one asked for. A backend added elsewhere (a
plugin) can register itself and will be found once its module is imported.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from fewner.backends.base import BACKENDS, Backend
from fewner.errors import ConfigError

# registry name -> module that registers it
BACKEND_MODULES: dict[str, str] = {
    "hf": "fewner.backends.hf",
    "scripted": "fewner.backends.scripted",
    "cache": "fewner.backends.cache",
    "openai": "fewner.backends.openai_compat",
    "llamacpp": "fewner.backends.llamacpp",
}


def backend_factory(kind: str) -> Any:
    """The registered factory for ``kind``, importing its module on first use."""
    if kind not in BACKENDS and kind in BACKEND_MODULES:
        try:
            importlib.import_module(BACKEND_MODULES[kind])
        except ModuleNotFoundError as err:
            raise ConfigError(f"backend {kind!r} is not available: {err}") from err
    if kind not in BACKENDS:
        known = sorted(set(BACKENDS) | set(BACKEND_MODULES))
        raise ConfigError(f"unknown backend {kind!r}; known: {', '.join(known)}")
    return BACKENDS[kind]


def make_backend(kind: str, model: str, cache: str | Path | None = None, **options: Any) -> Backend:
    """Create backend ``kind`` for ``model`` (catalogue name, local folder, hub id or URL,
    depending on the backend); ``options`` go to its constructor.

    ``cache``: path of a SQLite file; when given, the backend is wrapped in
    :class:`fewner.backends.cache.CachedBackend` so a rerun resumes instead of recomputing; the
    cache forwards misses in batches of the backend's own ``batch_size`` when one is given.
    """
    backend = backend_factory(kind)(model, **options)
    if cache is not None:
        from fewner.backends.cache import CachedBackend

        backend = CachedBackend(backend, cache, batch_size=int(options.get("batch_size", 16)))
    return backend
