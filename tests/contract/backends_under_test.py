"""The backends the shared contract suite (``test_backend_contract.py``) runs against.

To put a new backend under the contract: register it (``@BACKENDS.register("name")`` in
:mod:`fewner.backends.base`'s registry), then append a :class:`BackendCase` to
:data:`BACKEND_CASES` whose ``make`` builds it (offline, fast; skip with ``pytest.skip`` inside
``make`` when a dependency is missing). ``test_every_registered_backend_has_a_case`` walks the
registry and fails until you do.

:func:`tiny_llama` (a random Llama with a tokenizer trained in memory, saved to a folder so it
loads through the same ``from_pretrained`` path as a real model) comes from
``tests/tiny_models.py`` and is re-exported here for the tests that import it from this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fewner.backends.base import Backend
from fewner.backends.factory import make_backend
from tests.tiny_models import LLAMA_CORPUS as CORPUS  # noqa: F401 - re-exported
from tests.tiny_models import tiny_llama


@dataclass(frozen=True)
class BackendCase:
    """One backend under the contract.

    ``registered``: the registry name it stands for; ``make(tmp_dir)`` builds it;
    ``logprobs``: whether it implements :meth:`Backend.logprobs`; ``first_token_bias``:
    whether it honours ``GenerationParams.first_token_bias`` (else it must refuse it).
    """

    id: str
    registered: str
    make: Callable[[Path], Backend]
    logprobs: bool = True
    first_token_bias: bool = True



def _script(prompt: str) -> str:
    """Deterministic, prompt-dependent canned text for the scripted backend."""
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    h = hashlib.sha256(prompt.encode()).digest()
    return " ".join(words[b % len(words)] for b in h[:10]) + "\n"


# The cases build their backends by registry name, as configs and the CLI do.


def _make_scripted(tmp: Path) -> Backend:
    return make_backend("scripted", "contract", answers=_script)


def _make_hf(tmp: Path) -> Backend:
    return make_backend("hf", str(tiny_llama(tmp / "tiny-llama")), device="cpu", batch_size=3)


def _make_cache(tmp: Path) -> Backend:
    return make_backend(
        "cache",
        "contract",
        inner="scripted",
        path=tmp / "cache.sqlite",
        cache_batch_size=2,
        answers=_script,
    )


# Append your backend here (see the module docstring).
BACKEND_CASES: list[BackendCase] = [
    BackendCase("scripted", "scripted", _make_scripted, first_token_bias=False),
    BackendCase("hf-tiny", "hf", _make_hf),
    BackendCase("cache-scripted", "cache", _make_cache, first_token_bias=False),
]


def _smollm2_gguf() -> Path:
    """The catalogue SmolLM2 GGUF, or a skip when it (or llama-cpp-python) is not installed."""
    import pytest

    pytest.importorskip("llama_cpp")
    from fewner.errors import ModelNotAvailableError
    from fewner.models import gguf_path

    try:
        return gguf_path("smollm2-135m-instruct")
    except ModelNotAvailableError as err:
        pytest.skip(str(err))


def _make_llamacpp(tmp: Path) -> Backend:
    return make_backend("llamacpp", str(_smollm2_gguf()), n_ctx=512, n_threads=1)


def _make_openai_llama_server(tmp: Path) -> Backend:
    """The ``openai`` backend against a real llama_cpp.server; closing the backend stops it."""
    from fewner.backends.server import LlamaServer

    return LlamaServer(_smollm2_gguf(), n_ctx=512, n_threads=1).backend()


BACKEND_CASES += [
    BackendCase("llamacpp-smollm2", "llamacpp", _make_llamacpp),
    BackendCase(
        "openai-llama-server", "openai", _make_openai_llama_server, logprobs=False,
        first_token_bias=False,
    ),
]
