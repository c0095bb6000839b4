"""Test support for the distillation tests: a tiny random BERT encoder and a WordPiece tokenizer
trained in memory, saved to a folder so the student loads it through ``from_pretrained`` exactly
as it loads the real MiniLM (a ``BertModel`` checkpoint that gets a new token-classification
head)."""

from __future__ import annotations

from pathlib import Path

from fewner.types import Sentence

CORPUS = [
    "EU rejects German call to boycott British lamb .",
    "Peter Blackburn reports from Brussels for Reuters .",
    "Zürich and São Paulo are cities ; Brazil is a country .",
    "The talks ended without a deal , said Werner Zwingmann .",
    "Nadim Ladki writes for the European Commission in Germany .",
    "unbelievably long words get split into several pieces",
]


def tiny_sentences() -> list[Sentence]:
    """Five CoNLL-style sentences with PER/LOC/ORG/MISC mentions (one has none)."""
    return [
        Sentence.from_words(
            "EU rejects German call to boycott British lamb .".split(),
            [(0, 1, "ORG"), (2, 3, "MISC"), (6, 7, "MISC")],
            id="t0",
        ),
        Sentence.from_words(
            "Peter Blackburn reports from Brussels for Reuters .".split(),
            [(0, 2, "PER"), (4, 5, "LOC"), (6, 7, "ORG")],
            id="t1",
        ),
        Sentence.from_words(
            "Zürich and São Paulo are cities ; Brazil is a country .".split(),
            [(0, 1, "LOC"), (2, 4, "LOC"), (7, 8, "LOC")],
            id="t2",
        ),
        Sentence.from_words("The talks ended without a deal .".split(), [], id="t3"),
        Sentence.from_words(
            "Nadim Ladki writes for the European Commission in Germany .".split(),
            [(0, 2, "PER"), (5, 7, "ORG"), (8, 9, "LOC")],
            id="t4",
        ),
    ]


def tiny_encoder(folder: Path, seed: int = 0) -> Path:
    """Save a random 2-layer BERT (hidden 32) and a lower-casing WordPiece tokenizer."""
    import torch
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )
    from transformers import BertConfig, BertModel, BertTokenizerFast

    if (folder / "config.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    # A fixed vocabulary, not a trained one: the tokenizers trainer breaks ties between equally
    # frequent merges differently from run to run, which made the tiny student's results (and a
    # test asserting them) vary between runs. Short words are whole tokens; longer words split into
    # character pieces, so multi-subword words exist.
    normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words: set[str] = set()
    for line in CORPUS:
        text = normalizer.normalize_str(line)
        words.update(w for w, _ in pre_tokenizer.pre_tokenize_str(text))
    chars = sorted({c for w in words for c in w})
    vocab_list = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    whole = sorted(w for w in words if len(w) <= 5)  # longer words split into pieces
    vocab_list += whole + [c for c in chars if c not in whole] + [f"##{c}" for c in chars]
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab_list)}, unk_token="[UNK]"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.WordPiece()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    fast = BertTokenizerFast(tokenizer_object=tok, do_lower_case=True)
    fast.save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(fast),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        pad_token_id=fast.pad_token_id,
    )
    BertModel(config).save_pretrained(folder)
    return folder
