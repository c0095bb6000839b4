"""New text after a prompt keeps its leading space with SentencePiece-style (``▁``) tokenizers.

A Metaspace decoder drops the ``▁`` of the first token it decodes, so decoding only the new
ids turns " London" into "London". The HF backend decodes prompt + answer and subtracts the
decoded prompt; these tests pin that, on the plain and the shared-prefix paths, with a tiny
Metaspace BPE tokenizer (Llama-2/Gemma style) and a model rigged to always emit ``▁London``.
(Checked by hand on the real Gemma 3 tokenizer too: with transformers 5.23 its decoder keeps
the space even for new ids alone, so both ways agree there.)
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from fewner.backends.base import GenerationParams  # noqa: E402
from fewner.backends.hf import HFBackend  # noqa: E402
from tests.contract.backends_under_test import CORPUS  # noqa: E402


@pytest.fixture(scope="module")
def spm_tokenizer():  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<s>", "</s>"])
    tok.train_from_iterator(CORPUS * 4, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )


@pytest.fixture(scope="module")
def london_backend(spm_tokenizer):  # type: ignore[no-untyped-def]
    """A tiny Llama whose output layer always prefers ``▁London``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tok = spm_tokenizer
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    london = tok.convert_tokens_to_ids("▁London")
    head = torch.nn.Linear(32, len(tok), bias=True)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[london] = 10.0
    model.lm_head = head
    return model, tok


def test_decoding_new_ids_alone_loses_the_space(spm_tokenizer) -> None:  # type: ignore[no-untyped-def]
    tok = spm_tokenizer
    london = tok.convert_tokens_to_ids("▁London")
    assert tok.decode([london]) == "London"  # the hazard this file is about


@pytest.mark.parametrize("prefix_sharing", [False, True])
def test_generated_text_keeps_its_leading_space(london_backend, prefix_sharing: bool) -> None:  # type: ignore[no-untyped-def]
    model, tok = london_backend
    backend = HFBackend.from_objects(model, tok, "spm", batch_size=4, prefix_sharing=prefix_sharing)
    prompts = [f"Text: John lives in London. Entities: {t}" for t in ("person", "location")]
    out = backend.generate(prompts + ["John"], GenerationParams(max_new_tokens=2))
    assert out == [" London London"] * 3


def test_new_text_after_a_prompt(london_backend) -> None:  # type: ignore[no-untyped-def]
    _, tok = london_backend
    backend = HFBackend.from_objects(london_backend[0], tok, "spm")
    prompt = backend.encode("John lives in")
    assert backend._new_text(prompt, [tok.convert_tokens_to_ids("▁London")]) == " London"
    assert backend._new_text(prompt, []) == ""
