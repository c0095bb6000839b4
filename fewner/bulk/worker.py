"""What runs on a worker: the model loaded once per process, one shard's texts predicted.

The engine ships :func:`predict_shard` (by reference: every worker needs fewner installed) and
a :class:`ModelSpec`; the first call in a worker process loads the predictor with
:func:`fewner.load` and keeps it for every later shard, so a model is loaded once per worker,
not once per shard. A lock serialises predictions in one process, since predictors are not
promised to be thread-safe (a Dask worker may run several threads).

Only texts go in and only entity dicts come out: the driver keeps ids and writes every file,
so workers need no shared file system except for reading the model folder.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from fewner.errors import FewnerError

__all__ = ["ModelSpec", "WorkerError", "load_on_worker", "predict_shard", "unload_all"]


class WorkerError(FewnerError):
    """A user-facing error raised on a worker (a missing model folder, unknown labels...),
    carried back to the driver as one message naming the worker."""


@dataclass(frozen=True)
class ModelSpec:
    """What :func:`fewner.load` gets on every worker: ``model`` (a saved folder, or a language
    model name with ``options``), ``labels`` (None: the model's own) and ``options`` as JSON
    (so the spec pickles, compares and keys a cache the same everywhere)."""

    model: str
    labels: tuple[str, ...] | None = None
    options_json: str = "{}"

    @classmethod
    def of(cls, model: str, labels: Any = None, options: dict[str, Any] | None = None) -> ModelSpec:
        from fewner.errors import ConfigError

        try:
            options_json = json.dumps(options or {}, sort_keys=True)
        except TypeError as exc:
            raise ConfigError(f"bulk: load options must be JSON values (they travel to workers): {exc}") from None
        return cls(str(model), None if labels is None else tuple(labels), options_json)

    @property
    def options(self) -> dict[str, Any]:
        return json.loads(self.options_json)


_lock = threading.Lock()
_loaded: dict[ModelSpec, tuple[Any, dict[str, Any]]] = {}  # spec -> (predictor, load report)


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def load_on_worker(spec: ModelSpec) -> dict[str, Any]:
    """Load ``spec``'s predictor in this process unless it is loaded; say what was loaded
    (worker, seconds, resolved labels, kind, settings) for the job's config and metrics."""
    try:
        with _lock:
            return _load(spec)
    except FewnerError as err:
        raise WorkerError(f"on worker {_worker_name()}: {err}") from None


def _load(spec: ModelSpec) -> dict[str, Any]:
    """The load report of ``spec``, loading it first when this process has not."""
    if spec not in _loaded:
        import fewner

        for old in list(_loaded):  # one model per worker: a new job's model replaces the last
            _loaded.pop(old)[0].close()
        started = time.perf_counter()
        predictor = fewner.load(spec.model, **spec.options)
        info = {
            "worker": _worker_name(),
            "load_seconds": round(time.perf_counter() - started, 3),
            "kind": predictor.kind,
            "labels": predictor.resolve_labels(None if spec.labels is None else list(spec.labels)),
            "settings": predictor.settings(),
        }
        _loaded[spec] = (predictor, info)
    return _loaded[spec][1]


def predict_shard(spec: ModelSpec, texts: list[str]) -> dict[str, Any]:
    """Entities (``Entity.as_dict()`` lists, one per text, in order) of one shard's texts, with
    the worker's name and seconds. Empty texts get no entities without a model call."""
    try:
        return _predict(spec, texts)
    except FewnerError as err:
        raise WorkerError(f"on worker {_worker_name()}: {err}") from None


def _predict(spec: ModelSpec, texts: list[str]) -> dict[str, Any]:
    with _lock:
        info = _load(spec)
        predictor = _loaded[spec][0]
        started = time.perf_counter()
        wanted = [i for i, text in enumerate(texts) if text.strip()]
        entities: list[list[dict[str, Any]]] = [[] for _ in texts]
        if wanted:
            found = predictor.predict([texts[i] for i in wanted], info["labels"])
            for i, doc in zip(wanted, found, strict=True):
                entities[i] = [e.as_dict() for e in doc]
        seconds = time.perf_counter() - started
    return {
        "entities": entities,
        "worker": info["worker"],
        "seconds": round(seconds, 4),
    }


def unload_all() -> None:
    """Close and forget every loaded predictor in this process (engines call it on shutdown)."""
    with _lock:
        for spec in list(_loaded):
            _loaded.pop(spec)[0].close()
