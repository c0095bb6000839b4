"""Cache backend: hits and misses, keys, persistence, and resuming a job killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fewner.backends.base import GenerationParams
from fewner.backends.cache import CachedBackend, constraint_fingerprint
from fewner.backends.factory import make_backend
from fewner.backends.scripted import ScriptedBackend
from fewner.errors import BackendError

REPO = Path(__file__).resolve().parents[2]


def answer(prompt: str) -> str:
    return f"answer to {prompt}"


class FakeConstraint:
    def __init__(self, fp: str) -> None:
        self.fp = fp

    def fingerprint(self) -> str:
        return self.fp

    def filter(self, text: str) -> tuple[str, dict[str, int]]:
        return text[:3], {}


def test_second_call_is_served_from_the_store(tmp_path: Path) -> None:
    inner = ScriptedBackend(answer)
    cache = CachedBackend(inner, tmp_path / "c.sqlite", batch_size=2)
    prompts = [f"p{i}" for i in range(5)]
    first = cache.generate(prompts)
    assert first == [answer(p) for p in prompts]
    assert (cache.hits, cache.misses) == (0, 5)
    assert [len(c.prompts) for c in inner.calls] == [2, 2, 1]  # batches of batch_size
    assert cache.generate(prompts[::-1]) == first[::-1]
    assert (cache.hits, cache.misses) == (5, 5)
    assert len(inner.calls) == 3


def test_only_misses_are_computed_and_duplicates_once(tmp_path: Path) -> None:
    inner = ScriptedBackend(answer)
    cache = CachedBackend(inner, tmp_path / "c.sqlite")
    cache.generate(["a", "b"])
    out = cache.generate(["b", "c", "c", "a", "d"])
    assert out == [answer(p) for p in ["b", "c", "c", "a", "d"]]
    assert inner.generated_prompts == ["a", "b", "c", "d"]


def test_key_covers_params_model_and_constraint(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    inner = ScriptedBackend(answer)
    cache = CachedBackend(inner, path)
    cache.generate(["a"])
    cache.generate(["a"], GenerationParams(max_new_tokens=3))
    cache.generate(["a"], constraints=[FakeConstraint("x")])
    cache.generate(["a"], constraints=[FakeConstraint("y")])
    assert cache.generate(["a"], constraints=[FakeConstraint("x")]) == ["ans"]
    assert len(inner.generated_prompts) == 4
    other = CachedBackend(ScriptedBackend(answer, model="other"), path)
    other.generate(["a"])
    assert other.misses == 1


def test_store_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with CachedBackend(ScriptedBackend(answer), path) as cache:
        cache.generate(["a", "b"])
        cache.logprobs(["a"], ["x"])
    inner = ScriptedBackend(answer)
    reopened = CachedBackend(inner, path)
    assert reopened.generate(["a", "b"]) == [answer("a"), answer("b")]
    assert reopened.logprobs(["a"], ["x"]) == [pytest.approx(-5.1)]
    assert inner.calls == []
    assert reopened.store.count() == 3
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_constraint_fingerprints() -> None:
    class WithRegex:
        def regex(self) -> str:
            return "(a|b)"

    assert constraint_fingerprint(None) == ""
    assert constraint_fingerprint(FakeConstraint("k")) == "k"
    assert constraint_fingerprint(WithRegex()).startswith("re:")
    with pytest.raises(BackendError, match="fingerprint"):
        constraint_fingerprint(object())  # type: ignore[arg-type]


def test_inner_returning_wrong_count_is_an_error(tmp_path: Path) -> None:
    class Broken(ScriptedBackend):
        def generate(self, prompts, params=GenerationParams(), constraints=None):  # noqa: B008
            return []

    with pytest.raises(BackendError, match="returned 0"):
        CachedBackend(Broken(answer), tmp_path / "c.sqlite").generate(["a"])


def test_factory_wraps_any_backend(tmp_path: Path) -> None:
    backend = make_backend("scripted", "s", cache=tmp_path / "c.sqlite", answers={"a": "b"})
    assert isinstance(backend, CachedBackend)
    assert backend.generate(["a"]) == ["b"]
    assert backend.model_id == "scripted:s"
    via_registry = make_backend(
        "cache", "s", inner="scripted", path=tmp_path / "d.sqlite", answers={"a": "c"}
    )
    assert via_registry.generate(["a"]) == ["c"]


JOB = textwrap.dedent(
    """
    import sys, time
    from fewner.backends.cache import CachedBackend
    from fewner.backends.scripted import ScriptedBackend

    cache_path, log_path, n, delay = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])

    def slow_answer(prompt):
        with open(log_path, "a") as log:  # one line per computed prompt, flushed at once
            log.write(prompt + "\\n")
        time.sleep(delay)
        return prompt.upper() + "!"

    cache = CachedBackend(ScriptedBackend(slow_answer), cache_path, batch_size=2)
    out = cache.generate([f"prompt {i}" for i in range(n)])
    print("\\n".join(out))
    """
)


def _run_job(
    tmp: Path, cache: Path, log: Path, n: int, delay: float, kill_after: int | None
) -> str:
    script = tmp / "job.py"
    script.write_text(JOB)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(cache), str(log), str(n), str(delay)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    if kill_after is None:
        stdout, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        return stdout
    deadline = time.time() + 60
    while time.time() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= kill_after:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return ""


def test_killed_job_resumes_without_repeating_calls(tmp_path: Path) -> None:
    n = 12
    cache, log = tmp_path / "job.sqlite", tmp_path / "calls.log"
    _run_job(tmp_path, cache, log, n, delay=0.15, kill_after=7)
    first_calls = log.read_text().splitlines()
    assert 7 <= len(first_calls) < n, "the job was not killed midway"
    with sqlite3.connect(cache) as db:
        stored = {row[0] for row in db.execute("SELECT value FROM results")}
    # everything computed before the batch in flight was committed
    assert len(stored) >= len(first_calls) - 2 and len(stored) >= 6

    log.unlink()
    resumed = _run_job(tmp_path, cache, log, n, delay=0.0, kill_after=None).splitlines()
    second_calls = log.read_text().splitlines()
    assert len(second_calls) == n - len(stored)
    assert not set(second_calls) & {p.lower()[:-1] for p in stored}

    uninterrupted = _run_job(
        tmp_path, tmp_path / "fresh.sqlite", tmp_path / "fresh.log", n, 0.0, None
    )
    assert resumed == uninterrupted.splitlines() == [f"PROMPT {i}!" for i in range(n)]


def test_cache_does_not_import_the_factory() -> None:
    """The dependency runs one way: factory -> cache (the factory wraps backends in it)."""
    import ast

    import fewner.backends.cache as cache_module

    tree = ast.parse(Path(cache_module.__file__).read_text(encoding="utf-8"))
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    } | {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    assert "fewner.backends.factory" not in imported


def test_an_option_a_backend_does_not_take_is_one_clear_error() -> None:
    from fewner.backends.factory import make_backend
    from fewner.errors import ConfigError

    with pytest.raises(ConfigError, match="backend 'scripted'.*base_url"):
        make_backend("scripted", "x", base_url="http://127.0.0.1:1")
