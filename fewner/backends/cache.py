"""An on-disk store in front of any backend, so an interrupted job resumes where it stopped and
parallel jobs on one file share their work.

Why SQLite: one file, atomic commits, safe across processes, in the standard library. The
database runs in WAL mode with a busy timeout, and every batch the inner backend returns is
committed at once (misses go to the inner backend in batches of its own ``batch_size``), so a
job killed at any moment (even ``SIGKILL``) loses at most the prompts in flight; a rerun
computes only what is missing.

Sharing: right before each batch is generated, the cache looks again for answers another
process wrote meanwhile and *claims* the prompts it is about to compute (a row naming the
process, its host and the time, in the same transaction). Another process skips prompts claimed
by a live process, computes the next free ones, and at the end waits for the answers it
skipped. A claim is stale, and taken over, when its process is gone (same host: the pid no
longer runs, e.g. a killed job being resumed) or after ``claim_timeout`` seconds (a process on
another host, or a pid reused). Claims are removed when their answers are committed or their
batch fails. So two processes on one ``--cache`` compute each prompt once.

Keys are the sha256 of ``(kind, model_id, prompt, params fingerprint, constraint fingerprint)``
(``kind`` separates generations from log-probabilities). Two things make a cached answer valid
for a later call: the backend's output for one prompt must not depend on the other prompts in its
batch (the HF backend guarantees that even when sampling, see :mod:`fewner.backends.hf`), and the
``model_id`` must change when the weights do (the HF backend puts an adapter's hash in it).

Constraints are identified by ``fingerprint()`` when they have one, else by the hash of their
``regex()`` together with their repeat limit and candidate counts (which the regex leaves
out); a constraint with neither cannot be cached and raises :class:`BackendError` rather
than risk returning an answer computed under another constraint.

A cache file that cannot be written (full disk, read-only folder) ends in
:class:`fewner.runs.OutputError` naming the file; what was committed before stays valid.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fewner.backends.base import BACKENDS, Backend, GenerationParams
from fewner.backends.cache_store import CLAIM_TIMEOUT, CacheStore
from fewner.errors import BackendError, FewnerError

if TYPE_CHECKING:
    from fewner.decoding.constraint import Constraint


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


def default_batch_size(inner: Backend) -> int:
    """Prompts per call to ``inner``: as many as it computes at once (its ``batch_size``, or its
    ``concurrency`` for a server backend), else 1 (llama.cpp answers one prompt at a time), so
    a kill loses only the prompts really in flight."""
    for name in ("batch_size", "concurrency"):
        value = getattr(inner, name, None)
        if isinstance(value, int) and value >= 1:
            return value
    return 1


class CachedBackend(Backend):
    """Wraps ``inner``: answers from the store where it can, computes only the misses.

    Misses are sent to ``inner`` in batches of ``batch_size`` (default:
    :func:`default_batch_size`), in input order; right before each batch the store is read again
    and the batch's prompts are claimed (module docstring), and each batch is committed as soon
    as it returns. ``hits`` and ``misses`` count prompts: ``misses`` those this process
    computed, ``hits`` the rest (answered from the store, by another process meanwhile, or
    repeated in one call). ``claim_timeout``: seconds after which a claim that cannot be checked
    is taken over; ``poll``: seconds between looks at prompts another process is computing.
    """

    name = "cache"

    def __init__(
        self,
        inner: Backend,
        path: str | Path,
        batch_size: int | None = None,
        claim_timeout: float = CLAIM_TIMEOUT,
        poll: float = 0.05,
    ) -> None:
        if batch_size is None:
            batch_size = default_batch_size(inner)
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.inner = inner
        self.store = CacheStore(path, claim_timeout=claim_timeout)
        self.batch_size = batch_size
        self.poll = poll
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
        batches of ``batch_size``, each claimed right before and committed as soon as it
        returns; those another process claimed are waited for (or taken over when stale)."""
        found = self.store.get_many(keys)
        first: dict[str, int] = {}  # key -> first index needing it
        for i, k in enumerate(keys):
            if k not in found and k not in first:
                first[k] = i
        todo = list(first)
        computed = 0
        delay = self.poll
        while todo:
            waiting: list[str] = []
            at = 0
            progressed = False
            while at < len(todo):
                got = self.store.claim(todo[at:], self.batch_size)
                at += got.looked
                found.update(got.answered)
                waiting.extend(got.busy)
                progressed = progressed or bool(got.answered)
                if got.mine:
                    self._compute_batch(kind, got.mine, first, compute, found)
                    computed += len(got.mine)
                    progressed = True
            todo = waiting
            if todo and not progressed:  # all left are being computed elsewhere
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
            elif progressed:
                delay = self.poll
        self.misses += computed
        self.hits += len(keys) - computed
        return [found[k] for k in keys]

    def _compute_batch(
        self,
        kind: str,
        batch: list[str],
        first: dict[str, int],
        compute: Callable[[list[int]], list],
        found: dict[str, Any],
    ) -> None:
        try:
            values = compute([first[k] for k in batch])
        except BaseException:
            try:
                self.store.release(batch)  # let another process (or a rerun) take them
            except FewnerError:
                pass
            raise
        items = list(zip(batch, values, strict=True))
        self.store.put_many(kind, self.inner.model_id, items)
        found.update(items)

    def close(self) -> None:
        self.store.close()
        self.inner.close()


@BACKENDS.register("cache")
def make_cached(
    model: str,
    inner: str = "hf",
    path: str | Path = "fewner-cache.sqlite",
    cache_batch_size: int | None = None,
    **options: Any,
) -> CachedBackend:
    """Registry entry: ``cache`` around the backend named ``inner`` loading ``model``.

    Other ``options`` go to the inner backend. The inner one is looked up in the registry
    (not through :func:`fewner.backends.factory.make_backend`, which imports this module).
    """
    return CachedBackend(BACKENDS[inner](model, **options), path, batch_size=cache_batch_size)
