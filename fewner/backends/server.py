"""Start and stop a local ``llama_cpp.server`` (OpenAI-compatible HTTP) as a subprocess.

Why: the ``openai`` backend must be tested against a real server, and a user without vLLM can
serve a catalogue GGUF locally with one call. The server binds to 127.0.0.1 only; its output
goes to a log file (a pipe nobody reads would block it once full) whose tail is quoted when the
server fails to start.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from fewner.errors import BackendError

if TYPE_CHECKING:
    from fewner.backends.openai_compat import OpenAIBackend


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    """``python -m llama_cpp.server`` for one GGUF model, as a context manager.

    ``model`` is a catalogue name or a GGUF path (see :func:`fewner.backends.llamacpp.resolve_gguf`).
    ``n_threads`` defaults to :func:`fewner.backends.llamacpp.default_threads`. The server
    reuses the KV cache of the previous request's prompt prefix, like the in-process backend.
    """

    def __init__(
        self,
        model: str | Path = "smollm2-135m-instruct",
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        model_alias: str | None = None,
        api_key: str | None = None,
        extra_args: tuple[str, ...] = (),
        startup_timeout: float = 60.0,
    ) -> None:
        from fewner.backends.llamacpp import default_threads, resolve_gguf

        self.model_path = resolve_gguf(model)
        self.host = host
        self.port = port if port is not None else free_port(host)
        # the name clients send as "model": the catalogue name when one was given
        is_file = Path(str(model)).expanduser().is_file()
        self.model_alias = model_alias or (self.model_path.stem if is_file else str(model))
        self.api_key = api_key
        self.startup_timeout = startup_timeout
        threads = n_threads or default_threads()
        self.args = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path),
            "--model_alias", self.model_alias,
            "--host", host,
            "--port", str(self.port),
            "--n_ctx", str(n_ctx),
            "--n_threads", str(threads),
            "--n_threads_batch", str(threads),
            *(["--api_key", api_key] if api_key else []),
            *extra_args,
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None
        self._log = None
        self.log_path: Path | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, ending in ``/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> LlamaServer:
        """Start the process and wait until ``GET /v1/models`` answers; BackendError if not."""
        if self.process is not None:
            return self
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix="fewner-llama-server-", suffix=".log", delete=False
        )
        self.log_path = Path(self._log.name)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            self.args, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BackendError(
                    f"llama_cpp.server exited with code {self.process.returncode} while "
                    f"starting on {self.base_url}:\n{self.log_tail()}"
                )
            try:
                resp = requests.get(f"{self.base_url}/models", headers=headers, timeout=2)
                if resp.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise BackendError(
            f"llama_cpp.server on {self.base_url} not ready after {self.startup_timeout:.0f} s:\n"
            f"{self.log_tail()}"
        )

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the server's log (for error messages)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the server (kill it if it does not exit within ``timeout``); idempotent."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    def backend(self, **options: Any) -> OpenAIBackend:
        """An ``openai`` backend (llama.cpp flavour) talking to this server, started if needed.

        The backend owns the server: closing the backend stops it.
        """
        from fewner.backends.openai_compat import OpenAIBackend

        self.start()
        options.setdefault("flavor", "llamacpp")
        return OpenAIBackend(
            self.model_alias,
            base_url=self.base_url,
            api_key=self.api_key,
            on_close=self.stop,
            **options,
        )

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
