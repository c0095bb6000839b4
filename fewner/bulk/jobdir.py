"""The job folder: per-shard outputs, a manifest of shards done, and the final output.

Layout (``OUT.job/`` beside ``OUT.jsonl`` by default)::

    config.json         what the job is (input, model, labels, shard size...) and how it ran
    manifest.jsonl      one line per shard written: index, documents, entities, SHA-256 of its
                        input and of its output file, worker, seconds (a later line wins)
    shards/000042.jsonl the predictions of shard 42: one JSON line per document, in input order
    metrics.json        counts and speed of the last run (status "done" or "incomplete")

Nothing is lost on a crash: a shard file is written to a temp file, flushed to disk and renamed
(a half-written shard is never seen), and only then recorded in the manifest. On resume a shard
counts as done when its manifest line is intact, its file exists with the recorded SHA-256, and
(checked while reading the input) its input digest matches; anything else is predicted again.
The job's identity (input, model, labels, options, shard size) must match the folder's
config.json, or the job stops and says which key differs. The final output is the shard files
concatenated in index order, written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fewner.errors import ConfigError

__all__ = ["JobFolder", "default_job_dir", "output_record"]

CONFIG = "config.json"
MANIFEST = "manifest.jsonl"
METRICS = "metrics.json"
SHARDS = "shards"


def default_job_dir(output: Path) -> Path:
    """``OUT.job`` beside ``OUT.jsonl``."""
    return output.with_name(output.stem + ".job")


def output_record(doc: Any, entities: list[dict[str, Any]], include_text: bool = True) -> dict[str, Any]:
    """One output line: ``id``, ``text`` (unless left out), ``entities`` and the input's ``meta``."""
    record: dict[str, Any] = {"id": doc.id}
    if include_text:
        record["text"] = doc.text
    record["entities"] = entities
    if doc.meta is not None:
        record["meta"] = doc.meta
    return record


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@dataclass
class JobFolder:
    """One job's folder (module docstring)."""

    path: Path
    #: what :meth:`verified_done` found wrong (shards to predict again), for the log
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    def shard_path(self, index: int) -> Path:
        return self.path / SHARDS / f"{index:06d}.jsonl"

    # ----- identity ----------------------------------------------------------------------------
    def start(self, identity: dict[str, Any]) -> bool:
        """Check ``identity`` against an existing job here (ConfigError naming what differs);
        True when resuming one. A new job's folder is made, with ``identity`` in config.json
        (the job writes its other facts under other keys)."""
        config_path = self.path / CONFIG
        if config_path.is_file():
            try:
                stored = json.loads(config_path.read_text(encoding="utf-8")).get("job", {})
            except (json.JSONDecodeError, AttributeError):
                raise ConfigError(f"{config_path}: not a readable job config; remove the folder to start over") from None
            differ = sorted(k for k in {*stored, *identity} if stored.get(k) != identity.get(k))
            if differ:
                shown = "; ".join(f"{k}: was {stored.get(k)!r}, now {identity.get(k)!r}" for k in differ)
                raise ConfigError(
                    f"{self.path} holds another job ({shown}); rerun with the same settings to "
                    "resume it, or give a new job folder (or delete this one) to start over"
                )
            return True
        if (self.path / MANIFEST).exists():
            raise ConfigError(f"{self.path}: a manifest without config.json; remove the folder to start over")
        (self.path / SHARDS).mkdir(parents=True, exist_ok=True)
        self.write_json(CONFIG, {"job": identity})  # the identity first: a resume checks it
        return False

    def write_json(self, name: str, payload: dict[str, Any]) -> None:
        from fewner.runs import write_json_atomic

        write_json_atomic(self.path / name, payload)

    # ----- shards ------------------------------------------------------------------------------
    def verified_done(self) -> dict[int, dict[str, Any]]:
        """Shard index -> manifest entry, for the shards whose file is intact (module docstring)."""
        entries: dict[int, dict[str, Any]] = {}
        manifest = self.path / MANIFEST
        if manifest.is_file():
            for lineno, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
                try:
                    entry = json.loads(line)
                    entries[int(entry["shard"])] = entry
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    self.problems.append(f"manifest line {lineno} is damaged (ignored)")
        done: dict[int, dict[str, Any]] = {}
        for index, entry in sorted(entries.items()):
            path = self.shard_path(index)
            if not path.is_file():
                self.problems.append(f"shard {index}: {path.name} is missing; predicting it again")
            elif _sha256_file(path) != entry.get("output_sha256"):
                self.problems.append(f"shard {index}: {path.name} changed since it was written; predicting it again")
            else:
                done[index] = entry
        return done

    def write_shard(self, index: int, records: list[dict[str, Any]], facts: dict[str, Any]) -> dict[str, Any]:
        """Write shard ``index`` atomically, then record it in the manifest; the entry."""
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
        path = self.shard_path(index)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, data)
        entry = {
            "shard": index,
            "documents": len(records),
            "entities": sum(len(r["entities"]) for r in records),
            "output_sha256": hashlib.sha256(data).hexdigest(),
            **facts,
        }
        manifest = self.path / MANIFEST
        # a line cut by a kill would swallow the next entry: start on a fresh line
        cut = manifest.is_file() and manifest.stat().st_size > 0 and not _ends_with_newline(manifest)
        with manifest.open("a", encoding="utf-8") as handle:
            handle.write(("\n" if cut else "") + json.dumps(entry, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return entry

    def assemble(self, shards: int, output: Path) -> int:
        """Concatenate shards ``0 .. shards-1`` in order into ``output`` (atomically); bytes written."""
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(f".{output.name}.tmp")
        size = 0
        try:
            with tmp.open("wb") as out:
                for index in range(shards):
                    with self.shard_path(index).open("rb") as handle:
                        for block in iter(lambda h=handle: h.read(1 << 20), b""):
                            out.write(block)
                            size += len(block)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, output)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return size
