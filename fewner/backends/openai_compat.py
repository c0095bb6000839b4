"""``openai``: any OpenAI-compatible HTTP server (vLLM, llama.cpp server, Ollama, OpenAI).

Why: large models live on GPU servers; every serious serving stack speaks the OpenAI
completions API, so one HTTP backend covers them all. Configuration comes from arguments or the
environment, so the same config file runs against a local llama.cpp server or a remote vLLM:

* base URL: ``base_url`` / ``$FEWNER_OPENAI_BASE_URL`` / ``$OPENAI_BASE_URL`` (``/v1`` is appended
  when the URL has no path);
* API key: ``api_key`` / ``$FEWNER_OPENAI_API_KEY`` / ``$OPENAI_API_KEY`` (optional for local
  servers);
* model: ``model`` / ``$FEWNER_OPENAI_MODEL``; when neither is set and the server lists exactly
  one model under ``GET /v1/models``, that one.

Raw prompts go to ``/v1/completions`` (``endpoint="completions"``, the default: the prompt is
sent exactly as the other backends see it). ``endpoint="chat"`` sends each prompt as one user
message to ``/v1/chat/completions`` and lets the server apply its chat template.

Constraints cannot steer tokens from here, so ``constraint_mode`` picks what the server is told:

* ``"grammar"`` - the GBNF grammar in the request's ``grammar`` field. Verified against
  ``llama_cpp.server`` 0.3.36 (``CreateCompletionRequest.grammar``), which turns it into a
  ``LlamaGrammar``; llama.cpp's own ``llama-server`` reads the same field. An *invalid* grammar
  crashes llama_cpp.server 0.3.36 (NULL sampler); the connection then drops and the retries end
  in a BackendError naming the URL.
* ``"guided_regex"`` - vLLM before 0.12: ``{"guided_regex": <regex>}`` in the body (documented
  at docs.vllm.ai, "Structured Outputs"; not testable here).
* ``"structured_outputs"`` - vLLM 0.12+, where the ``guided_*`` fields were removed:
  ``{"structured_outputs": {"regex": <regex>}}`` (not testable here).
* ``"filter"`` - nothing is sent; see below.

In every mode the completion is then checked by :meth:`Constraint.enforce <fewner.decoding.constraint.Constraint.enforce>`: a completion that cannot
lead into the constraint's language (with its repeat limits, which grammars and regexes cannot
express) goes through :meth:`Constraint.filter`, which drops the offending mentions. The number
dropped accumulates in :attr:`OpenAIBackend.filtered_mentions` (per mention in
:attr:`OpenAIBackend.filtered`); in the server-side modes only repeats should be dropped, so it
also shows whether the server honoured the constraint. A completion cut by the token limit that
is still a valid prefix is returned as is, as the token-steering backends do.

``flavor`` (``"generic"``, ``"llamacpp"``, ``"vllm"``) picks the default constraint mode
(filter / grammar / structured_outputs) and, for llama.cpp, neutral sampler fields
(``top_k=0, min_p=0, repeat_penalty=1``) so that ``temperature`` and ``top_p`` mean what they
mean in the in-process backends (llama_cpp.server defaults to top-k 40, min-p 0.05 and a 1.1
repeat penalty). OpenAI itself rejects unknown fields, hence "generic" sends none.

Reliability: connection errors, timeouts, HTTP 429 and 5xx are retried with exponential backoff
and seeded jitter (:class:`RetryPolicy`; ``Retry-After`` is honoured up to ``max_delay``); other
4xx fail at once with the server's message. When all attempts fail the BackendError names the
URL.

``logprobs`` is not offered: the only OpenAI-compatible route is ``echo=True`` with
``logprobs``, which vLLM supports but llama_cpp.server 0.3.36 answers with wrong numbers
(measurements: docs/design-notes.md, fewner/backends/openai_compat.py).
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import requests

from fewner.backends.base import (
    BACKENDS,
    EnforcingBackend,
    GenerationParams,
    refuse_first_token_bias,
)
from fewner.errors import BackendError, ConfigError

if TYPE_CHECKING:
    from fewner.decoding.constraint import Constraint


ConstraintMode = Literal["grammar", "guided_regex", "structured_outputs", "filter"]
Flavor = Literal["generic", "llamacpp", "vllm"]
CONSTRAINT_MODES: tuple[str, ...] = ("grammar", "guided_regex", "structured_outputs", "filter")
DEFAULT_MODE: dict[str, ConstraintMode] = {
    "generic": "filter",
    "llamacpp": "grammar",
    "vllm": "structured_outputs",
}
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: attempt ``k`` (0-based) waits ``base * 2**k``, capped at
    ``max_delay``, times a jitter factor drawn uniformly from ``[1 - jitter, 1]`` by a
    generator seeded with ``seed`` (so a rerun waits the same; no hidden randomness).
    """

    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    jitter: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.base_delay < 0 or self.max_delay < 0:
            raise ConfigError("retry settings must be >= 0")
        if not 0 <= self.jitter <= 1:
            raise ConfigError("retry jitter must be in [0, 1]")

    def delays(self) -> list[float]:
        """The waits before retries 1..max_retries."""
        rng = random.Random(self.seed)
        out = []
        for k in range(self.max_retries):
            raw = min(self.max_delay, self.base_delay * 2**k)
            out.append(raw * (1 - self.jitter * rng.random()))
        return out


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def normalise_base_url(url: str) -> str:
    """Strip trailing slashes; add ``/v1`` when the URL is only scheme and host."""
    url = url.rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"not an http(s) base URL: {url!r}")
    return url if parts.path else url + "/v1"


