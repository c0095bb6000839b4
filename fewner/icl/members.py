"""The members of an in-context ensemble: one backend per configured model, created (and closed)
on its own worker thread when the models run in parallel, and the demonstration pool restricted
to the types asked. Shared by :class:`fewner.predictors.icl.IclPredictor` and the ``fewner icl``
runner.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fewner.backends.base import Backend
from fewner.backends.factory import make_backend
from fewner.icl.config import IclConfig
from fewner.icl.pipeline import Member
from fewner.types import Sentence

__all__ = ["build_members", "close_members", "restrict_pool"]


def build_members(
    config: IclConfig,
    cache: Path | None,
    make: Callable[..., Backend] = make_backend,
    log: Callable[[str], object] = lambda _m: None,
) -> list[Member]:
    """One backend per configured model (each wrapped in the shared cache when given).

    With ``config.parallel`` each model gets its own worker thread and its backend is created
    on it, so thread-bound resources (the cache's SQLite connection) stay on one thread.
    """
    members: list[Member] = []
    seen: dict[str, int] = {}
    try:
        for spec in config.models:
            kind = spec.backend or config.backend
            options = {**(config.backend_options if kind == config.backend else {}), **spec.options}
            base = spec.name or spec.model
            seen[base] = seen.get(base, 0) + 1
            name = base if seen[base] == 1 else f"{base}#{seen[base]}"
            log(f"loading {name} ({kind})")
            worker = (
                ThreadPoolExecutor(1, thread_name_prefix=f"icl-{name}") if config.parallel else None
            )
            try:
                if worker is None:
                    backend = make(kind, spec.model, cache=cache, **options)
                else:
                    backend = worker.submit(make, kind, spec.model, cache=cache, **options).result()
            except BaseException:
                if worker is not None:
                    worker.shutdown()
                raise
            members.append(Member(name, backend, spec.weight, worker))
    except BaseException:
        close_members(members)
        raise
    return members


def close_members(members: Sequence[Member]) -> None:
    """Close every backend (on its worker thread when it has one) and stop the workers."""
    for m in members:
        if m.worker is None:
            m.backend.close()
        else:
            m.worker.submit(m.backend.close).result()
            m.worker.shutdown()


def restrict_pool(pool: Sequence[Sentence], types: Sequence[str]) -> tuple[list[Sentence], int]:
    """Pool sentences with only the spans of ``types``; also how many spans were left out."""
    wanted = set(types)
    dropped = sum(1 for s in pool for sp in s.spans if sp.label not in wanted)
    return [s.with_spans(sp for sp in s.spans if sp.label in wanted) for s in pool], dropped
