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
from tests.tiny_models import LLAMA_CORPUS, fast_tokenizer, metaspace_bpe, random_llama  # noqa: E402


@pytest.fixture(scope="module")
def spm_tokenizer():  # type: ignore[no-untyped-def]
    return fast_tokenizer(metaspace_bpe(LLAMA_CORPUS * 4, 300))


@pytest.fixture(scope="module")
def london_backend(spm_tokenizer):  # type: ignore[no-untyped-def]
    """A tiny Llama whose output layer always prefers ``▁London``."""
    tok = spm_tokenizer
    model = random_llama(tok, seed=0)
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
