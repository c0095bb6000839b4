"""Kill a job at random points, resume it, and compare with a run that was never killed.

A :class:`Job` is a command (the ``fewner`` CLI through ``launch.py``, or a Python script) run
in a folder of its own, with a way to tell how far it got (``progress``: a number that grows as
work is committed, e.g. lines of the backend's call log or of a training log) and what its
result is (``result``: what must come out identical). :func:`kill_loop` starts the job, waits
until it has made progress in this run, waits a further random (seeded) moment, ``SIGKILL``\\ s
it, checks what it left behind (``check_partial``), and starts it again, a few times; then lets
it finish. Everything runs in subprocesses with one thread, offline.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
LAUNCH = Path(__file__).resolve().parent / "launch.py"


@dataclass
class Job:
    """``args(folder, again)``: the command line (``again``: a previous run was killed);
    ``script``: run ``python script args`` instead of the fewner CLI."""

    name: str
    args: Callable[[Path, bool], list[str]]
    result: Callable[[Path], Any]
    progress: Callable[[Path], int]
    env: dict[str, str] = field(default_factory=dict)
    script: Path | None = None
    check_partial: Callable[[Path], None] = lambda _folder: None


def environment(folder: Path, extra: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "FEWNER_FAULT_LOG": str(folder / "calls.log"),
        **extra,
    }


def start(job: Job, folder: Path, again: bool) -> subprocess.Popen:
    folder.mkdir(parents=True, exist_ok=True)
    program = [str(job.script)] if job.script is not None else [str(LAUNCH)]
    return subprocess.Popen(
        [sys.executable, *program, *job.args(folder, again)],
        cwd=folder, env=environment(folder, job.env),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def finish(job: Job, folder: Path, again: bool = False, timeout: float = 300) -> str:
    """Run the job to its end; returns its stderr (asserting exit code 0)."""
    proc = start(job, folder, again)
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"{job.name} failed ({proc.returncode}):\n{out}\n{err}"
    return err


def kill_once(job: Job, folder: Path, rng: random.Random, jitter: float, again: bool,
              timeout: float = 300) -> bool:
    """Start the job, SIGKILL it once it made progress (plus a random moment); False when it
    finished first (nothing left to kill)."""
    before = job.progress(folder)
    proc = start(job, folder, again)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and job.progress(folder) <= before:
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{job.name}: no progress in {timeout}s")
        time.sleep(0.01)
    time.sleep(rng.uniform(0, jitter))
    if proc.poll() is not None:
        out, err = proc.communicate()
        assert proc.returncode == 0, f"{job.name} failed ({proc.returncode}):\n{out}\n{err}"
        return False
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    job.check_partial(folder)
    return True


def kill_loop(job: Job, folder: Path, *, seed: int, kills: int, jitter: float) -> int:
    """Up to ``kills`` kills at random points, then a run to the end; returns how many kills
    happened (each one after the job had made progress in that run)."""
    rng = random.Random(seed)
    done = 0
    for _ in range(kills):
        if not kill_once(job, folder, rng, jitter, again=done > 0):
            return done
        done += 1
    finish(job, folder, again=done > 0)
    return done


def calls(folder: Path) -> Counter[str]:
    """How often each prompt was computed (the ``faulty`` backend's call log)."""
    log = folder / "calls.log"
    return Counter(log.read_text(encoding="utf-8").splitlines()) if log.exists() else Counter()


def log_lines(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return sum(1 for _ in handle)
    except FileNotFoundError:
        return 0


def whole_lines(path: Path) -> None:
    """A file streamed line by line: every line is complete JSON (a killed run may leave no
    file, or an empty one)."""
    import json

    if not path.exists():
        return
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), f"{path.name}: a line was cut"
    for line in text.splitlines():
        json.loads(line)
