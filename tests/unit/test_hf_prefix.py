"""Shared-prefix generation in the HF backend: grouping plan, and outputs equal to the plain path.

The tiny random Llama has clear greedy winners (large initializer range), so equality here tests
the cache copying, middle padding, attention masks and position ids, not float ties.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from fewner.backends.base import GenerationParams  # noqa: E402
from fewner.backends.hf import HFBackend  # noqa: E402
from fewner.backends.prefix import (  # noqa: E402
    PrefixGroup,
    common_prefix_len,
    group_by_prefix,
    pack_groups,
)
from tests.contract.backends_under_test import tiny_llama  # noqa: E402

SENTENCES = [
    "Barack Obama visited Paris and Berlin in 2009.",
    "Apple and Google are companies in California.",
    "John lives in London.",
    "The quick brown fox jumps over the lazy dog.",
    "Paris",
]
TYPES = ["person", "location", "organization", "miscellaneous"]


def sentence_first(backend: HFBackend, chat: bool = False) -> list[str]:
    prompts = []
    for s in SENTENCES:
        for t in TYPES:
            user = f"Text: {s}\nEntities: {t}"
            prompts.append(backend.chat_prompt(user, system="Answer:") if chat else user)
    return prompts


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_llama(tmp_path_factory.mktemp("hfprefix") / "tiny")


@pytest.fixture(scope="module")
def model_and_tok(folder: Path) -> tuple:
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    return model, tok


DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
    ),
]


def backends(
    model_and_tok: tuple, batch_size: int, device: str = "cpu"
) -> tuple[HFBackend, HFBackend]:
    model, tok = model_and_tok
    model = model.to(device)
    plain = HFBackend.from_objects(model, tok, "tiny", batch_size=batch_size)
    shared = HFBackend.from_objects(model, tok, "tiny", batch_size=batch_size, prefix_sharing=True)
    return plain, shared


# -- the plan -------------------------------------------------------------------------------


def test_common_prefix_len() -> None:
    assert common_prefix_len([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix_len([1, 2], [1, 2, 3]) == 2
    assert common_prefix_len([], [1]) == 0


def test_groups_are_sentences_not_the_shared_system_prompt() -> None:
    system = list(range(100, 130))  # every prompt starts with the same 30 tokens
    encoded = []
    for s in range(3):
        sentence = [200 + s] + [300 + 10 * s + k for k in range(12)]
        for t in range(4):
            encoded.append(system + sentence + [400 + t, 500])
    groups = group_by_prefix(encoded, max_group=8)
    assert sorted(sorted(g.rows) for g in groups) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert all(g.prefix_len == 30 + 13 for g in groups)


def test_every_prompt_in_one_group_and_keeps_a_token_of_its_own() -> None:
    encoded = [[1, 2, 3], [1, 2, 3], [1, 2], [1], [5, 6, 7, 8], [5, 6, 7, 9], [2]]
    for max_group in (1, 2, 3, 8):
        groups = group_by_prefix(encoded, max_group)
        rows = sorted(r for g in groups for r in g.rows)
        assert rows == list(range(len(encoded)))
        for g in groups:
            assert len(g.rows) <= max_group
            assert all(g.prefix_len < len(encoded[r]) for r in g.rows)
            first = encoded[g.rows[0]][: g.prefix_len]
            assert all(encoded[r][: g.prefix_len] == first for r in g.rows)
    assert group_by_prefix([], 4) == []
    with pytest.raises(ValueError):
        group_by_prefix(encoded, 0)


def test_pack_groups_keeps_groups_whole_and_batches_small() -> None:
    encoded = [[1] * 10 + [k] for k in range(7)] + [[2, 3, 4]]
    groups = [PrefixGroup(tuple(range(7)), 10), PrefixGroup((7,), 2)]
    batches = pack_groups(groups, encoded, batch_size=3)
    assert all(sum(len(g.rows) for g in b) <= 3 for b in batches)
    assert sorted(r for b in batches for g in b for r in g.rows) == list(range(8))
    assert all(g.prefix_len == 10 for b in batches for g in b if 7 not in g.rows)


# -- generation equals the plain path -------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("batch_size", [1, 3, 8, 32])
@pytest.mark.parametrize("chat", [False, True])
def test_greedy_shared_equals_plain(
    model_and_tok: tuple, batch_size: int, chat: bool, device: str
) -> None:
    plain, shared = backends(model_and_tok, batch_size, device)
    prompts = sentence_first(plain, chat) + ["", "Paris", "Barack"]
    params = GenerationParams(max_new_tokens=12)
    expected = plain.generate(prompts, params)
    assert shared.generate(prompts, params) == expected
    assert any(expected), "the tiny model produced only empty answers"


@pytest.mark.parametrize("device", DEVICES)
def test_shared_batched_equals_one_by_one_and_order_free(model_and_tok: tuple, device: str) -> None:
    _, shared = backends(model_and_tok, 16, device)
    prompts = sentence_first(shared)
    params = GenerationParams(max_new_tokens=10)
    batched = shared.generate(prompts, params)
    assert batched == [shared.generate([p], params)[0] for p in prompts]
    assert shared.generate(prompts[::-1], params)[::-1] == batched


@pytest.mark.parametrize("device", DEVICES)
def test_shared_with_constraints_sampling_and_stops(model_and_tok: tuple, device: str) -> None:
    from fewner.decoding.constraint import Constraint

    plain, shared = backends(model_and_tok, 8, device)
    prompts = sentence_first(plain)
    cons = [
        Constraint.for_text(SENTENCES[i // len(TYPES)]) if i % 3 else None
        for i in range(len(prompts))
    ]
    for params in (
        GenerationParams(max_new_tokens=16),
        GenerationParams(max_new_tokens=16, temperature=1.0, seed=7),
    ):
        expected = plain.generate(prompts, params, cons)
        assert shared.generate(prompts, params, cons) == expected
        for text, c in zip(expected, cons, strict=True):
            assert c is None or c.is_prefix(text), text
    free = plain.generate(prompts, GenerationParams(max_new_tokens=16))
    text = next(t for t in free if len(t) > 6)
    stop_params = GenerationParams(max_new_tokens=16, stop=(text[3:5],))
    assert shared.generate(prompts, stop_params) == plain.generate(prompts, stop_params)


def test_sharing_computes_fewer_prompt_tokens(model_and_tok: tuple) -> None:
    plain, shared = backends(model_and_tok, 8)
    prompts = sentence_first(plain)
    model = plain.model
    counted: list[int] = []
    hook = model.get_input_embeddings().register_forward_hook(
        lambda mod, inp, out: counted.append(int(inp[0].numel()))
    )
    try:
        params = GenerationParams(max_new_tokens=1)
        plain.generate(prompts, params)
        plain_tokens, counted[:] = sum(counted), []
        shared.generate(prompts, params)
        shared_tokens = sum(counted)
    finally:
        hook.remove()
    assert shared_tokens < 0.6 * plain_tokens


def test_sliding_window_models_fall_back_to_plain_rows(folder: Path) -> None:
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    model.config.sliding_window = 8  # narrower than the rows: middle padding would shift it
    shared = HFBackend.from_objects(model, tok, "tiny", batch_size=8, prefix_sharing=True)
    encoded = [shared.encode(p) for p in sentence_first(shared)[:4]]
    groups = group_by_prefix(encoded, 8)
    lens = [g.prefix_len for g in groups for _ in g.rows]
    rows = [encoded[r] for g in groups for r in g.rows]
    _, _, cache = shared._prefill_shared(rows, lens, max_new_tokens=4)
    assert cache is None
    model.config.sliding_window = 400  # wide enough: the cache is used
    assert shared._prefill_shared(rows, lens, max_new_tokens=4)[2] is not None
    plain = HFBackend.from_objects(model, tok, "tiny", batch_size=8)
    prompts, params = sentence_first(shared)[:8], GenerationParams(max_new_tokens=6)
    assert shared.generate(prompts, params) == plain.generate(prompts, params)


def test_shared_prefix_with_a_lora_adapter(folder: Path, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model

    base = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 1.0)
    peft_model.save_pretrained(tmp_path / "adapter")
    plain = HFBackend(str(folder), adapter=tmp_path / "adapter", device="cpu")
    shared = HFBackend(str(folder), adapter=tmp_path / "adapter", device="cpu", prefix_sharing=True)
    prompts = sentence_first(plain)[:8]
    params = GenerationParams(max_new_tokens=8)
    assert shared.generate(prompts, params) == plain.generate(prompts, params)


def test_cache_passes_without_deprecated_keyword(model_and_tok: tuple) -> None:
    """The KV cache goes under the keyword the installed transformers takes (``cache`` since
    5.25; ``past_key_values`` warns there and goes in 5.40), on the prefill and generate paths."""
    import warnings

    _, shared = backends(model_and_tok, batch_size=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        answers = shared.generate(sentence_first(shared)[:8], GenerationParams(max_new_tokens=4))
    assert len(answers) == 8
    assert not [str(w.message) for w in caught if "past_key_values" in str(w.message)]
