"""Two processes on one answer cache share the work: an answer one of them wrote is read by the
other before it generates, and a prompt claimed by a live process is not started again.

The job is a :class:`~fewner.backends.cache.CachedBackend` around the scripted backend with a
small delay per answer; every computed prompt is appended to a shared call log, so the test
counts how many prompts were computed in all.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

JOB = textwrap.dedent(
    """
    import os, sys, time
    from fewner.backends.cache import CachedBackend
    from fewner.backends.scripted import ScriptedBackend

    cache_path, log_path, n, delay, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]

    def slow_answer(prompt):
        time.sleep(delay)
        with open(log_path, "a") as log:
            log.write(f"{os.getpid()} {prompt}\\n")
        return prompt.upper() + "!"

    cache = CachedBackend(ScriptedBackend(slow_answer), cache_path, batch_size=2)
    while not os.path.exists(go):  # start both processes at the same moment
        time.sleep(0.005)
    out = cache.generate([f"prompt {i}" for i in range(n)])
    print("\\n".join(out))
    print(f"hits={cache.hits} misses={cache.misses}", file=sys.stderr)
    """
)


def _start(tmp: Path, cache: Path, log: Path, n: int, delay: float, go: Path) -> subprocess.Popen:
    script = tmp / "job.py"
    script.write_text(JOB)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, str(script), str(cache), str(log), str(n), str(delay), str(go)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def test_two_processes_on_one_cache_compute_each_prompt_once(tmp_path: Path) -> None:
    n, batch = 24, 2
    cache, log, go = tmp_path / "shared.sqlite", tmp_path / "calls.log", tmp_path / "go"
    procs = [_start(tmp_path, cache, log, n, 0.03, go) for _ in range(2)]
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in outs]
    expected = [f"PROMPT {i}!" for i in range(n)]
    assert all(o.splitlines() == expected for o, _ in outs)
    calls = log.read_text().splitlines()
    prompts = [c.split(" ", 1)[1] for c in calls]
    # each prompt once; at worst a batch in flight when a claim went stale (none does here)
    assert len(prompts) <= n + batch, f"{len(prompts)} prompts computed for {n}"
    assert set(prompts) == {f"prompt {i}" for i in range(n)}
    # and both processes did part of the work (they really ran side by side)
    assert len({c.split(" ", 1)[0] for c in calls}) == 2
