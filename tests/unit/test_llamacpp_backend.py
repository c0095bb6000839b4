"""The ``llamacpp`` backend on the real SmolLM2-135M GGUF (llama-cpp-python, one thread).

Token limits stay small: SmolLM2 decodes ~90 tok/s on a free core, so the module takes seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fewner.backends.base import BACKENDS, GenerationParams
from fewner.decoding.constraint import Constraint
from fewner.errors import BackendError, ModelNotAvailableError

pytest.importorskip("llama_cpp")
from fewner.backends.llamacpp import LlamaCppBackend, resolve_gguf  # noqa: E402

SOURCE = "John Smith lives in London and works for Apple."
PROMPT = (
    "<|im_start|>user\nList the names of people, places and companies in this sentence: "
    f"{SOURCE}<|im_end|>\n<|im_start|>assistant\n"
)
GREEDY = GenerationParams(max_new_tokens=16)


@pytest.fixture(scope="module")
def backend(gguf: Path) -> Iterator[LlamaCppBackend]:
    b = LlamaCppBackend(gguf, n_ctx=512, n_threads=1)
    try:
        yield b
    finally:
        b.close()


def test_registered_and_identified(backend: LlamaCppBackend, gguf: Path) -> None:
    assert BACKENDS["llamacpp"] is LlamaCppBackend
    assert backend.supports_token_constraints
    assert backend.model_id == f"llamacpp:{gguf.name}"


def test_model_by_catalogue_name_or_path(gguf: Path, tmp_path: Path) -> None:
    assert resolve_gguf("smollm2-135m-instruct") == gguf.resolve()
    assert resolve_gguf(gguf) == gguf.resolve()
    with pytest.raises(ModelNotAvailableError):
        resolve_gguf(tmp_path / "missing.gguf")
    with pytest.raises(ModelNotAvailableError):
        resolve_gguf("no-such-catalogue-model")


def test_greedy_is_deterministic_and_stops(backend: LlamaCppBackend) -> None:
    first = backend.generate([PROMPT], GREEDY)[0]
    assert first.strip(), "greedy decoding produced nothing"
    assert backend.generate([PROMPT], GREEDY) == [first]
    stop = first.strip()[3:5]
    cut = backend.generate([PROMPT], GenerationParams(max_new_tokens=16, stop=(stop,)))[0]
    assert cut == first[: first.find(stop)] and stop not in cut
    one = backend.generate([PROMPT], GenerationParams(max_new_tokens=1))[0]
    assert first.startswith(one) and len(one) < len(first)


def test_seeded_sampling_is_reproducible(backend: LlamaCppBackend) -> None:
    runs = {
        seed: backend.generate(
            [PROMPT], GenerationParams(max_new_tokens=12, temperature=1.5, seed=seed)
        )[0]
        for seed in (1, 2, 3)
    }
    again = backend.generate([PROMPT], GenerationParams(max_new_tokens=12, temperature=1.5, seed=2))
    assert again == [runs[2]]
    assert len(set(runs.values())) > 1, "three seeds at temperature 1.5 gave the same text"


def test_grammar_constrains_decoding(backend: LlamaCppBackend) -> None:
    constraint = Constraint.for_text(SOURCE)
    free = backend.generate([PROMPT], GREEDY)[0]
    params = GenerationParams(max_new_tokens=24)
    out = backend.generate([PROMPT, PROMPT], params, [constraint, None])
    assert out[1] == backend.generate([PROMPT], params)[0]  # the free row is untouched
    assert constraint.matcher(limit_repeats=False).feed(out[0].encode()), out[0]
    assert not constraint.is_prefix(free), "test needs a free answer outside the language"
    g = constraint.grammar
    assert out[0].startswith(g.prefix) or out[0] == g.none  # steered from the first token
    assert all(m in SOURCE for m in g.mentions_in(out[0]))


def test_grammar_cache_and_invalid_grammar(backend: LlamaCppBackend) -> None:
    gbnf = 'root ::= "yes" | "no"\n'
    assert backend.grammar(gbnf) is backend.grammar(gbnf)
    with pytest.raises(BackendError, match="rejected the grammar"):
        backend.grammar("root ::= undefined-rule\n")


def test_repeats_beyond_the_limit_are_filtered_and_counted(backend: LlamaCppBackend) -> None:
    # "London" occurs once: a grammar cannot forbid writing it twice, the post-filter does.
    constraint = Constraint.for_mentions(["London"])
    g = constraint.grammar
    forced = g.render(["London", "London", "London"])
    prompt = f"Repeat exactly: {forced}\nAnswer: "
    before = backend.filtered_mentions
    out = backend.generate([prompt], GenerationParams(max_new_tokens=24), [constraint])[0]
    assert constraint.is_prefix(out), out
    assert g.mentions_in(out).count("London") <= 1
    assert backend.filtered_mentions == sum(backend.filtered.values()) >= before


def test_enforce_keeps_valid_prefixes_and_repairs_the_rest() -> None:

    constraint = Constraint.for_mentions(["London"])
    g = constraint.grammar
    twice = g.render(["London", "London"])
    text, removed = constraint.enforce(twice)
    assert text == g.render(["London"]) and removed == {"London": 1}
    truncated = g.render(["London"])[:-1]  # cut by the token limit: still a valid prefix
    assert constraint.enforce(truncated) == (truncated, {})


def test_logprobs_both_ways_agree(backend: LlamaCppBackend, gguf: Path) -> None:
    answer = backend.generate([PROMPT], GenerationParams(max_new_tokens=8))[0]
    completions = [answer, answer + " Paris Berlin", " Zebra"]
    stepwise = backend.logprobs([PROMPT] * 3, completions)
    assert all(s < 0 for s in stepwise)
    assert stepwise[0] > stepwise[1] and stepwise[0] > stepwise[2]
    with LlamaCppBackend(gguf, n_ctx=512, n_threads=1, logits_all=True) as full:
        batched = full.logprobs([PROMPT] * 3, completions)
    # batch and one-token evaluation round differently in llama.cpp: close, not equal
    assert batched == pytest.approx(stepwise, abs=0.05 * max(1, len(answer) // 4), rel=0.05)
    assert backend.logprobs([PROMPT], [""]) == [0.0]


def test_context_overflow_is_a_backend_error(backend: LlamaCppBackend) -> None:
    with pytest.raises(BackendError):
        backend.logprobs(["word " * 600], [" more"])
    # refused before any work, naming the limit and the fix (not llama.cpp's bare message)
    with pytest.raises(BackendError, match=r"context window .*\(512 tokens\).*-O n_ctx=N"):
        backend.generate(["hi", "word " * 600], GenerationParams(max_new_tokens=2))
    assert backend.context_length() == 512 and backend.count_tokens("word " * 10) >= 10


def test_chat_prompt_uses_the_gguf_template(backend: LlamaCppBackend) -> None:
    text = backend.chat_prompt("Find the persons.", system="You are precise.")
    assert text == (
        "<|im_start|>system\nYou are precise.<|im_end|>\n"
        "<|im_start|>user\nFind the persons.<|im_end|>\n<|im_start|>assistant\n"
    )
    default = backend.chat_prompt("Hi")
    assert "SmolLM" in default and default.endswith("<|im_start|>assistant\n")


def test_prefix_reuse_does_not_change_greedy_answers(backend: LlamaCppBackend, gguf: Path) -> None:
    assert backend.prefix_reuse  # the default: KV cache of the previous prompt's prefix reused
    prompts = [PROMPT, PROMPT.replace("London", "Paris"), PROMPT.replace("Apple", "Google")]
    params = GenerationParams(max_new_tokens=10)
    reused = backend.generate(prompts, params)
    assert backend.generate(prompts[::-1], params)[::-1] == reused
    with LlamaCppBackend(gguf, n_ctx=512, n_threads=1, prefix_reuse=False) as fresh:
        assert fresh.generate(prompts, params) == reused


def test_prefix_reuse_and_prompt_cache_options(gguf: Path) -> None:
    params = GenerationParams(max_new_tokens=6)
    prompts = [PROMPT, PROMPT + "Sure", PROMPT]
    with LlamaCppBackend(gguf, n_ctx=512, n_threads=1, prompt_cache_mb=64) as cached:
        assert cached.prefix_reuse
        out = cached.generate(prompts, params)
    assert len(out) == 3 and all(isinstance(t, str) and t for t in out)
    assert out[0] == out[2]  # a cache hit restores the same state


def test_choice_grammar_forces_one_listed_answer(backend: LlamaCppBackend) -> None:
    from fewner.decoding.choice import ChoiceConstraint

    choices = ChoiceConstraint(["corporation", "location", "none"])
    prompt = f"{SOURCE}\nApple is a:"
    free = backend.generate([prompt], GenerationParams(max_new_tokens=6))[0]
    out = backend.generate([prompt], GenerationParams(max_new_tokens=6), [choices])[0]
    assert choices.accepts(out), (free, out)
