"""The ``openai`` backend against a real ``llama_cpp.server`` serving SmolLM2 on 127.0.0.1.

One server for the module (start-up ~2 s), one thread, small token limits. It checks what only a
real server can: that the request fields fewner sends (``grammar``, ``seed``, ``stop``, the neutral
sampler fields) are honoured, and what happens when the server goes away.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fewner.backends.base import GenerationParams
from fewner.decoding.constraint import Constraint
from fewner.errors import BackendError

pytest.importorskip("llama_cpp.server.app")  # the [server] extra
from fewner.backends.openai_compat import OpenAIBackend, RetryPolicy  # noqa: E402
from fewner.backends.server import LlamaServer  # noqa: E402

pytestmark = pytest.mark.server

SOURCE = "John Smith lives in London and works for Apple."
PROMPT = (
    "<|im_start|>user\nList the names of people, places and companies in this sentence: "
    f"{SOURCE}<|im_end|>\n<|im_start|>assistant\n"
)
GREEDY = GenerationParams(max_new_tokens=16)


@pytest.fixture(scope="module")
def server(gguf: Path) -> Iterator[LlamaServer]:
    srv = LlamaServer(gguf, n_ctx=512, n_threads=1)
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def backend(server: LlamaServer) -> Iterator[OpenAIBackend]:
    b = OpenAIBackend(server.model_alias, base_url=server.base_url, flavor="llamacpp")
    try:
        yield b
    finally:
        b.close()


def test_server_lists_its_model(server: LlamaServer) -> None:
    b = OpenAIBackend(base_url=server.base_url)  # model asked from GET /v1/models
    assert b.model == server.model_alias and server.base_url.startswith("http://127.0.0.1:")


def test_greedy_is_deterministic_and_matches_in_process(backend: OpenAIBackend, gguf: Path) -> None:
    first = backend.generate([PROMPT], GREEDY)[0]
    assert first.strip()
    assert backend.generate([PROMPT], GREEDY) == [first]
    from fewner.backends.llamacpp import LlamaCppBackend

    with LlamaCppBackend(gguf, n_ctx=512, n_threads=1) as local:
        assert local.generate([PROMPT], GREEDY) == [first]  # same model, same samplers


def test_stop_strings_and_max_tokens(backend: OpenAIBackend) -> None:
    full = backend.generate([PROMPT], GREEDY)[0]
    stop = full.strip()[3:5]
    cut = backend.generate([PROMPT], GenerationParams(max_new_tokens=16, stop=(stop,)))[0]
    assert cut == full[: full.find(stop)]
    short = backend.generate([PROMPT], GenerationParams(max_new_tokens=2))[0]
    assert full.startswith(short) and 0 < len(short) < len(full)


def test_seeded_sampling_is_reproducible(backend: OpenAIBackend) -> None:
    params = GenerationParams(max_new_tokens=10, temperature=1.5, seed=5)
    assert backend.generate([PROMPT], params) == backend.generate([PROMPT], params)


def test_grammar_field_steers_the_server(backend: OpenAIBackend) -> None:
    constraint = Constraint.for_text(SOURCE)
    free = backend.generate([PROMPT], GREEDY)[0]
    assert not constraint.is_prefix(free), "test needs a free answer outside the language"
    out = backend.generate([PROMPT], GenerationParams(max_new_tokens=32), [constraint])[0]
    assert backend.constraint_mode == "grammar"
    assert constraint.is_prefix(out), out
    assert out.startswith(constraint.grammar.prefix) or out == constraint.grammar.none
    assert backend.filtered_mentions == 0  # the server kept to the grammar


def test_filter_mode_against_the_real_server(server: LlamaServer) -> None:
    constraint = Constraint.for_text(SOURCE)
    b = OpenAIBackend(
        server.model_alias, base_url=server.base_url, flavor="llamacpp", constraint_mode="filter"
    )
    with b:
        out = b.generate([PROMPT], GenerationParams(max_new_tokens=24), [constraint])[0]
        assert "grammar" not in b.request_body(PROMPT, GREEDY, constraint)[1]
    assert constraint.is_prefix(out), out  # the free answer was repaired by the filter


def test_chat_endpoint_applies_the_template(backend: OpenAIBackend, server: LlamaServer) -> None:
    chat = OpenAIBackend(
        server.model_alias, base_url=server.base_url, flavor="llamacpp", endpoint="chat"
    )
    with chat:
        via_chat = chat.generate(["What is the capital of France?"], GREEDY)[0]
    raw_prompt = (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
        "<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert via_chat == backend.generate([raw_prompt], GREEDY)[0]


def test_unreachable_after_stop(gguf: Path) -> None:
    srv = LlamaServer(gguf, n_ctx=256, n_threads=1)
    backend = srv.backend(retry=RetryPolicy(max_retries=1, base_delay=0.01))
    url = srv.base_url
    assert backend.generate(["Hi"], GenerationParams(max_new_tokens=1))
    backend.close()  # the backend owns the server: this stops it
    assert srv.process is None
    again = OpenAIBackend("m", base_url=url, retry=RetryPolicy(max_retries=1, base_delay=0.01))
    with pytest.raises(BackendError, match=f"{url}/completions"):
        again.generate(["Hi"], GenerationParams(max_new_tokens=1))


def test_failed_start_reports_the_server_log(gguf: Path) -> None:
    srv = LlamaServer(gguf, n_threads=1, extra_args=("--no-such-option", "1"), startup_timeout=30)
    with pytest.raises(BackendError, match="exited with code") as err:
        srv.start()
    assert "unrecognized arguments: --no-such-option" in str(err.value)
    assert srv.process is None
