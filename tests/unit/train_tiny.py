"""Test support for the training tests: a tiny random Llama whose tokenizer covers every byte.

The contract suite's ``tiny_llama`` tokenizer knows only the characters of its small corpus and
silently drops others (``#``, ``Z``, ``ü``), which would hide the prompt text that the training
masks point into. This one starts from the full byte-level alphabet and learns merges from the
shipped prompt templates, so prompts stay short (fast tests) and every character is encoded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fewner.types import Sentence

# mini_sentences() as a CoNLL file: what the training-run tests train and test on
MINI_CONLL = """EU B-ORG
rejects O
German B-MISC
call O
. O

Peter B-PER
Blackburn I-PER

Zürich B-LOC
vs O
São B-LOC
Paulo I-LOC
in O
Brazil B-LOC

The O
talks O
ended O
. O
"""


def _corpus() -> list[str]:
    from fewner.prompts import ExtractionFormat

    texts = []
    for template in ("obp-llm", "cllmfs"):
        fmt = ExtractionFormat(template, "conll2003")
        for sentence in mini_sentences():
            for t in ("PER", "LOC", "ORG", "MISC"):
                texts.append(fmt.prompt(sentence, t) + fmt.target(sentence, t))
    return texts


def tiny_causal_lm(folder: Path, seed: int = 0) -> Path:
    """Save a random 2-layer Llama (hidden 32) and a byte-level BPE tokenizer into ``folder``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    if (folder / "config.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_corpus() * 2, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    fast.save_pretrained(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        initializer_range=0.1,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def mini_sentences() -> list[Sentence]:
    """Four CoNLL-style sentences with PER/LOC/ORG/MISC mentions (the first is mini.conll's)."""
    return [
        Sentence.from_words(
            ["EU", "rejects", "German", "call", "."], [(0, 1, "ORG"), (2, 3, "MISC")], id="s0"
        ),
        Sentence.from_words(["Peter", "Blackburn"], [(0, 2, "PER")], id="s1"),
        Sentence.from_words(
            ["Zürich", "vs", "São", "Paulo", "in", "Brazil"],
            [(0, 1, "LOC"), (2, 4, "LOC"), (5, 6, "LOC")],
            id="s2",
        ),
        Sentence.from_words(["The", "talks", "ended", "."], [], id="s3"),
    ]


def write_train_config(
    tmp_path: Path, model_dir: Path, stages: dict[str, Any], **top: Any
) -> Path:
    """``tmp_path/config.yaml``: a training run of the tiny model at ``model_dir`` over
    :data:`MINI_CONLL` (written to ``tmp_path/data/mini.conll``, the ``data_root``) with these
    ``stages`` and any other top-level keys (``test``, ``lora``, ...)."""
    import yaml

    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "mini.conll").write_text(MINI_CONLL, encoding="utf-8")
    config = {
        "model": str(model_dir),
        "template": "obp-llm",
        "definitions": "conll2003",
        "data_root": str(data),
        "seed": 1,
        "stages": stages,
        **top,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")  # stage order
    return path
