"""A real ``fewner serve`` in a child process, and a dependency-free client for the service.

:class:`ServerProcess` starts ``fewner serve MODEL --port 0 ...``, reads the port uvicorn picked
from the log, and returns once ``GET /health`` answers (or raises with the log's tail if the
process exits or does not come up); the tests and ``benchmarks/serve_load.py`` use it, so they
exercise the command users run. :class:`Client` is one keep-alive connection with JSON in and
out (stdlib ``http.client``), for scripts that call a running service.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Client", "ServerProcess"]

_RUNNING = re.compile(r"Uvicorn running on (http://\S+?:\d+)")


class Client:
    """JSON requests over one keep-alive HTTP connection (reopened once if the server closed it).

    ``request`` returns ``(status, parsed JSON or text, headers)``; it raises only for network
    errors. Not thread-safe: one client per thread.
    """

    def __init__(self, url: str, token: str | None = None, timeout: float = 120.0) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.token = token
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, payload: Any = None, *, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        data = body if body is not None else (
            json.dumps(payload).encode("utf-8") if payload is not None else None)
        sent = {"content-type": "application/json", **(headers or {})}
        if self.token is not None:
            sent.setdefault("authorization", f"Bearer {self.token}")
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request(method, path, body=data, headers=sent)
                response = conn.getresponse()
                raw = response.read()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                self.close()
                if attempt:
                    raise
                continue
            if response.getheader("connection", "").lower() == "close":
                self.close()
            try:
                parsed: Any = json.loads(raw)
            except ValueError:
                parsed = raw.decode("utf-8", "replace")
            return response.status, parsed, {k.lower(): v for k, v in response.getheaders()}
        raise AssertionError("unreachable")

    def extract(self, texts: Sequence[str], labels: Sequence[str] | None = None) -> dict[str, Any]:
        """``POST /v1/extract``; raises ``RuntimeError`` with the answer unless it is a 200."""
        payload: dict[str, Any] = {"texts": list(texts)}
        if labels is not None:
            payload["labels"] = list(labels)
        status, data, _ = self.request("POST", "/v1/extract", payload)
        if status != 200:
            raise RuntimeError(f"POST /v1/extract: HTTP {status}: {data}")
        return data

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn


class ServerProcess:
    """``fewner serve MODEL *options --port 0`` as a child process (module docstring).

    ``preamble``: Python run in the child before the CLI (e.g. importing a module that registers
    a predictor kind); ``env``: extra environment variables. Use as a context manager, or call
    :meth:`start` and :meth:`stop`. ``log`` holds the server's stdout and stderr (in
    ``log_path``, default a temporary file removed by :meth:`stop`).
    """

    def __init__(self, model: str | Path, *options: str, preamble: str = "",
                 env: dict[str, str] | None = None, cwd: str | Path | None = None,
                 log_path: str | Path | None = None, startup_timeout: float = 120.0) -> None:
        code = f"{preamble}\nfrom fewner.cli import main\nmain()\n"
        self.argv = [sys.executable, "-c", code, "serve", str(model), "--port", "0", *options]
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.startup_timeout = startup_timeout
        self.url = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self._temporary_log = log_path is None
        if log_path is None:
            fd, log_path = tempfile.mkstemp(prefix="fewner-serve-", suffix=".log")
            os.close(fd)
        self.log_path = Path(log_path)

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def start(self) -> ServerProcess:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         env=self.env, cwd=self.cwd)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log[-3000:]
                self.stop()
                raise RuntimeError(f"fewner serve exited with {self.proc.returncode}:\n{tail}")
            match = _RUNNING.search(self.log)
            if match:
                self.url = match.group(1)
                try:
                    status, _, _ = Client(self.url, timeout=5).request("GET", "/health")
                except OSError:
                    status = 0
                if status == 200:
                    return self
            time.sleep(0.1)
        tail = self.log[-3000:]
        self.stop()
        raise RuntimeError(f"fewner serve did not come up in {self.startup_timeout:.0f} s:\n{tail}")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGINT (uvicorn's graceful stop), then kill after ``timeout``; the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._temporary_log:
            self.log_path.unlink(missing_ok=True)
        return self.proc.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
