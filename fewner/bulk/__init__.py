"""Bulk jobs: a large corpus predicted shard by shard on a distributed engine, resumable.

Why: millions of documents do not fit one process's patience or memory, and a job that dies
at shard 900 of 1000 must not start again from shard 0. The pieces, one job each:

* :mod:`fewner.bulk.corpus` - documents (JSONL with ``id`` + ``text``, or plain text, one
  document per line) read in shards of N documents, each with a digest of its input;
* :mod:`fewner.bulk.jobdir` - the job folder: one output file per shard written atomically,
  a manifest of the shards done, verification on resume, the final output in input order;
* :mod:`fewner.bulk.worker` - what runs on a worker: a model loaded once per worker process
  with :func:`fewner.load`, ``predictor.predict(texts, labels)`` on each shard;
* :mod:`fewner.bulk.engines` - who runs the shards: ``local`` (this process) or ``dask``
  (a Dask cluster: a local one of N worker processes, or an existing scheduler's address);
  :data:`~fewner.bulk.engines.ENGINES` is a registry, so another engine is a plugin;
* :mod:`fewner.bulk.job` - :func:`run_job`, which ties them together (``fewner bulk``).

Nothing here imports an engine at import time; ``dask`` is imported only when asked for.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_job"]


def run_job(*args: Any, **kwargs: Any) -> Any:
    """See :func:`fewner.bulk.job.run_job`."""
    from fewner.bulk.job import run_job as _run_job

    return _run_job(*args, **kwargs)
