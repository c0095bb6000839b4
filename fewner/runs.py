"""Run folders: every run writes its resolved config and its metrics beside its outputs.

A run folder holds ``config.json`` (every setting actually used, defaults included),
``metrics.json`` and whatever the run produces. Files are written atomically (temp file, then
rename) so a crash never leaves a half-written result.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON to ``path`` via a temp file in the same folder and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2, ensure_ascii=False, sort_keys=False)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RunDir:
    """An output folder for one run."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.started = time.time()

    def file(self, name: str) -> Path:
        return self.path / name

    def write_config(self, config: dict[str, Any]) -> Path:
        """Record the resolved config plus where and with what it ran."""
        resolved = {
            **config,
            "_run": {
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started)),
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "argv": sys.argv,
            },
        }
        target = self.file("config.json")
        write_json_atomic(target, resolved)
        return target

    def write_metrics(self, metrics: dict[str, Any]) -> Path:
        target = self.file("metrics.json")
        write_json_atomic(target, {**metrics, "elapsed_seconds": round(time.time() - self.started, 3)})
        return target
