"""Run the ``fewner`` CLI in a subprocess with a ``faulty`` backend registered: the scripted
backend answering every prompt with ``FEWNER_FAULT_ANSWER`` (or a rule, below), sleeping
``FEWNER_FAULT_DELAY`` seconds per prompt and appending each prompt it answered (one line,
``repr`` of the prompt) to ``FEWNER_FAULT_LOG``, so a test counts how often each was computed.

Disk faults (:mod:`tests.faults.disk`), for files written under ``FEWNER_FAULT_ROOT``:
``FEWNER_FAULT_DISK=N`` lets N characters be written there, then the disk is full;
``FEWNER_FAULT_READONLY=1`` makes the folder read-only; ``FEWNER_FAULT_USED=FILE`` receives how
many characters were written there (to choose where a later run should run out of space).

Usage: ``python tests/faults/launch.py fewner-args...`` (``PYTHONPATH`` = the repository).
"""

from __future__ import annotations

import os
import sys
import time


def _answer(prompt: str) -> str:
    """The configured answer; ``{json}`` answers a JSON dictionary naming the capitalised
    words after the prompt's last ``Text:`` as ``LOC`` (for the annotation prompt)."""
    answer = os.environ.get("FEWNER_FAULT_ANSWER", "")
    if answer != "{json}":
        return answer
    import json

    text = prompt.rsplit("Text:", 1)[-1].split("Answer:", 1)[0] if "Text:" in prompt else ""
    words = [w.strip(".,;") for w in text.split() if w[:1].isupper()]
    return json.dumps({"LOC": words})


def register() -> None:
    from fewner.backends.base import BACKENDS
    from fewner.backends.scripted import ScriptedBackend

    log_path = os.environ.get("FEWNER_FAULT_LOG")
    delay = float(os.environ.get("FEWNER_FAULT_DELAY", "0"))

    def answer(prompt: str) -> str:
        time.sleep(delay)
        if log_path:
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(repr(prompt) + "\n")
        return _answer(prompt)

    class FaultyBackend(ScriptedBackend):
        def __init__(self, model: str = "faulty", batch_size: int = 4, **_options: object) -> None:
            super().__init__(answer, model=model)
            self.batch_size = batch_size

    @BACKENDS.register("faulty")
    def make_faulty(model: str = "faulty", **options: object) -> FaultyBackend:
        return FaultyBackend(model, **options)  # type: ignore[arg-type]


def disk_faults() -> None:
    import atexit
    from pathlib import Path

    import pytest

    from tests.faults.disk import full_disk, read_only

    root = Path(os.environ.get("FEWNER_FAULT_ROOT", "out")).resolve()
    patch = pytest.MonkeyPatch()
    if os.environ.get("FEWNER_FAULT_READONLY"):
        read_only(patch, root)
    budget = os.environ.get("FEWNER_FAULT_DISK")
    used_file = os.environ.get("FEWNER_FAULT_USED")
    if budget is not None or used_file:
        start = int(budget) if budget is not None else 10**12
        disk = full_disk(patch, root, start)
        if used_file:
            atexit.register(lambda: Path(used_file).write_text(str(start - disk.left)))


if __name__ == "__main__":
    register()
    disk_faults()
    from fewner.cli import main

    main(sys.argv[1:])
