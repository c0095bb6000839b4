"""The contract every backend keeps, run against each case in ``backends_under_test.py``.

Properties are stated so that they hold for any model, even a random one: greedy decoding is
deterministic and does not depend on batching; stops and token limits only shorten an answer
(a shorter run is a prefix of a longer one); a longer completion cannot be more likely than its
prefix.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from fewner.backends.base import BACKENDS, Backend, GenerationParams
from fewner.backends.factory import INTERNAL_BACKENDS, backend_names
from fewner.errors import BackendError, ConfigError
from tests.contract.backends_under_test import BACKEND_CASES, BackendCase

PROMPTS = [
    "The quick brown fox",
    "Text: John lives in London. Answer:",
    "Apple and Google are",
    "Barack Obama visited",
    "Entities: person",
]
GREEDY = GenerationParams(max_new_tokens=12)


@pytest.fixture(scope="module", params=BACKEND_CASES, ids=[c.id for c in BACKEND_CASES])
def case(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[BackendCase, Backend]:
    spec: BackendCase = request.param
    backend = spec.make(tmp_path_factory.mktemp(spec.id))
    yield spec, backend
    backend.close()


@pytest.fixture
def backend(case: tuple[BackendCase, Backend]) -> Backend:
    return case[1]


def test_every_registered_backend_has_a_case() -> None:
    available = []
    for name in BACKENDS.names():
        try:
            BACKENDS[name]  # imports its module
        except ConfigError:  # optional dependency missing
            continue
        available.append(name)
    covered = {c.registered for c in BACKEND_CASES}
    missing = sorted(set(available) - covered)
    assert not missing, (
        f"registered backends without a contract case: {missing} (see backends_under_test.py)"
    )


def test_user_facing_names_come_from_the_registry() -> None:
    names = backend_names()
    assert names == sorted(set(BACKENDS.names()) - INTERNAL_BACKENDS)
    assert {"hf", "llamacpp", "openai"} <= set(names)
    assert not set(names) & {"cache", "scripted"}
    assert set(backend_names(user_facing=False)) == set(BACKENDS.names())


def test_unknown_backend_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown backend 'nope'; known: .*llamacpp"):
        BACKENDS["nope"]


def test_base_and_factory_import_without_torch() -> None:
    code = (
        "import sys, fewner.backends.base, fewner.backends.factory, fewner.cli.options;"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


class _Echo(Backend):
    """The smallest backend: only its own decoding, the rest is Backend.generate's."""

    name = "echo"

    def __init__(self, answers: list[str] | None = None) -> None:
        self.answers = answers
        self.seen: list[list[str]] = []

    @property
    def model_id(self) -> str:
        return "echo"

    def _generate(self, prompts, params, constraints):  # type: ignore[no-untyped-def]
        self.seen.append(prompts)
        return list(self.answers) if self.answers is not None else [p + " END" for p in prompts]


def test_generate_prologue_is_shared() -> None:
    echo = _Echo()
    assert echo.generate([]) == [] and echo.seen == []  # no prompts: no call
    assert echo.generate(("a", "b"), GenerationParams(stop=(" E",))) == ["a", "b"]
    assert echo.seen == [["a", "b"]]
    with pytest.raises(ValueError, match="one per prompt"):
        echo.generate(["a"], constraints=[None, None])
    with pytest.raises(BackendError, match="echo returned 1 completions for 2 prompts"):
        _Echo(["x"]).generate(["a", "b"])
    with pytest.raises(ValueError, match="same length"):
        echo.logprobs(["a"], [])
    with pytest.raises(BackendError, match="cannot score"):
        echo.logprobs(["a"], ["b"])


def test_returns_one_string_per_prompt(backend: Backend) -> None:
    out = backend.generate(PROMPTS, GREEDY)
    assert len(out) == len(PROMPTS)
    assert all(isinstance(t, str) for t in out)


def test_empty_prompt_list(backend: Backend) -> None:
    assert backend.generate([], GREEDY) == []


def test_greedy_is_deterministic(backend: Backend) -> None:
    assert backend.generate(PROMPTS, GREEDY) == backend.generate(PROMPTS, GREEDY)


def test_batched_equals_one_by_one(backend: Backend) -> None:
    batched = backend.generate(PROMPTS, GREEDY)
    single = [backend.generate([p], GREEDY)[0] for p in PROMPTS]
    assert batched == single


def test_order_of_prompts_does_not_change_answers(backend: Backend) -> None:
    forward = backend.generate(PROMPTS, GREEDY)
    backward = backend.generate(PROMPTS[::-1], GREEDY)
    assert backward[::-1] == forward


