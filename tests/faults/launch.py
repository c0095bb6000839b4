"""Run the ``fewner`` CLI in a subprocess with a ``faulty`` backend registered: the scripted
backend answering every prompt with ``FEWNER_FAULT_ANSWER`` (or a rule, below), sleeping
``FEWNER_FAULT_DELAY`` seconds per prompt and appending each prompt it answered (one line,
``repr`` of the prompt) to ``FEWNER_FAULT_LOG``, so a test counts how often each was computed.

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


if __name__ == "__main__":
    register()
    from fewner.cli import main

    main(sys.argv[1:])
