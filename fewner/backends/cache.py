"""An on-disk store in front of any backend, so an interrupted job resumes where it stopped.

Why SQLite: one file, atomic commits, safe across processes, in the standard library. The
database runs in WAL mode and commits after every batch the inner backend returns, so a job
killed at any moment (even ``SIGKILL``) loses at most the batch in flight; a rerun computes only
what is missing.

Keys are the sha256 of ``(kind, model_id, prompt, params fingerprint, constraint fingerprint)``
(``kind`` separates generations from log-probabilities). Two things make a cached answer valid
for a later call: the backend's output for one prompt must not depend on the other prompts in its
batch (the HF backend guarantees that even when sampling, see :mod:`fewner.backends.hf`), and the
``model_id`` must change when the weights do (the HF backend puts an adapter's hash in it).

Constraints are identified by ``fingerprint()`` when they have one, else by the hash of their
``regex()`` together with their repeat limit and candidate counts (which the regex leaves
out); a constraint with neither cannot be cached and raises :class:`BackendError` rather
than risk returning an answer computed under another constraint.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fewner.backends.base import BACKENDS, Backend, GenerationParams
from fewner.errors import BackendError

if TYPE_CHECKING:
    from fewner.decoding.constraint import Constraint


_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    model_id TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def constraint_fingerprint(constraint: Constraint | None) -> str:
    """A stable identity for a constraint, for cache keys ("" for no constraint)."""
    if constraint is None:
        return ""
    fingerprint = getattr(constraint, "fingerprint", None)
    if callable(fingerprint):
        return str(fingerprint())
    regex = getattr(constraint, "regex", None)
    if callable(regex):
        # The regex leaves out repeat limits; add them and the candidates' counts when known.
        parts: list[object] = [str(regex()), getattr(constraint, "limit_repeats", None)]
        counts = getattr(getattr(constraint, "candidates", None), "counts", None)
        if callable(counts):
            parts.append(sorted(counts().items()))
        blob = json.dumps(parts, ensure_ascii=False, default=str).encode()
        return "re:" + hashlib.sha256(blob).hexdigest()
    raise BackendError(
        f"cannot cache under constraint {type(constraint).__name__}: it has neither fingerprint() nor regex()"
    )


def _key(*parts: str) -> str:
    blob = json.dumps(parts, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()


class CacheStore:
    """The SQLite file: ``get_many`` and ``put_many`` (one transaction, committed at once)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # timeout: another process (a parallel job on the same cache) may hold the write lock.
        self._db = sqlite3.connect(str(self.path), timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._db.commit()

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):  # stay below SQLite's variable limit
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT key, value FROM results WHERE key IN ({marks})", chunk)
            found.update((k, json.loads(v)) for k, v in rows)
        return found

    def put_many(self, kind: str, model_id: str, items: Sequence[tuple[str, Any]]) -> None:
        now = time.time()
        with self._db:  # commits on success: a kill after this line loses nothing
            self._db.executemany(
                "INSERT OR REPLACE INTO results (key, kind, model_id, value, created) VALUES (?, ?, ?, ?, ?)",
                [(k, kind, model_id, json.dumps(v, ensure_ascii=False), now) for k, v in items],
            )

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def close(self) -> None:
        self._db.close()


class CachedBackend(Backend):
    """Wraps ``inner``: answers from the store where it can, computes only the misses.

    Misses are sent to ``inner`` in batches of ``batch_size`` (in input order) and each batch is
    committed as soon as it returns. ``hits`` and ``misses`` count prompts (a prompt repeated in
    one call is computed once and counted once as a miss, then as hits).
    """

    name = "cache"

    def __init__(self, inner: Backend, path: str | Path, batch_size: int = 16) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.inner = inner
        self.store = CacheStore(path)
        self.batch_size = batch_size
        self.hits = 0
        self.misses = 0

    @property
    def supports_token_constraints(self) -> bool:  # type: ignore[override]
        return self.inner.supports_token_constraints

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def chat_prompt(self, user_message: str, system: str | None = None) -> str:
        return self.inner.chat_prompt(user_message, system)

    def _generate(
        self, prompts: list[str], params: GenerationParams, constraints: list[Constraint | None]
    ) -> list[str]:
        model_id, fp = self.inner.model_id, params.fingerprint()
        keys = [
            _key("gen", model_id, p, fp, constraint_fingerprint(c))
            for p, c in zip(prompts, constraints, strict=True)
        ]

        def compute(idx: list[int]) -> list[str]:
            outs = self.inner.generate(
                [prompts[i] for i in idx], params, [constraints[i] for i in idx]
            )
            if len(outs) != len(idx):
                raise BackendError(
                    f"{self.inner.name} returned {len(outs)} completions for {len(idx)} prompts"
                )
            return outs

        return self._answer("gen", keys, compute)

    def _logprobs(self, prompts: list[str], completions: list[str]) -> list[float]:
        keys = [
            _key("lp", self.inner.model_id, p, c) for p, c in zip(prompts, completions, strict=True)
        ]

        def compute(idx: list[int]) -> list[float]:
            scores = self.inner.logprobs([prompts[i] for i in idx], [completions[i] for i in idx])
            return [float(s) for s in scores]

        return [float(v) for v in self._answer("lp", keys, compute)]

    def _answer(self, kind: str, keys: list[str], compute: Callable[[list[int]], list]) -> list:
        """The stored value of every key; the missing ones computed by ``compute(indices)`` in
        batches of ``batch_size``, each batch committed as soon as it returns."""
        found = self.store.get_many(keys)
        todo: dict[str, int] = {}  # key -> first index needing it
        for i, k in enumerate(keys):
            if k not in found and k not in todo:
                todo[k] = i
        self.misses += len(todo)
        self.hits += len(keys) - len(todo)
        pending = list(todo.items())
        for start in range(0, len(pending), self.batch_size):
            batch = pending[start : start + self.batch_size]
            values = compute([i for _, i in batch])
            items = [(k, v) for (k, _), v in zip(batch, values, strict=True)]
            self.store.put_many(kind, self.inner.model_id, items)
            found.update(items)
        return [found[k] for k in keys]

    def close(self) -> None:
        self.store.close()
        self.inner.close()


@BACKENDS.register("cache")
def make_cached(
    model: str,
    inner: str = "hf",
    path: str | Path = "fewner-cache.sqlite",
    cache_batch_size: int = 16,
    **options: Any,
) -> CachedBackend:
    """Registry entry: ``cache`` around the backend named ``inner`` loading ``model``.

    Other ``options`` go to the inner backend. The inner one is looked up in the registry
    (not through :func:`fewner.backends.factory.make_backend`, which imports this module).
    """
    return CachedBackend(BACKENDS[inner](model, **options), path, batch_size=cache_batch_size)
