"""Micro-batching: concurrent requests share predictor calls, and each gets its own results back.

A request's texts wait in one queue. A single worker takes the oldest request, keeps gathering
until ``wait_s`` after that request arrived or until ``max_batch`` texts are gathered, then makes
one ``predict(texts, labels)`` call per distinct label set (in order of first arrival) on one
worker thread, and hands each request the slice of results that belongs to its texts. Why: a
model call costs much more per call than per text (padding, prompt prefixes, Python overhead), and
predictors are not thread-safe, so calls must run one at a time anyway. The wait applies only
under concurrent load (the previous call was shared, or more requests are already queued): a
lone client's request goes straight to the model. Requests that arrive while a call runs are
gathered for the next one whatever the wait.

When a shared call fails, its requests are retried one by one, so one bad request fails alone.
A request whose caller gave up (timeout, disconnect: its future is done) is skipped if it has not
started. The counters in :attr:`MicroBatcher.stats` say how many calls served how many requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

__all__ = ["MicroBatcher", "QueueFull"]

log = logging.getLogger("fewner.serve")

PredictFn = Callable[[list[str], list[str]], list[Any]]


class QueueFull(Exception):
    """More texts wait than ``max_queue`` allows; the request was not queued."""


@dataclass
class _Request:
    texts: list[str]
    labels: tuple[str, ...]
    future: asyncio.Future[list[Any]]
    arrived: float


class MicroBatcher:
    """Gathers requests into predictor calls (module docstring). Start it inside the event loop
    that submits to it (:meth:`start`), stop it when done (:meth:`stop`)."""

    def __init__(self, predict: PredictFn, *, wait_s: float = 0.005, max_batch: int = 64,
                 max_queue: int = 1024) -> None:
        self._predict = predict
        self.wait_s = wait_s
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.stats: Counter[str] = Counter(dict.fromkeys(
            ["requests", "texts", "predictor_calls", "largest_call_requests", "largest_call_texts",
             "failed_calls"], 0))
        self._queue: asyncio.Queue[_Request] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._waiting_texts = 0

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fewner-predict")
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="fewner-batcher")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        if self._queue is not None:
            while not self._queue.empty():
                request = self._queue.get_nowait()
                if not request.future.done():
                    request.future.set_exception(RuntimeError("the service is stopping"))
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)

    async def submit(self, texts: Sequence[str], labels: Sequence[str]) -> list[Any]:
        """The predictor's results for ``texts`` (one per text, in order) with ``labels``.

        Raises :class:`QueueFull` at once when the queue is full, and whatever the predictor
        raised for these texts. Cancelling the caller drops the request if it has not started.
        """
        if self._queue is None:
            raise RuntimeError("MicroBatcher.submit before start()")
        texts = list(texts)
        if not texts:
            return []
        if self._waiting_texts + len(texts) > self.max_queue:
            self.stats["rejected_queue_full"] += 1
            raise QueueFull
        loop = asyncio.get_running_loop()
        request = _Request(texts, tuple(labels), loop.create_future(), loop.time())
        self._waiting_texts += len(texts)
        self.stats["requests"] += 1
        self.stats["texts"] += len(texts)
        self._queue.put_nowait(request)
        return await request.future

    # ----- the worker ----------------------------------------------------------------------------
    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        shared = False  # did the previous call serve more than one request?
        while True:
            gathered = [await self._queue.get()]
            size = len(gathered[0].texts)
            # wait for company only under concurrent load: a lone client never waits
            deadline = gathered[0].arrived + (self.wait_s if shared or not self._queue.empty() else 0)
            while size < self.max_batch:
                if self._queue.empty():
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        request = await asyncio.wait_for(self._queue.get(), left)
                    except TimeoutError:
                        break
                else:
                    request = self._queue.get_nowait()
                gathered.append(request)
                size += len(request.texts)
            self._waiting_texts -= size
            shared = len(gathered) > 1
            try:
                await self._serve_gathered(gathered)
            except Exception as err:  # a bug here must not stop the worker: fail these, go on
                log.exception("batcher: serving %d requests failed", len(gathered))
                for request in gathered:
                    if not request.future.done():
                        request.future.set_exception(err)

    async def _serve_gathered(self, gathered: list[_Request]) -> None:
        groups: dict[tuple[str, ...], list[_Request]] = {}
        for request in gathered:
            groups.setdefault(request.labels, []).append(request)
        for labels, requests in groups.items():
            live = [r for r in requests if not r.future.done()]
            self.stats["dropped_before_start"] += len(requests) - len(live)
            if live:
                await self._serve(labels, live)

    async def _serve(self, labels: tuple[str, ...], requests: list[_Request]) -> None:
        """One predictor call for ``requests``; on failure, one call each (so only the culprit
        fails)."""
        texts = [t for r in requests for t in r.texts]
        loop = asyncio.get_running_loop()
        self.stats["predictor_calls"] += 1
        self.stats["largest_call_requests"] = max(self.stats["largest_call_requests"], len(requests))
        self.stats["largest_call_texts"] = max(self.stats["largest_call_texts"], len(texts))
        try:
            results = await loop.run_in_executor(self._executor, self._predict, texts, list(labels))
            if len(results) != len(texts):
                raise RuntimeError(f"the predictor returned {len(results)} results for {len(texts)} texts")
        except Exception as err:
            if len(requests) > 1:
                self.stats["split_after_failure"] += 1
                for request in requests:
                    if not request.future.done():
                        await self._serve(labels, [request])
                return
            self.stats["failed_calls"] += 1
            if not requests[0].future.done():
                requests[0].future.set_exception(err)
            return
        start = 0
        for request in requests:
            part = results[start:start + len(request.texts)]
            start += len(request.texts)
            if not request.future.done():
                request.future.set_result(part)