class _RetryableError(Exception):
    """An attempt that may succeed later; ``wait`` is the server's Retry-After, if any."""

    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.wait = wait


@BACKENDS.register("openai")
class OpenAIBackend(EnforcingBackend):
    """Completions from an OpenAI-compatible server; see the module docstring.

    ``timeout`` is the read timeout of one request (a generation), ``connect_timeout`` the time
    to open the connection. ``sleep`` waits between retries (tests pass a recorder);
    ``on_close`` runs once in :meth:`close`. ``concurrency > 1`` sends that many requests at once (vLLM batches
    them on the server); outputs keep the order of the prompts.
    """

    name = "openai"
    supports_token_constraints = False

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        endpoint: Literal["completions", "chat"] = "completions",
        flavor: Flavor | None = None,
        constraint_mode: ConstraintMode | None = None,
        timeout: float = 120.0,
        connect_timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        concurrency: int = 1,
        extra_body: dict[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        url = base_url or _env("FEWNER_OPENAI_BASE_URL", "OPENAI_BASE_URL")
        if not url:
            raise ConfigError(
                "openai backend: no server URL; pass base_url or set FEWNER_OPENAI_BASE_URL "
                "(e.g. http://127.0.0.1:8000/v1)"
            )
        self.base_url = normalise_base_url(url)
        self.api_key = api_key or _env("FEWNER_OPENAI_API_KEY", "OPENAI_API_KEY")
        if endpoint not in ("completions", "chat"):
            raise ConfigError(f"endpoint must be 'completions' or 'chat', not {endpoint!r}")
        self.endpoint = endpoint
        flavor = flavor or _env("FEWNER_OPENAI_FLAVOR") or "generic"  # type: ignore[assignment]
        if flavor not in DEFAULT_MODE:
            raise ConfigError(f"flavor must be one of {sorted(DEFAULT_MODE)}, not {flavor!r}")
        self.flavor: Flavor = flavor  # type: ignore[assignment]
        mode = constraint_mode or DEFAULT_MODE[self.flavor]
        if mode not in CONSTRAINT_MODES:
            raise ConfigError(f"constraint_mode must be one of {CONSTRAINT_MODES}, not {mode!r}")
        self.constraint_mode: ConstraintMode = mode
        self.timeout = (connect_timeout, timeout)
        self.retry = retry or RetryPolicy()
        if concurrency < 1:
            raise ConfigError("concurrency must be >= 1")
        self.concurrency = concurrency
        self.extra_body = dict(extra_body or {})
        super().__init__()
        self._sleep = sleep
        self._on_close = on_close
        self._model = model or _env("FEWNER_OPENAI_MODEL")
        self._session = requests.Session()
        self._lock = threading.Lock()
        self.requests_sent = 0
        self.retries = 0

    # -- identity -------------------------------------------------------------------------

    @property
    def model(self) -> str:
        """The model name sent with each request (asked from the server when not configured)."""
        if self._model is None:
            listing = self._request("GET", "/models")
            ids = [m.get("id") for m in listing.get("data", []) if isinstance(m, dict)]
            if len(ids) != 1:
                raise ConfigError(
                    f"{self.base_url} serves {len(ids)} models ({', '.join(map(str, ids))}); "
                    "pass model or set FEWNER_OPENAI_MODEL"
                )
            self._model = str(ids[0])
        return self._model

    @property
    def model_id(self) -> str:
        return f"openai:{self.model}"

    # -- HTTP -----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _attempt(self, method: str, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        try:
            resp = self._session.request(
                method, url, json=body, headers=self._headers(), timeout=self.timeout
            )
        except requests.Timeout as err:
            raise _RetryableError(f"timed out ({err.__class__.__name__})") from err
        except requests.ConnectionError as err:
            raise _RetryableError(f"connection failed: {_reason(err)}") from err
        if resp.status_code in RETRY_STATUS:
            raise _RetryableError(f"HTTP {resp.status_code}: {resp.text[:200]}", _retry_after(resp))
        if resp.status_code >= 400:
            raise BackendError(f"{method} {url} failed: HTTP {resp.status_code}: {resp.text[:500]}")
        try:
            return resp.json()
        except ValueError as err:
            raise BackendError(f"{method} {url}: response is not JSON: {resp.text[:200]}") from err

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict:
        """One API call with retries; BackendError naming the URL when every attempt fails."""
        url = self.base_url + path
        delays = self.retry.delays()
        last = ""
        for attempt in range(len(delays) + 1):
            with self._lock:
                self.requests_sent += 1
            try:
                return self._attempt(method, url, body)
            except _RetryableError as err:
                last = str(err)
                if attempt == len(delays):
                    break
                wait = delays[attempt]
                if err.wait is not None:
                    wait = min(max(wait, err.wait), self.retry.max_delay)
                with self._lock:
                    self.retries += 1
                self._sleep(wait)
        raise BackendError(
            f"cannot get an answer from {url} after {len(delays) + 1} attempts: {last}"
        )

    # -- generation -----------------------------------------------------------------------

    def request_body(
        self, prompt: str, params: GenerationParams, constraint: Constraint | None
    ) -> tuple[str, dict[str, Any]]:
        """The endpoint path and JSON body for one prompt (public for tests and debugging)."""
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if self.flavor == "llamacpp":
            body.update(top_k=0, min_p=0.0, repeat_penalty=1.0)
        if constraint is not None:
            if self.constraint_mode == "grammar":
                body["grammar"] = constraint.gbnf()
            elif self.constraint_mode == "guided_regex":
                body["guided_regex"] = constraint.regex()
            elif self.constraint_mode == "structured_outputs":
                body["structured_outputs"] = {"regex": constraint.regex()}
        body.update(self.extra_body)
        if self.endpoint == "chat":
            body["messages"] = [{"role": "user", "content": prompt}]
            return "/chat/completions", body
        body["prompt"] = prompt
        return "/completions", body

    def _complete(self, prompt: str, params: GenerationParams, constraint: Any) -> str:
        path, body = self.request_body(prompt, params, constraint)
        answer = self._request("POST", path, body)
        try:
            choice = answer["choices"][0]
            text = choice["message"]["content"] if self.endpoint == "chat" else choice["text"]
        except (KeyError, IndexError, TypeError) as err:
            raise BackendError(
                f"unexpected answer from {self.base_url}{path}: {str(answer)[:300]}"
            ) from err
        return text or ""

    def _generate(
        self, prompts: list[str], params: GenerationParams, constraints: list[Constraint | None]
    ) -> list[str]:
        refuse_first_token_bias(self.name, params)  # logit_bias acts at every position
        pairs = list(zip(prompts, constraints, strict=True))
        if self.concurrency == 1 or len(prompts) < 2:
            return [self._complete(p, params, c) for p, c in pairs]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda pc: self._complete(pc[0], params, pc[1]), pairs))

    def close(self) -> None:
        """Close the HTTP session, then run ``on_close`` (e.g. stop a server this backend owns)."""
        self._session.close()
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()



def _reason(err: Exception) -> str:
    """The OS-level cause of a connection error ("[Errno 111] Connection refused"), else the
    first 200 characters of requests' long nested message."""
    found = re.search(r"\[Errno -?\d+\][^'\")]*", str(err))
    return found.group(0).strip() if found else str(err)[:200]


def _retry_after(resp: requests.Response) -> float | None:
    """The Retry-After header in seconds, when it is a number."""
    value = resp.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
