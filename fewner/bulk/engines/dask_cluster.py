"""``dask``: shards as tasks on a Dask distributed cluster (``pip install 'fewner[bulk]'``).

Without ``address`` a :class:`distributed.LocalCluster` of ``workers`` processes (one thread
each, so a worker predicts one shard at a time) is started here and shut down at the end; with
``address`` (``tcp://host:8786``, from ``dask scheduler``) the job joins that cluster and shuts
down nothing but its own client (models it loaded on the workers are released).

Each shard is one task running :func:`fewner.bulk.worker.predict_shard` on a worker whose
process keeps the model from the first task on; :meth:`DaskEngine.load` first runs
:func:`~fewner.bulk.worker.load_on_worker` once on every worker (pinned to it). At most
``in_flight`` shards (default: twice the workers) are submitted at once and refilled as they
finish (:class:`distributed.as_completed`), so the driver holds a bounded part of the corpus.
Tasks are not retried on an exception (a model error would fail the same way again); a worker
process that dies is replaced by Dask and its task rescheduled.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

from fewner.bulk.corpus import Shard
from fewner.bulk.engines import ENGINES, Engine
from fewner.bulk.worker import ModelSpec, load_on_worker, predict_shard, unload_all
from fewner.errors import ConfigError

__all__ = ["DaskEngine"]


class DaskEngine(Engine):
    """A Dask cluster: local (``workers`` processes) or an existing scheduler at ``address``."""

    name = "dask"

    def __init__(
        self,
        workers: int | None = None,
        address: str | None = None,
        in_flight: int | None = None,
        timeout: float = 60.0,
    ) -> None:
        if workers is not None and address is not None:
            raise ConfigError(
                "dask engine: give workers (start a local cluster) or address (join a running "
                "one), not both; the cluster at an address has the workers it has"
            )
        if workers is not None and workers < 1:
            raise ConfigError(f"dask engine: workers must be at least 1, got {workers}")
        if in_flight is not None and in_flight < 1:
            raise ConfigError(f"dask engine: in_flight must be at least 1, got {in_flight}")
        self.n_workers = workers if workers is not None else (os.cpu_count() or 1)
        self.address = address
        self.in_flight = in_flight
        self.timeout = timeout
        self.client: Any = None
        self.cluster: Any = None
        self._token = uuid.uuid4().hex[:8]

    def __enter__(self) -> DaskEngine:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError(
                "the dask engine needs Dask distributed: pip install 'fewner[bulk]'"
            ) from None
        try:
            if self.address is None:
                self.cluster = LocalCluster(
                    n_workers=self.n_workers,
                    threads_per_worker=1,
                    processes=True,
                    # the scheduler's HTTP server (dashboard, /health) on a free port, never
                    # on the fixed default 8787 another cluster may hold
                    dashboard_address=":0",
                )
                self.client = Client(self.cluster)
            else:
                self.client = Client(self.address, timeout=self.timeout)
                self.client.wait_for_workers(1, timeout=self.timeout)
        except OSError as exc:  # no scheduler at the address, or it did not answer in time
            self.__exit__(None, None, None)
            raise ConfigError(f"dask engine: cannot reach a scheduler at {self.address}: {exc}") from None
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        client, cluster = self.client, self.cluster
        self.client = self.cluster = None
        if client is not None:
            if cluster is None:  # a shared cluster: leave no model behind on its workers
                try:
                    client.run(unload_all)
                except Exception:  # noqa: BLE001 - best effort while shutting down
                    pass
            client.close()
        if cluster is not None:
            cluster.close()

    def _client(self) -> Any:
        if self.client is None:
            raise RuntimeError("use the dask engine inside `with engine:`")
        return self.client

    def _addresses(self) -> list[str]:
        return sorted(self._client().scheduler_info(n_workers=-1)["workers"])

    @property
    def workers(self) -> int:
        return len(self._addresses()) if self.client is not None else self.n_workers

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["address"] = self.address or (self.client.scheduler.address if self.client else None)
        out["local_cluster"] = self.address is None
        return out

    def load(self, spec: ModelSpec) -> list[dict[str, Any]]:
        client = self._client()
        futures = [
            client.submit(
                load_on_worker, spec, key=f"fewner-load-{self._token}-{i}", workers=[address],
                allow_other_workers=False, pure=False, retries=0,
            )
            for i, address in enumerate(self._addresses())
        ]
        return client.gather(futures)

    def run(self, spec: ModelSpec, shards: Iterator[Shard]) -> Iterator[tuple[Shard, dict[str, Any]]]:
        from distributed import as_completed

        client = self._client()
        window = self.in_flight or 2 * max(1, self.workers)
        pending: dict[str, tuple[Shard, Any]] = {}
        finished = as_completed()

        def submit_next() -> bool:
            shard = next(shards, None)
            if shard is None:
                return False
            future = client.submit(
                predict_shard, spec, shard.texts, key=f"fewner-shard-{self._token}-{shard.index}",
                pure=False, retries=0,
            )
            pending[future.key] = (shard, future)
            finished.add(future)
            return True

        try:
            for _ in range(window):
                if not submit_next():
                    break
            for future in finished:
                shard, _ = pending.pop(future.key)
                result = future.result()  # a worker's exception is raised here
                future.release()
                submit_next()
                yield shard, result
        finally:
            for _, future in pending.values():
                future.cancel()


ENGINES.register(DaskEngine.name, DaskEngine)
