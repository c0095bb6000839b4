"""HF backend on a tiny random Llama: batching, sampling, stops, EOS, logprobs, LoRA adapters."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from fewner.backends.base import GenerationParams  # noqa: E402
from fewner.backends.hf import HFBackend  # noqa: E402
from fewner.backends.hf_steps import RowSampler, StopOnStrings, row_seed  # noqa: E402
from fewner.errors import BackendError, ModelNotAvailableError  # noqa: E402
from tests.contract.backends_under_test import tiny_llama  # noqa: E402

PROMPTS = [
    "The quick brown fox jumps over the lazy dog. Apple and Google are companies in",
    "Barack",
    "Text: John lives in London. Answer:",
    "Entities: person, location",
    "Paris",
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_llama(tmp_path_factory.mktemp("hf") / "tiny")


@pytest.fixture(scope="module")
def backend(folder: Path) -> HFBackend:
    return HFBackend(str(folder), device="cpu", batch_size=4)


def test_model_loads_lazily_and_model_id_needs_no_weights(folder: Path) -> None:
    b = HFBackend(str(folder), device="cpu")
    assert b._model is None and b.model_id == f"hf:{folder}"
    assert len(b.generate(["Paris"], GenerationParams(max_new_tokens=2))) == 1
    assert b._model is not None


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_greedy_batched_equals_one_by_one(folder: Path, batch_size: int) -> None:
    b = HFBackend(str(folder), device="cpu", batch_size=batch_size)
    params = GenerationParams(max_new_tokens=16)
    batched = b.generate(PROMPTS, params)
    single = [b.generate([p], params)[0] for p in PROMPTS]
    assert batched == single
    assert any(batched), "the tiny model produced only empty answers"


def test_matches_plain_transformers_generate(backend: HFBackend, folder: Path) -> None:
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    for prompt in PROMPTS[:3]:
        ids = tok(prompt, return_tensors="pt")
        ref = model.generate(
            **ids, max_new_tokens=6, do_sample=False, pad_token_id=tok.pad_token_id
        )
        new = ref[0, ids["input_ids"].shape[1] :].tolist()
        if tok.eos_token_id in new:
            new = new[: new.index(tok.eos_token_id)]
        expected = tok.decode(new, skip_special_tokens=True)
        assert backend.generate([prompt], GenerationParams(max_new_tokens=6)) == [expected]


def test_sampling_depends_on_seed_and_prompt_only(backend: HFBackend) -> None:
    params = GenerationParams(max_new_tokens=10, temperature=1.5, seed=11)
    batched = backend.generate(PROMPTS, params)
    single = [backend.generate([p], params)[0] for p in PROMPTS]
    reordered = backend.generate(PROMPTS[::-1], params)[::-1]
    assert batched == single == reordered
    other_seed = backend.generate(
        PROMPTS, GenerationParams(max_new_tokens=10, temperature=1.5, seed=12)
    )
    assert other_seed != batched
    assert batched != backend.generate(PROMPTS, GenerationParams(max_new_tokens=10))


def test_tiny_top_p_is_greedy(backend: HFBackend) -> None:
    greedy = backend.generate(PROMPTS, GenerationParams(max_new_tokens=8))
    nucleus = backend.generate(
        PROMPTS, GenerationParams(max_new_tokens=8, temperature=1.0, top_p=1e-6, seed=3)
    )
    assert nucleus == greedy


def test_row_sampler_keeps_one_token_per_row() -> None:
    scores = torch.tensor([[0.0, 1.0, 2.0], [5.0, -1.0, 0.0]])
    out = RowSampler([1, 2], temperature=1.0, top_p=0.5)(
        torch.zeros(2, 1, dtype=torch.long), scores
    )
    assert (torch.isfinite(out).sum(-1) == 1).all()
    assert out[1].argmax() == 0  # top_p=0.5 keeps only the dominant token
    assert row_seed(0, "a") == row_seed(0, "a") != row_seed(1, "a")


def test_stop_strings_end_rows_and_are_cut(backend: HFBackend) -> None:
    full = backend.generate(PROMPTS, GenerationParams(max_new_tokens=16))
    prompt, text = next((p, t) for p, t in zip(PROMPTS, full, strict=True) if len(t) > 6)
    stop = text[3:5]
    got = backend.generate([prompt], GenerationParams(max_new_tokens=16, stop=(stop,)))[0]
    assert got == text[: text.find(stop)]


def test_stop_criterion_marks_only_rows_that_wrote_the_stop(backend: HFBackend) -> None:
    tok = backend.tokenizer
    rows = [tok("Paris and").input_ids, tok("Apple the").input_ids]
    width = max(map(len, rows))
    ids = torch.tensor([[tok.pad_token_id] * (width - len(r)) + r for r in rows])
    prompt_len = width - 1  # only the last token counts as generated
    done = StopOnStrings(tok, ["and"], prompt_len)(ids, None)
    assert done.tolist() == [True, False]
    # a stop inside the prompt does not end generation
    assert StopOnStrings(tok, ["Paris"], prompt_len)(ids, None).tolist() == [False, False]


def test_eos_ends_generation(folder: Path) -> None:
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    plain = HFBackend.from_objects(model, tok, "tiny")
    prompt = "Barack"
    first = plain.generate([prompt], GenerationParams(max_new_tokens=1))[0]
    assert first
    first_id = tok(prompt + first).input_ids[len(tok(prompt).input_ids)]
    tok2 = AutoTokenizer.from_pretrained(folder)
    tok2.eos_token = tok2.convert_ids_to_tokens(first_id)
    ending = HFBackend.from_objects(model, tok2, "tiny-eos")
    assert ending.generate([prompt], GenerationParams(max_new_tokens=8)) == [""]


def test_empty_prompt_and_empty_list(backend: HFBackend) -> None:
    assert backend.generate([], GenerationParams()) == []
    out = backend.generate(["", "Paris"], GenerationParams(max_new_tokens=4))
    assert len(out) == 2 and isinstance(out[0], str)


def test_logprobs_equal_a_manual_forward_pass(backend: HFBackend) -> None:
    prompt, completion = "Text: John lives in", " London"
    p, c = backend.completion_ids(prompt, completion)
    assert p + c == backend.encode(prompt + completion)
    ids = torch.tensor([p + c])
    with torch.inference_mode():
        logp = torch.log_softmax(backend.model(ids).logits[0, :-1], -1)
    manual = sum(float(logp[len(p) - 1 + k, t]) for k, t in enumerate(c))
    # batched with longer and shorter rows: left padding must not change the score
    scores = backend.logprobs(["Paris", prompt, PROMPTS[0]], [" is", completion, " California"])
    assert scores[1] == pytest.approx(manual, abs=1e-4)
    assert backend.logprobs([prompt], [completion])[0] == pytest.approx(manual, abs=1e-4)
    assert all(math.isfinite(s) for s in scores)
    assert backend.logprobs(["Paris"], [""]) == [0.0]


def test_logprobs_keep_the_prompt_tokenization_at_a_merging_boundary(backend: HFBackend) -> None:
    # "in " + "London": prompt+completion tokenizes " London" as one token, not as the prompt's
    # trailing " " followed by "London"; the prompt's tokens must stay as generation saw them.
    p, c = backend.completion_ids("John lives in ", "London")
    assert p == backend.encode("John lives in ")
    assert backend.tokenizer.decode(c) == "London"


def test_chat_prompt_uses_the_template(backend: HFBackend) -> None:
    text = backend.chat_prompt("Find persons.", system="Be brief.")
    assert text == "<|system|>Be brief.\n<|user|>Find persons.\n<|assistant|>"


def test_lora_adapter_changes_outputs_and_model_id(folder: Path, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model

    base = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    peft_model = get_peft_model(
        base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], lora_alpha=8)
    )
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 1.0)
    peft_model.save_pretrained(tmp_path / "adapter")
    plain = HFBackend(str(folder), device="cpu")
    tuned = HFBackend(str(folder), adapter=tmp_path / "adapter", device="cpu")
    assert tuned.model_id.startswith(f"hf:{folder}+lora:adapter@")
    params = GenerationParams(max_new_tokens=8)
    assert plain.generate(PROMPTS, params) != tuned.generate(PROMPTS, params)
    assert plain.logprobs(["Paris"], [" London"]) != tuned.logprobs(["Paris"], [" London"])


def test_missing_adapter_and_model_are_clear_errors(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailableError, match="adapter_config.json"):
        HFBackend(str(folder), adapter=tmp_path)
    with pytest.raises(ModelNotAvailableError):
        HFBackend(str(tmp_path / "nowhere"))


def test_token_constraints_steer_each_row(backend: HFBackend) -> None:
    constraint_mod = pytest.importorskip("fewner.decoding.constraint")
    constraint = constraint_mod.Constraint.for_text("John lives in London")
    cons = [constraint, None, constraint, None, constraint]
    for params in (
        GenerationParams(max_new_tokens=20),
        GenerationParams(max_new_tokens=20, temperature=1.0, seed=5),
    ):
        batched = backend.generate(PROMPTS, params, cons)
        single = [backend.generate([p], params, [c])[0] for p, c in zip(PROMPTS, cons, strict=True)]
        assert batched == single
        for text, c in zip(batched, cons, strict=True):
            if c is not None:
                assert c.is_prefix(text), text
    greedy = GenerationParams(max_new_tokens=20)
    steered, free = backend.generate(PROMPTS, greedy, cons), backend.generate(PROMPTS, greedy)
    assert all((s == f) == (c is None) for s, f, c in zip(steered, free, cons, strict=True))


def test_a_constraint_without_an_automaton_is_a_clear_error(backend: HFBackend) -> None:
    from fewner.decoding.choice import ChoiceConstraint

    with pytest.raises(BackendError, match="cannot enforce ChoiceConstraint"):
        backend.generate(["x"], GenerationParams(max_new_tokens=2), [ChoiceConstraint(["a"])])
