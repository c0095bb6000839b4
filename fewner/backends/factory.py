"""Build a backend from its registry name: the one place configs and the CLI turn names into
objects, and the one list of names a user may choose from.

Backend modules register themselves in :data:`fewner.backends.base.BACKENDS` when imported;
the registry knows which module defines which name and imports only the one asked for, so
choosing ``openai`` never imports torch. A plugin registers through the entry-point group
``fewner.backends`` and is then found here and offered by the CLI like the built-in ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fewner.backends.base import BACKENDS, Backend
from fewner.backends.cache import CachedBackend
from fewner.errors import ConfigError

# Registered, but not for users to pick: ``cache`` wraps another backend (``make_backend``'s
# ``cache=`` does that) and ``scripted`` answers from a script, for tests and dry runs.
INTERNAL_BACKENDS = frozenset({"cache", "scripted"})


def backend_names(user_facing: bool = True) -> list[str]:
    """Registered backend names, sorted (lazy and plugin ones included, nothing imported);
    ``user_facing=True`` leaves out the internal ones (:data:`INTERNAL_BACKENDS`)."""
    names = BACKENDS.names()
    return [n for n in names if n not in INTERNAL_BACKENDS] if user_facing else names


def make_backend(kind: str, model: str, cache: str | Path | None = None, **options: Any) -> Backend:
    """Create backend ``kind`` for ``model`` (catalogue name, local folder, hub id or URL,
    depending on the backend); ``options`` go to its constructor.

    ``cache``: path of a SQLite file; when given, the backend is wrapped in
    :class:`fewner.backends.cache.CachedBackend` so a rerun resumes instead of recomputing; the
    cache forwards misses in batches of the backend's own ``batch_size`` when one is given.
    Unknown ``kind``, or an option the backend does not take: :class:`~fewner.errors.ConfigError`
    listing the known names.
    """
    factory = BACKENDS[kind]
    _check_options(kind, factory, options)
    try:
        backend = factory(model, **options)
    except TypeError as err:  # a wrapper factory passed an option its backend does not take
        if "unexpected keyword argument" not in str(err):
            raise
        raise ConfigError(f"backend {kind!r}: an option it does not take ({err})") from None
    if cache is not None:
        backend = CachedBackend(backend, cache, batch_size=options.get("batch_size"))
    return backend


def _check_options(kind: str, factory: Any, options: dict[str, Any]) -> None:
    """Refuse options the backend's constructor does not take, naming the ones it does (a
    misspelt option would otherwise end in a TypeError traceback)."""
    import inspect

    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # not introspectable: let the constructor decide
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in params.items() if n != "model" and p.kind is not p.VAR_POSITIONAL]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"backend {kind!r} does not take {', '.join(unknown)}; its options: "
            f"{', '.join(accepted) or 'none'}"
        )
