"""The SQLite file behind :class:`fewner.backends.cache.CachedBackend`: answers and claims.

``results`` holds one answer per key (committed with the transaction that wrote it);
``claims`` holds the keys a process is computing now (its owner token, host, pid and the time),
so that processes sharing the file skip each other's work. A claim is stale, and may be taken
over, when it is this store's own, older than ``claim_timeout``, or held by a pid that no longer
runs on this host. Every write is one ``BEGIN IMMEDIATE`` transaction; a full disk or a
read-only file is :class:`fewner.runs.OutputError` naming the file, any other SQLite failure a
:class:`~fewner.errors.BackendError` naming it.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fewner.errors import BackendError, FewnerError
from fewner.runs import output_error, writing

__all__ = ["CLAIM_TIMEOUT", "CacheStore", "Claimed"]

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS results (
        key TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        model_id TEXT NOT NULL,
        value TEXT NOT NULL,
        created REAL NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS claims (
        key TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        claimed REAL NOT NULL
    )
    """,
)

#: Seconds after which a claim of a process that cannot be checked (another host) is stale.
CLAIM_TIMEOUT = 600.0
_CHUNK = 500  # keys per query: stay below SQLite's variable limit


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # runs, as another user
        return True
    except OSError:
        return True  # cannot tell: let the timeout decide
    return True


@dataclass
class Claimed:
    """What :meth:`CacheStore.claim` found among the keys it looked at."""

    mine: list[str] = field(default_factory=list)  # claimed now: compute these
    answered: dict[str, Any] = field(default_factory=dict)  # already in the store
    busy: list[str] = field(default_factory=list)  # claimed by another live process
    looked: int = 0  # how many of the keys passed in were looked at


class CacheStore:
    """The SQLite file: answers (``get_many``, ``put_many``) and claims (``claim``,
    ``release``); every write is one transaction, committed at once."""

    def __init__(self, path: str | Path, claim_timeout: float = CLAIM_TIMEOUT) -> None:
        self.path = Path(path)
        self.claim_timeout = claim_timeout
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.owner = f"{self.host}:{self.pid}:{secrets.token_hex(6)}"
        with self._errors():
            with writing(self.path):
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # timeout: another process (a parallel job on the same cache) may hold the write
            # lock; isolation_level=None: transactions are begun explicitly below.
            self._db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
            self._set_up()

    def _set_up(self, patience: float = 60.0) -> None:
        """WAL mode and the schema. Switching to WAL while another process opens the same new
        file can fail with "database is locked" at once (SQLite does not wait on the busy
        handler for it), so that error is retried with a growing pause for ``patience`` seconds."""
        deadline = time.monotonic() + patience
        for attempt in range(1000):
            try:
                self._db.execute("PRAGMA busy_timeout=60000")
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                with self._transaction():
                    for statement in _SCHEMA:
                        self._db.execute(statement)
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(min(1.0, 0.02 * 2**attempt))

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """A full disk or a read-only file as :class:`OutputError` naming the cache file."""
        try:
            yield
        except sqlite3.OperationalError as err:
            text = str(err).lower()
            if any(w in text for w in ("full", "readonly", "read-only", "unable to open", "i/o")):
                raise output_error(self.path, err) from err
            raise BackendError(f"answer cache {self.path}: {err}") from err
        except sqlite3.DatabaseError as err:  # not a database, corrupt: say which file
            raise BackendError(f"answer cache {self.path}: {err}") from err

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` (takes the write lock at once, so what is read inside cannot
        change before the writes), committed on success, rolled back on error."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # SQLite rolls back by itself on a full disk
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # keep the error that got us here
            raise

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        unique = list(dict.fromkeys(keys))
        with self._errors():
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                found.update(self._values(chunk))
        return found

    def _values(self, chunk: Sequence[str]) -> dict[str, Any]:
        marks = ",".join("?" * len(chunk))
        rows = self._db.execute(f"SELECT key, value FROM results WHERE key IN ({marks})", chunk)
        return {k: json.loads(v) for k, v in rows}

    def put_many(self, kind: str, model_id: str, items: Sequence[tuple[str, Any]]) -> None:
        """Store answers and drop their claims, in one transaction: a kill after this returns
        loses nothing."""
        now = time.time()
        with self._errors(), self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO results (key, kind, model_id, value, created) VALUES (?, ?, ?, ?, ?)",
                [(k, kind, model_id, json.dumps(v, ensure_ascii=False), now) for k, v in items],
            )
            self._db.executemany("DELETE FROM claims WHERE key = ?", [(k,) for k, _ in items])

    def claim(self, keys: Sequence[str], limit: int) -> Claimed:
        """Look at ``keys`` (unique, in order) until ``limit`` of them are claimed for this
        store; each one looked at is answered (value returned), claimed by another live process
        (``busy``) or claimed now (``mine``: free, or its claim was stale)."""
        out = Claimed()
        now = time.time()
        with self._errors(), self._transaction():
            for start in range(0, len(keys), _CHUNK):
                chunk = list(keys[start : start + _CHUNK])
                answered = self._values(chunk)
                marks = ",".join("?" * len(chunk))
                holders = {
                    row[0]: row[1:]
                    for row in self._db.execute(
                        f"SELECT key, owner, host, pid, claimed FROM claims WHERE key IN ({marks})",
                        chunk,
                    )
                }
                for key in chunk:
                    out.looked += 1
                    if key in answered:
                        out.answered[key] = answered[key]
                    elif key in holders and not self._stale(*holders[key], now=now):
                        out.busy.append(key)
                    else:
                        out.mine.append(key)
                        if len(out.mine) >= limit:
                            break
                if len(out.mine) >= limit:
                    break
            self._db.executemany(
                "INSERT OR REPLACE INTO claims (key, owner, host, pid, claimed) VALUES (?, ?, ?, ?, ?)",
                [(k, self.owner, self.host, self.pid, now) for k in out.mine],
            )
        return out

    def _stale(self, owner: str, host: str, pid: int, claimed: float, now: float) -> bool:
        if owner == self.owner:
            return True  # our own, left by a batch that failed: take it back
        if now - claimed > self.claim_timeout:
            return True
        return host == self.host and not _alive(int(pid))

    def release(self, keys: Sequence[str] | None = None) -> None:
        """Drop this store's claims on ``keys`` (all of them: None)."""
        with self._errors(), self._transaction():
            if keys is None:
                self._db.execute("DELETE FROM claims WHERE owner = ?", (self.owner,))
            else:
                self._db.executemany(
                    "DELETE FROM claims WHERE key = ? AND owner = ?",
                    [(k, self.owner) for k in keys],
                )

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def close(self) -> None:
        try:
            self.release()
        except (BackendError, sqlite3.Error, FewnerError):
            pass  # closing after a failure: stale claims are taken over anyway
        self._db.close()
