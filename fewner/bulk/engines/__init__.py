"""Who runs the shards: an :class:`Engine` takes shards and gives back their predictions.

The contract, the same for every engine:

* ``with engine:`` starts (or connects to) the workers and always shuts down what it started;
* :meth:`Engine.load` loads the model on every worker before any data flows (a model folder
  missing on a worker fails here, once, not on every shard) and reports per worker;
* :meth:`Engine.run` pulls shards lazily from an iterator, keeps a bounded number in flight
  (memory stays flat however large the corpus), and yields ``(shard, result)`` as shards
  finish, in any order; the driver writes them. A failing shard raises in the driver.

Engines: ``local`` (this process, no cluster) and ``dask`` (a Dask distributed cluster).
Others are plugins: register a factory in :data:`ENGINES` (entry-point group
``fewner.bulk_engines``).
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import Any, ClassVar

from fewner.bulk.corpus import Shard
from fewner.bulk.worker import ModelSpec
from fewner.registry import Registry

__all__ = ["ENGINES", "Engine", "make_engine"]


class Engine(abc.ABC):
    """A pool of workers that predicts shards (module docstring)."""

    name: ClassVar[str] = ""

    @property
    @abc.abstractmethod
    def workers(self) -> int:
        """Worker processes available now."""

    def describe(self) -> dict[str, Any]:
        """Facts for the job's config.json (engine name, workers, address...)."""
        return {"engine": self.name, "workers": self.workers}

    @abc.abstractmethod
    def load(self, spec: ModelSpec) -> list[dict[str, Any]]:
        """Load ``spec`` on every worker; one :func:`~fewner.bulk.worker.load_on_worker` report each."""

    @abc.abstractmethod
    def run(self, spec: ModelSpec, shards: Iterator[Shard]) -> Iterator[tuple[Shard, dict[str, Any]]]:
        """``(shard, predict_shard result)`` as shards finish (module docstring)."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:  # noqa: B027 - optional hook
        """Shut down what this engine started."""


ENGINES: Registry[type[Engine]] = Registry(
    "bulk engine",
    lazy={"local": "fewner.bulk.engines.local", "dask": "fewner.bulk.engines.dask_cluster"},
    group="fewner.bulk_engines",
)


def make_engine(name: str, **options: Any) -> Engine:
    """The engine ``name`` built with ``options`` (``workers``, ``address``, ...); an option it
    does not take is a ConfigError naming it."""
    import inspect

    from fewner.errors import ConfigError

    factory = ENGINES[name]
    accepted = inspect.signature(factory).parameters
    unknown = sorted(k for k in options if k not in accepted)
    if unknown:
        raise ConfigError(
            f"the {name} engine does not take {', '.join(unknown)}; it takes "
            f"{', '.join(accepted) or 'no options'}"
        )
    return factory(**options)
