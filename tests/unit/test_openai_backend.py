"""The ``openai`` backend against a tiny stdlib HTTP server on 127.0.0.1 (real sockets).

The server answers from a script: a queue of canned failures (status, body, headers, delay)
served in order, then successes that echo the request. Retries, backoff, timeouts and error
messages are thereby tested over real HTTP, with ``requests`` unmocked; only the backoff
``sleep`` is replaced by a recorder so the tests do not wait.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from fewner.backends.base import GenerationParams
from fewner.backends.openai_compat import OpenAIBackend, RetryPolicy, normalise_base_url
from fewner.backends.server import free_port
from fewner.decoding.constraint import Constraint
from fewner.errors import BackendError, ConfigError


@dataclass
class Canned:
    status: int = 503
    body: str = '{"error": "busy"}'
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeOpenAI:
    """A scripted OpenAI-compatible server; ``requests`` records what reached it."""

    def __init__(self, models: tuple[str, ...] = ("tiny",)) -> None:
        self.failures: list[Canned] = []
        self.requests: list[tuple[str, str, dict[str, Any], dict[str, str]]] = []
        self.reply_text = "echo:{prompt}"
        self.models = models
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake.lock:
                    fake.requests.append((self.command, self.path, body, dict(self.headers)))
                    canned = fake.failures.pop(0) if fake.failures else None
                if canned is not None:
                    time.sleep(canned.delay)
                    self._send(canned.status, canned.body, canned.headers)
                elif self.path.endswith("/models"):
                    data = [{"id": m, "object": "model"} for m in fake.models]
                    self._send(200, json.dumps({"object": "list", "data": data}))
                elif self.path.endswith("/chat/completions"):
                    text = fake.reply_text.format(prompt=body["messages"][-1]["content"])
                    self._send(200, json.dumps({"choices": [{"message": {"content": text}}]}))
                else:
                    text = fake.reply_text.format(prompt=body.get("prompt"))
                    self._send(200, json.dumps({"choices": [{"text": text, "index": 0}]}))

            def _send(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
                payload = text.encode()
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # client timed out
                    pass

            do_GET = _answer
            do_POST = _answer

        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def posts(self) -> list[dict[str, Any]]:
        return [body for method, _path, body, _h in self.requests if method == "POST"]


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.httpd.shutdown()
        fake.httpd.server_close()


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "FEWNER_OPENAI_BASE_URL",
        "OPENAI_BASE_URL",
        "FEWNER_OPENAI_API_KEY",
        "OPENAI_API_KEY",
        "FEWNER_OPENAI_MODEL",
        "FEWNER_OPENAI_FLAVOR",
    ):
        monkeypatch.delenv(name, raising=False)


def make(server: FakeOpenAI, **options: Any) -> tuple[OpenAIBackend, list[float]]:
    waits: list[float] = []
    options.setdefault("retry", RetryPolicy(max_retries=3, base_delay=0.1, seed=1))
    backend = OpenAIBackend("tiny", base_url=server.url, sleep=waits.append, **options)
    return backend, waits


P = GenerationParams(max_new_tokens=5)


# ----- retries and errors --------------------------------------------------------------------


def test_retries_5xx_then_succeeds_with_the_policy_delays(server: FakeOpenAI) -> None:
    server.failures = [Canned(503), Canned(502), Canned(500)]
    backend, waits = make(server)
    assert backend.generate(["hi"], P) == ["echo:hi"]
    assert backend.retries == 3 and backend.requests_sent == 4
    assert waits == pytest.approx(backend.retry.delays())
    assert len(server.posts()) == 4


def test_gives_up_with_a_message_naming_the_url(server: FakeOpenAI) -> None:
    server.failures = [Canned(503)] * 10
    backend, waits = make(server)
    with pytest.raises(BackendError) as err:
        backend.generate(["hi"], P)
    message = str(err.value)
    assert f"{server.url}/completions" in message and "4 attempts" in message
    assert "503" in message
    assert len(waits) == 3


def test_429_honours_retry_after(server: FakeOpenAI) -> None:
    server.failures = [Canned(429, headers={"Retry-After": "1.5"})]
    backend, waits = make(server)
    assert backend.generate(["x"], P) == ["echo:x"]
    assert waits == [pytest.approx(1.5)]  # longer than the policy's own first delay


def test_client_errors_are_not_retried(server: FakeOpenAI) -> None:
    server.failures = [Canned(400, body='{"error": "bad max_tokens"}')]
    backend, waits = make(server)
    with pytest.raises(BackendError, match="HTTP 400.*bad max_tokens"):
        backend.generate(["x"], P)
    assert waits == [] and backend.requests_sent == 1


def test_read_timeout_is_retried(server: FakeOpenAI) -> None:
    server.failures = [Canned(200, body="{}", delay=1.0)]
    backend, waits = make(server, timeout=0.2)
    assert backend.generate(["slow"], P) == ["echo:slow"]
    assert backend.retries == 1 and len(waits) == 1


def test_unreachable_server_gives_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    waits: list[float] = []
    backend = OpenAIBackend(
        "m", base_url=url, retry=RetryPolicy(max_retries=2, base_delay=0.01), sleep=waits.append
    )
    start = time.monotonic()
    with pytest.raises(BackendError) as err:
        backend.generate(["x"], P)
    assert f"{url}/completions" in str(err.value)
    assert "connection failed: [Errno 111] Connection refused" in str(err.value)
    assert len(waits) == 2
    assert time.monotonic() - start < 10  # refused connections fail fast, not at the timeout


def test_bad_json_answer(server: FakeOpenAI) -> None:
    server.failures = [Canned(200, body="not json")]
    backend, _ = make(server)
    with pytest.raises(BackendError, match="not JSON"):
        backend.generate(["x"], P)


def test_answer_without_choices(server: FakeOpenAI) -> None:
    server.failures = [Canned(200, body='{"choices": []}')]
    backend, _ = make(server)
    with pytest.raises(BackendError, match="unexpected answer"):
        backend.generate(["x"], P)


def test_retry_policy_is_exponential_capped_and_seeded() -> None:
    policy = RetryPolicy(max_retries=6, base_delay=1.0, max_delay=8.0, jitter=0.5, seed=3)
    delays = policy.delays()
    assert delays == policy.delays() == RetryPolicy(6, 1.0, 8.0, 0.5, 3).delays()
    assert delays != RetryPolicy(6, 1.0, 8.0, 0.5, 4).delays()
    for k, d in enumerate(delays):
        raw = min(8.0, 2.0**k)
        assert raw * 0.5 <= d <= raw
    assert RetryPolicy(max_retries=3, base_delay=1, jitter=0).delays() == [1, 2, 4]
    with pytest.raises(ConfigError):
        RetryPolicy(jitter=2)


# ----- configuration -------------------------------------------------------------------------


def test_configuration_from_the_environment(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://nowhere.invalid/v1")
    monkeypatch.setenv("FEWNER_OPENAI_BASE_URL", server.url)  # fewner's own name wins
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    backend = OpenAIBackend()
    assert backend.base_url == server.url
    assert backend.model == "tiny" and backend.model_id == "openai:tiny"  # the only one served
    assert backend.generate(["k"], P) == ["echo:k"]
    _method, _path, body, headers = server.requests[-1]
    assert headers["Authorization"] == "Bearer sk-test" and body["model"] == "tiny"


def test_several_served_models_need_a_name(server: FakeOpenAI) -> None:
    server.models = ("a", "b")
    backend = OpenAIBackend(base_url=server.url)
    with pytest.raises(ConfigError, match="serves 2 models"):
        _ = backend.model_id


def test_missing_url_and_bad_options() -> None:
    with pytest.raises(ConfigError, match="FEWNER_OPENAI_BASE_URL"):
        OpenAIBackend("m")
    with pytest.raises(ConfigError):
        OpenAIBackend("m", base_url="http://x/v1", constraint_mode="magic")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        OpenAIBackend("m", base_url="ftp://x")


def test_normalise_base_url() -> None:
    assert normalise_base_url("http://h:8000") == "http://h:8000/v1"
    assert normalise_base_url("http://h:8000/") == "http://h:8000/v1"
    assert normalise_base_url("https://api.example.com/v1/") == "https://api.example.com/v1"
    assert normalise_base_url("http://h/openai/v1") == "http://h/openai/v1"


# ----- request bodies and answers ------------------------------------------------------------


def test_completion_request_carries_the_generation_params(server: FakeOpenAI) -> None:
    backend, _ = make(server, flavor="llamacpp")
    params = GenerationParams(max_new_tokens=7, temperature=0.7, top_p=0.9, seed=11, stop=("\n",))
    backend.generate(["Q:"], params)
    body = server.posts()[-1]
    assert body["prompt"] == "Q:" and body["max_tokens"] == 7 and body["seed"] == 11
    assert body["temperature"] == 0.7 and body["top_p"] == 0.9 and body["stop"] == ["\n"]
    # llama.cpp flavour: neutral samplers so temperature/top_p mean the same as in-process
    assert (body["top_k"], body["min_p"], body["repeat_penalty"]) == (0, 0.0, 1.0)


def test_generic_flavor_sends_only_openai_fields(server: FakeOpenAI) -> None:
    backend, _ = make(server)
    backend.generate(["Q:"], P)
    assert set(server.posts()[-1]) == {
        "model",
        "prompt",
        "max_tokens",
        "temperature",
        "top_p",
        "seed",
    }


def test_stop_strings_are_also_cut_client_side(server: FakeOpenAI) -> None:
    server.reply_text = "first line\nsecond line"  # a server that ignores "stop"
    backend, _ = make(server)
    assert backend.generate(["x"], GenerationParams(stop=("\n",))) == ["first line"]


def test_chat_endpoint(server: FakeOpenAI) -> None:
    backend, _ = make(server, endpoint="chat")
    assert backend.generate(["hello"], P) == ["echo:hello"]
    _m, path, body, _h = server.requests[-1]
    assert path == "/v1/chat/completions"
    assert body["messages"] == [{"role": "user", "content": "hello"}]


def test_concurrency_keeps_prompt_order(server: FakeOpenAI) -> None:
    backend, _ = make(server, concurrency=4)
    prompts = [f"p{i}" for i in range(12)]
    assert backend.generate(prompts, P) == [f"echo:{p}" for p in prompts]


def test_extra_body_is_merged(server: FakeOpenAI) -> None:
    backend, _ = make(server, extra_body={"top_k": 5})
    backend.generate(["x"], P)
    assert server.posts()[-1]["top_k"] == 5


# ----- constraints ---------------------------------------------------------------------------

SOURCE = "John lives in London"


@pytest.mark.parametrize(
    ("mode", "field", "method"),
    [
        ("grammar", "grammar", "gbnf"),
        ("guided_regex", "guided_regex", "regex"),
        ("structured_outputs", "structured_outputs", "regex"),
    ],
)
def test_constraint_is_sent_in_the_mode_field(
    server: FakeOpenAI, mode: str, field: str, method: str
) -> None:
    constraint = Constraint.for_text(SOURCE)
    backend, _ = make(server, constraint_mode=mode)
    backend.generate(["a", "b"], P, [constraint, None])
    constrained, free = server.posts()
    expected = getattr(constraint, method)()
    sent = constrained[field]
    assert (sent["regex"] if mode == "structured_outputs" else sent) == expected
    assert field not in free


def test_filter_mode_removes_and_counts_invalid_mentions(server: FakeOpenAI) -> None:
    constraint = Constraint.for_text(SOURCE)
    backend, _ = make(server)  # generic flavour: filter
    assert backend.constraint_mode == "filter"
    good = constraint.grammar.render(["John"])
    server.reply_text = constraint.grammar.render(["John", "Paris", "London", "Paris"])
    out = backend.generate(["x"], P, [constraint])[0]
    assert constraint.accepts(out) and "Paris" not in out
    assert backend.filtered_mentions == 2 and backend.filtered["Paris"] == 2
    assert "grammar" not in server.posts()[-1]
    server.reply_text = good  # a valid answer passes unchanged and counts nothing
    assert backend.generate(["x"], P, [constraint]) == [good]
    assert backend.filtered_mentions == 2


def test_owned_resources_are_released_once(server: FakeOpenAI) -> None:
    calls: list[str] = []
    backend = OpenAIBackend("tiny", base_url=server.url, on_close=lambda: calls.append("x"))
    with backend:
        backend.generate(["x"], P)
    backend.close()
    assert calls == ["x"]