def test_max_new_tokens_only_shortens(backend: Backend) -> None:
    long = backend.generate(PROMPTS, GenerationParams(max_new_tokens=12))
    short = backend.generate(PROMPTS, GenerationParams(max_new_tokens=2))
    one = backend.generate(PROMPTS, GenerationParams(max_new_tokens=1))
    for o, s, lg in zip(one, short, long, strict=True):
        assert lg.startswith(s) and s.startswith(o)
        assert len(o) <= len(s) <= len(lg)
    assert sum(map(len, short)) < sum(map(len, long)), "a limit of 2 tokens cut nothing"


def test_stop_strings_cut(backend: Backend) -> None:
    full = backend.generate(PROMPTS, GREEDY)
    chosen = [(p, t) for p, t in zip(PROMPTS, full, strict=True) if len(t.strip()) >= 4]
    assert chosen, f"no prompt gave an answer long enough to test stops: {full!r}"
    for prompt, text in chosen:
        stop = text.strip()[2:4]  # a string that first occurs somewhere after the start
        expected = text[: text.find(stop)]
        got = backend.generate(
            [prompt], GenerationParams(max_new_tokens=12, stop=(stop, "never-seen"))
        )
        assert got == [expected]
        assert stop not in got[0]


def test_sampling_is_reproducible_with_a_seed(backend: Backend) -> None:
    params = GenerationParams(max_new_tokens=8, temperature=1.0, top_p=0.9, seed=7)
    assert backend.generate(PROMPTS, params) == backend.generate(PROMPTS, params)


def test_model_id_is_stable(backend: Backend) -> None:
    first = backend.model_id
    backend.generate(PROMPTS[:1], GREEDY)
    assert isinstance(first, str) and first
    assert backend.model_id == first


def test_constraint_respected(backend: Backend) -> None:
    constraint_mod = pytest.importorskip("fewner.decoding.constraint")
    source = "John lives in London with Apple"
    constraints = [
        constraint_mod.Constraint.for_text(source) if i % 2 == 0 else None
        for i in range(len(PROMPTS))
    ]
    out = backend.generate(PROMPTS, GenerationParams(max_new_tokens=24), constraints)
    free = backend.generate(PROMPTS, GenerationParams(max_new_tokens=24))
    for i, (text, c) in enumerate(zip(out, constraints, strict=True)):
        if c is None:  # unconstrained rows in the same batch are untouched
            assert text == free[i]
            continue
        # an answer may stop at the token limit; it must still lead into the language.
        # Repeat limits are not part of the contract (grammars and regexes cannot count).
        assert c.matcher(limit_repeats=False).feed(text.encode()), text


def test_logprobs(case: tuple[BackendCase, Backend]) -> None:
    spec, backend = case
    if not spec.logprobs:
        pytest.skip(f"{spec.id} does not score completions")
    prompts = ["The quick brown", "The quick brown", "Apple and"]
    completions = [" fox", " fox jumps over", " Google"]
    scores = backend.logprobs(prompts, completions)
    assert len(scores) == 3
    assert all(math.isfinite(s) and s <= 0 for s in scores)
    assert scores[0] > scores[1], "a completion cannot be likelier than its own prefix"
    assert backend.logprobs([], []) == []
    # the backend's own greedy answer is likelier than the same answer with a word appended
    answer = backend.generate(["Apple and"], GREEDY)[0]
    own, longer = backend.logprobs(["Apple and"] * 2, [answer, answer + " Berlin Paris"])
    assert own > longer


def test_first_token_bias_acts_on_the_first_token_only_or_is_refused(
    case: tuple[BackendCase, Backend],
) -> None:
    spec, backend = case
    forced = GenerationParams(max_new_tokens=1, first_token_bias=(("Paris", 1e4),))
    if not spec.first_token_bias:
        with pytest.raises(BackendError, match="first answer token"):
            backend.generate(PROMPTS, forced)
        return
    firsts = backend.generate(PROMPTS, forced)
    piece = firsts[0]
    assert piece.strip() and "Paris".startswith(piece.strip()), firsts
    assert firsts == [piece] * len(PROMPTS)  # the bias outweighs every prompt's own choice
    longer = backend.generate(PROMPTS, GenerationParams(max_new_tokens=8, first_token_bias=forced.first_token_bias))
    assert all(t.startswith(piece) for t in longer)
    # later positions are not biased: not every answer repeats the forced token
    assert any(t != piece * (len(t) // len(piece)) for t in longer), longer
    # a zero bias is no bias: same answers (and the same cache key) as none
    zero = GenerationParams(max_new_tokens=8, first_token_bias=(("Paris", 0.0),))
    assert zero == GenerationParams(max_new_tokens=8)
    assert backend.generate(PROMPTS, zero) == backend.generate(PROMPTS, GenerationParams(max_new_tokens=8))


def test_chat_prompt_contains_message(backend: Backend) -> None:
    text = backend.chat_prompt("Find the persons.", system="You are precise.")
    assert "Find the persons." in text and "You are precise." in text
