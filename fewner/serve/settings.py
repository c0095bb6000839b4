"""What a fewner HTTP service allows and how it batches: one frozen dataclass, safe defaults.

Every limit has a name (the field name) that the service repeats in its 413/422/503/504 answers,
so a client that hits one knows which setting to ask for. The defaults fit one model on one
machine serving sentences to paragraphs; raise them for whole documents. The help texts live in
the fields' metadata, so the CLI (``fewner serve --help``) and the README table say the same.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, fields
from typing import Any

from fewner.errors import ConfigError

__all__ = ["ServeSettings", "is_loopback", "require_token_off_loopback"]


def _field(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class ServeSettings:
    """Limits, batching and auth of :func:`fewner.serve.app.create_app` (module docstring)."""

    max_body_bytes: int = _field(2 * 1024 * 1024, "Largest request body, in bytes (413 above).")
    max_texts: int = _field(64, "Most texts in one request (422 above).")
    max_text_chars: int = _field(20_000, "Most characters in one text (422 above).")
    max_labels: int = _field(32, "Most labels in one request (422 above).")
    max_label_chars: int = _field(100, "Longest label, in characters (422 above).")
    timeout_s: float = _field(
        60.0, "Seconds a request may take, queueing included (504 after; the model call itself "
        "is not interrupted, its result is dropped)."
    )
    batch_wait_ms: float = _field(
        5.0, "Under concurrent load, how long a request waits for others to share its model "
        "call (a lone client never waits; 0: never wait, requests queued during a call are "
        "still gathered)."
    )
    max_batch: int = _field(
        64, "Stop gathering requests into one model call once this many texts wait."
    )
    max_queue: int = _field(
        1024, "Most texts waiting for the model; a request beyond it gets 503 (retry later)."
    )
    token: str | None = field(default=None, repr=False, metadata={
        "help": "Bearer token every /v1 request must send (Authorization: Bearer TOKEN); "
        "required off loopback."})

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "token":
                if value is not None and (not isinstance(value, str) or not value.strip()):
                    raise ConfigError("token: expected a non-empty string or None")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{f.name}: expected a number, got {value!r}")
            if f.name == "batch_wait_ms":
                if value < 0:
                    raise ConfigError(f"batch_wait_ms: must be >= 0, got {value}")
            elif value <= 0:
                raise ConfigError(f"{f.name}: must be > 0, got {value}")
            if f.type == "int" and not isinstance(value, int):
                raise ConfigError(f"{f.name}: expected an integer, got {value!r}")

    @staticmethod
    def help(name: str) -> str:
        """The help text of setting ``name``."""
        return next(f.metadata["help"] for f in fields(ServeSettings) if f.name == name)

    def limits(self) -> dict[str, int | float]:
        """Every setting but the token, by name (what ``GET /v1/model`` reports as ``limits``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "token"}


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1); False for the rest,
    including ``0.0.0.0``, ``::`` and other host names (which may resolve to anything)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def require_token_off_loopback(host: str, token: str | None) -> None:
    """Refuse to serve on a non-loopback address without a bearer token (anyone who can reach
    the port could otherwise use the model)."""
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host!r} without a bearer token: anyone who can reach it could "
            "use the model. Set one with --token-env NAME (an environment variable holding it) or "
            "--token-file PATH, or listen on 127.0.0.1"
        )
