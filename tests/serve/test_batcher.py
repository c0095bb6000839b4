"""The micro-batcher and the settings, in process (no server, no FastAPI)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from fewner.errors import ConfigError
from fewner.serve.batcher import MicroBatcher, QueueFull
from fewner.serve.settings import ServeSettings, is_loopback, require_token_off_loopback


class Recorder:
    """A predict function that answers ``label:text`` per text and records its calls."""

    def __init__(self, delay: float = 0.0, fail_on: str | None = None) -> None:
        self.calls: list[tuple[list[str], list[str]]] = []
        self.delay = delay
        self.fail_on = fail_on
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()

    def __call__(self, texts: list[str], labels: list[str]) -> list[str]:
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            self.calls.append((list(texts), list(labels)))
            time.sleep(self.delay)
            if self.fail_on is not None and self.fail_on in texts:
                raise ValueError(f"cannot do {self.fail_on}")
            return [f"{'+'.join(labels)}:{t}" for t in texts]
        finally:
            with self.lock:
                self.active -= 1


async def _with(batcher: MicroBatcher, coro_factory):
    await batcher.start()
    try:
        return await coro_factory()
    finally:
        await batcher.stop()


def test_concurrent_requests_share_calls_per_label_set_and_get_their_own_results() -> None:
    predict = Recorder(delay=0.05)
    batcher = MicroBatcher(predict, wait_s=0.02, max_batch=100)
    jobs = [([f"t{i}a", f"t{i}b"], ("A",) if i % 2 else ("A", "B")) for i in range(20)]

    async def main():
        return await asyncio.gather(*(batcher.submit(texts, labels) for texts, labels in jobs))

    results = asyncio.run(_with(batcher, main))
    for (texts, labels), got in zip(jobs, results, strict=True):
        assert got == [f"{'+'.join(labels)}:{t}" for t in texts]
    assert len(predict.calls) == 2  # one per label set
    assert predict.max_active == 1  # never two calls at once
    assert batcher.stats["requests"] == 20 and batcher.stats["predictor_calls"] == 2
    assert batcher.stats["largest_call_requests"] == 10


def test_max_batch_caps_gathering_and_empty_requests_skip_the_model() -> None:
    predict = Recorder()
    batcher = MicroBatcher(predict, wait_s=0.05, max_batch=4)

    async def main():
        empty = await batcher.submit([], ["A"])
        parts = await asyncio.gather(*(batcher.submit([f"x{i}", f"y{i}"], ["A"]) for i in range(6)))
        return empty, parts

    empty, parts = asyncio.run(_with(batcher, main))
    assert empty == [] and parts[5] == ["A:x5", "A:y5"]
    assert [len(texts) for texts, _ in predict.calls] == [4, 4, 4]


def test_a_failing_shared_call_is_retried_one_by_one() -> None:
    predict = Recorder(fail_on="bad")
    batcher = MicroBatcher(predict, wait_s=0.02)

    async def main():
        return await asyncio.gather(batcher.submit(["good"], ["A"]), batcher.submit(["bad"], ["A"]),
                                    batcher.submit(["fine"], ["A"]), return_exceptions=True)

    good, bad, fine = asyncio.run(_with(batcher, main))
    assert good == ["A:good"] and fine == ["A:fine"]
    assert isinstance(bad, ValueError) and "cannot do bad" in str(bad)
    assert batcher.stats["split_after_failure"] == 1 and batcher.stats["failed_calls"] == 1


def test_a_cancelled_request_is_dropped_before_it_runs_and_the_queue_is_bounded() -> None:
    predict = Recorder(delay=0.2)
    batcher = MicroBatcher(predict, wait_s=0.0, max_queue=3)

    async def main():
        first = asyncio.ensure_future(batcher.submit(["first"], ["A"]))
        await asyncio.sleep(0.05)  # the first call is running now
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(batcher.submit(["gave-up"], ["A"]), 0.01)
        with pytest.raises(QueueFull):
            await batcher.submit(["a", "b", "c", "d"], ["A"])
        later = await batcher.submit(["later"], ["A"])
        return await first, later

    first, later = asyncio.run(_with(batcher, main))
    assert first == ["A:first"] and later == ["A:later"]
    assert ["gave-up"] not in [texts for texts, _ in predict.calls]
    assert batcher.stats["dropped_before_start"] == 1 and batcher.stats["rejected_queue_full"] == 1


def test_settings_are_checked_and_know_their_help() -> None:
    assert ServeSettings().max_texts == 64 and "422" in ServeSettings.help("max_texts")
    with pytest.raises(ConfigError, match="max_texts"):
        ServeSettings(max_texts=0)
    with pytest.raises(ConfigError, match="max_batch"):
        ServeSettings(max_batch=2.5)
    assert "token" not in ServeSettings(token="x").limits()
    assert "hush-hush" not in repr(ServeSettings(token="hush-hush"))


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.0.0.2", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("example.com", False),
])
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    if loopback:
        require_token_off_loopback(host, None)
    else:
        with pytest.raises(ConfigError, match="token"):
            require_token_off_loopback(host, None)
        require_token_off_loopback(host, "t")


def test_a_lone_client_does_not_wait_for_company() -> None:
    predict = Recorder()
    batcher = MicroBatcher(predict, wait_s=2.0)

    async def main():
        started = time.monotonic()
        for i in range(3):
            assert await batcher.submit([f"t{i}"], ["A"]) == [f"A:t{i}"]
        return time.monotonic() - started

    assert asyncio.run(_with(batcher, main)) < 1.0
