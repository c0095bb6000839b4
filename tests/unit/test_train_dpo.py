"""DPO on a tiny random Llama: the loss against arithmetic, the frozen reference, gradients."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from fewner.prompts import ExtractionFormat  # noqa: E402
from fewner.train.dpo import (  # noqa: E402
    DPOObjective,
    collate_pairs,
    dpo_loss,
    encode_pair,
    reference_logps,
)
from fewner.train.lora import PRESETS, wrap  # noqa: E402
from fewner.train.pairs import boundary_pairs  # noqa: E402
from tests.unit.train_tiny import mini_sentences, tiny_causal_lm  # noqa: E402

FMT = ExtractionFormat("obp-llm", "conll2003")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tiny_causal_lm(tmp_path_factory.mktemp("dpo") / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(0)
    model = wrap(AutoModelForCausalLM.from_pretrained(folder), PRESETS["obp-llm"])
    with torch.no_grad():  # peft starts lora_B at zero; move it so the policy differs from base
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.05)
    model.eval()  # no dropout: the hand computation below is deterministic
    return model, tokenizer


@pytest.fixture(scope="module")
def pairs(tiny):
    _, tokenizer = tiny
    text = boundary_pairs(mini_sentences(), ["PER", "LOC", "ORG"], FMT, per_example=1, seed=0)
    assert len(text) >= 3
    return [encode_pair(FMT, tokenizer, p) for p in text.pairs[:3]]


def _logp_by_hand(model, prompt: tuple[int, ...], answer: tuple[int, ...]) -> float:
    """log p(answer | prompt) with a full softmax, one token at a time, no batching or padding."""
    ids = torch.tensor([list(prompt + answer)])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].double()
    total = 0.0
    for k, token in enumerate(answer):
        position = len(prompt) + k - 1  # the logit that predicts answer[k]
        total += torch.log_softmax(logits[position], -1)[token].item()
    return total


def test_answers_end_with_eos_and_only_they_are_supervised(tiny, pairs) -> None:
    _, tokenizer = tiny
    batch = collate_pairs(pairs, tokenizer.pad_token_id)
    n = len(pairs)
    assert batch["input_ids"].shape[0] == 2 * n
    for i, p in enumerate(pairs):
        for row, answer in ((i, p.chosen_ids), (n + i, p.rejected_ids)):
            supervised = batch["labels"][row][batch["labels"][row] != -100].tolist()
            assert supervised == list(answer) and answer[-1] == tokenizer.eos_token_id
            assert batch["attention_mask"][row].sum() == len(p.prompt_ids) + len(answer)


def test_reference_logps_are_the_sequence_log_probabilities(tiny, pairs) -> None:
    model, tokenizer = tiny
    scored = reference_logps(model, pairs, tokenizer.pad_token_id, batch_size=2)
    for p in scored:
        assert p.ref_chosen == pytest.approx(
            _logp_by_hand(model, p.prompt_ids, p.chosen_ids), abs=1e-4
        )
        assert p.ref_rejected == pytest.approx(
            _logp_by_hand(model, p.prompt_ids, p.rejected_ids), abs=1e-4
        )


def test_the_objective_equals_the_formula_by_hand(tiny, pairs) -> None:
    model, tokenizer = tiny
    refs = [(-40.0, -45.5), (-30.25, -20.0), (-50.0, -50.0)]
    pairs = [
        replace(p, ref_chosen=a, ref_rejected=b) for p, (a, b) in zip(pairs, refs, strict=True)
    ]
    beta, alpha = 0.1, 0.2
    loss, logs = DPOObjective(beta, alpha)(model, collate_pairs(pairs, tokenizer.pad_token_id))

    dpo_terms, nll_terms = [], []
    for p in pairs:
        chosen = _logp_by_hand(model, p.prompt_ids, p.chosen_ids)
        rejected = _logp_by_hand(model, p.prompt_ids, p.rejected_ids)
        margin = (chosen - p.ref_chosen) - (rejected - p.ref_rejected)
        dpo_terms.append(-math.log(1 / (1 + math.exp(-beta * margin))))
        nll_terms.append(-chosen / len(p.chosen_ids))  # per-token mean NLL of the chosen answer
    expected = sum(dpo_terms) / 3 + alpha * sum(nll_terms) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert logs["dpo"] == pytest.approx(sum(dpo_terms) / 3, rel=1e-5)
    assert logs["sft_chosen"] == pytest.approx(sum(nll_terms) / 3, rel=1e-5)


def test_against_its_own_reference_the_dpo_term_is_log_2(tiny, pairs) -> None:
    model, tokenizer = tiny
    scored = reference_logps(model, pairs, tokenizer.pad_token_id)
    _, logs = DPOObjective(0.1, 0.0)(model, collate_pairs(scored, tokenizer.pad_token_id))
    assert logs["dpo"] == pytest.approx(math.log(2), abs=1e-5)
    assert logs["reward_margin"] == pytest.approx(0.0, abs=1e-5)


def test_dpo_loss_function_values() -> None:
    t = torch.tensor
    loss, margin = dpo_loss(t([-1.0, -2.0]), t([-3.0, -1.0]), t([-2.0, -2.0]), t([-2.0, -2.0]), 0.5)
    assert margin.tolist() == [2.0, -1.0]
    assert loss.tolist() == pytest.approx([math.log1p(math.exp(-1.0)), math.log1p(math.exp(0.5))])


def test_missing_reference_values_are_an_error(tiny, pairs) -> None:
    model, tokenizer = tiny
    with pytest.raises(ValueError, match="reference"):
        DPOObjective()(model, collate_pairs(pairs, tokenizer.pad_token_id))


def test_gradients_reach_only_the_adapter(tiny, pairs) -> None:
    model, tokenizer = tiny
    scored = reference_logps(model, pairs, tokenizer.pad_token_id)
    # the policy must differ from the reference for the DPO term to have a gradient of its own
    scored = [replace(p, ref_chosen=p.ref_chosen - 1.0) for p in scored]
    model.zero_grad(set_to_none=True)
    loss, _ = DPOObjective(0.1, 0.0)(model, collate_pairs(scored, tokenizer.pad_token_id))
    loss.backward()
    lora = {n: p for n, p in model.named_parameters() if "lora_" in n}
    assert lora and all(p.requires_grad for p in lora.values())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in lora.values())
    base = [n for n, p in model.named_parameters() if "lora_" not in n]
    assert base and all(dict(model.named_parameters())[n].grad is None for n in base)
    model.zero_grad(set_to_none=True)


def test_reference_logps_restore_the_training_mode(tiny, pairs) -> None:
    model, tokenizer = tiny
    model.train()
    try:
        reference_logps(model, pairs[:1], tokenizer.pad_token_id)
        assert model.training
    finally:
        model.eval()
