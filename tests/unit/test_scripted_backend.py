"""Scripted backend: the three script kinds, limits, stops, constraints and call records."""

from __future__ import annotations

import pytest

from fewner.backends.base import BACKENDS, GenerationParams
from fewner.backends.factory import make_backend
from fewner.backends.scripted import ScriptedBackend, truncate_tokens
from fewner.errors import BackendError, ConfigError


class FirstWord:
    """Stands in for a Constraint: keeps the first word."""

    def filter(self, text: str) -> tuple[str, dict[str, int]]:
        return text.split(" ")[0], {}


def test_mapping_with_default_and_strict_mode() -> None:
    b = ScriptedBackend({"a": "x"}, default="?")
    assert b.generate(["a", "b"]) == ["x", "?"]
    strict = ScriptedBackend({"a": "x"}, default=None)
    with pytest.raises(BackendError, match="no answer"):
        strict.generate(["b"])


def test_sequence_is_consumed_across_calls() -> None:
    b = ScriptedBackend(["one", "two", "three"])
    assert b.generate(["p", "q"]) == ["one", "two"]
    assert b.generate(["r"]) == ["three"]
    with pytest.raises(BackendError, match="ran out"):
        b.generate(["s"])


def test_callable_and_call_records() -> None:
    b = ScriptedBackend(str.upper)
    params = GenerationParams(max_new_tokens=5)
    assert b.generate(["ab", "cd"], params) == ["AB", "CD"]
    assert b.calls[0].method == "generate" and b.calls[0].params == params
    assert b.generated_prompts == ["ab", "cd"]


def test_max_new_tokens_counts_whitespace_tokens() -> None:
    assert truncate_tokens("a b  c d", 2) == "a b  "
    assert truncate_tokens("  lead trail ", 1) == "  lead "
    b = ScriptedBackend(lambda p: "one two three four")
    assert b.generate(["p"], GenerationParams(max_new_tokens=3)) == ["one two three "]


def test_stop_strings_cut_after_the_limit() -> None:
    b = ScriptedBackend(lambda p: "Paris | London\nmore")
    assert b.generate(["p"], GenerationParams(stop=("\n",))) == ["Paris | London"]
    assert b.generate(["p"], GenerationParams(stop=(" |", "\n"))) == ["Paris"]


def test_constraints_filter_after_generation() -> None:
    b = ScriptedBackend(lambda p: "John lives in London")
    assert not b.supports_token_constraints
    assert b.generate(["p", "q"], constraints=[FirstWord(), None]) == [
        "John",
        "John lives in London",
    ]  # type: ignore[list-item]
    with pytest.raises(ValueError, match="one per prompt"):
        b.generate(["p"], constraints=[])


def test_toy_logprobs_prefer_the_canned_answer() -> None:
    b = ScriptedBackend({"p": "Paris"})
    right, wrong, longer = b.logprobs(["p"] * 3, ["Paris", "Rome", "Paris and more"])
    assert right > wrong and right > longer
    assert b.calls[-1].method == "logprobs"


def test_registry_and_factory() -> None:
    backend = make_backend("scripted", "demo", answers={"a": "b"})
    assert "scripted" in BACKENDS
    assert backend.model_id == "scripted:demo"
    assert backend.generate(["a"]) == ["b"]
    with pytest.raises(ConfigError, match="unknown backend"):
        make_backend("nope", "m")
