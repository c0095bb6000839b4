"""Hugging Face Hub ids: fail at once when a model cannot be downloaded, instead of retrying.

Without a network transformers retries each file for about a minute before it gives up; offline
mode (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``) fails fast but in several lines.
:func:`check_hub_model` runs before anything is loaded: a Hub id already in the local Hub cache
passes; otherwise offline mode, or a Hub endpoint that cannot be reached within a few seconds,
is one :class:`~fewner.errors.ModelNotAvailableError` naming the id and what to pass. A
reachable endpoint passes: transformers then reports an unknown id itself.
"""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlparse

from fewner.errors import ModelNotAvailableError

__all__ = ["PROBE_SECONDS", "check_hub_model", "hub_offline"]

#: How long the reachability probe (name lookup + TCP connect) may take before "no network".
PROBE_SECONDS = 4.0

_TRUE = {"1", "on", "yes", "true"}


def hub_offline() -> bool:
    """Whether the user asked for offline mode (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``)."""
    return any(os.environ.get(k, "").strip().lower() in _TRUE
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _cached(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # an id the hub library refuses to parse: not in the cache either
        return False


def _endpoint() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.ENDPOINT)
    except ImportError:
        return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def _reachable(endpoint: str, timeout: float) -> str | None:
    """None when a TCP connection to ``endpoint`` opens within ``timeout`` s, else why not.
    The lookup runs in a daemon thread: a stuck resolver cannot hold the caller."""
    url = urlparse(endpoint)
    host = url.hostname or endpoint
    port = url.port or (80 if url.scheme == "http" else 443)
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as err:
            outcome.append(str(err) or type(err).__name__)

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    return outcome[0] if outcome else f"no answer within {timeout:g} s"


def check_hub_model(repo_id: str, *, timeout: float = PROBE_SECONDS) -> None:
    """Raise at once when Hub model ``repo_id`` is neither cached nor downloadable (see module)."""
    if _cached(repo_id):
        return
    what = (
        f"model {repo_id!r} is not a catalogue name, not a local folder and not in the Hugging "
        "Face cache"
    )
    fix = "pass a catalogue name (fewner models list), a local model folder or a .gguf file"
    if hub_offline():
        raise ModelNotAvailableError(
            f"{what}, and offline mode is on (HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE), so it cannot "
            f"be downloaded; {fix}, or download it with a network first"
        )
    endpoint = _endpoint()
    problem = _reachable(endpoint, timeout)
    if problem is not None:
        raise ModelNotAvailableError(
            f"{what}, and {endpoint} cannot be reached ({problem}); {fix}, or connect to a "
            "network (set HF_HUB_OFFLINE=1 to never try)"
        )
