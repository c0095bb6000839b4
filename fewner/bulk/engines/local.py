"""``local``: the shards predicted one after another in this process (no cluster).

The reference the distributed engines are compared with, and the engine for a corpus that one
process handles: the same job folder, manifest and resume, without a scheduler to start.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fewner.bulk.corpus import Shard
from fewner.bulk.engines import ENGINES, Engine
from fewner.bulk.worker import ModelSpec, load_on_worker, predict_shard, unload_all

__all__ = ["LocalEngine"]


class LocalEngine(Engine):
    """One worker: this process."""

    name = "local"

    def __init__(self) -> None:
        self._used = False

    @property
    def workers(self) -> int:
        return 1

    def load(self, spec: ModelSpec) -> list[dict[str, Any]]:
        self._used = True
        return [load_on_worker(spec)]

    def run(self, spec: ModelSpec, shards: Iterator[Shard]) -> Iterator[tuple[Shard, dict[str, Any]]]:
        self._used = True
        for shard in shards:
            yield shard, predict_shard(spec, shard.texts)

    def __exit__(self, *exc: object) -> None:
        if self._used:
            unload_all()


ENGINES.register(LocalEngine.name, LocalEngine)
