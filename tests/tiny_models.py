"""Tiny random models for the tests, built in memory and saved to folders.

Each builder saves a random model and a tokenizer trained (or laid out) in memory, so it loads
through the same ``from_pretrained`` path as a real checkpoint, in well under a second:

* :func:`tiny_llama`: the backend contract suite's Llama; its byte-level BPE knows only the
  characters of :data:`LLAMA_CORPUS` (keep test prompts to them), so any token sequence decodes
  to whole characters and prefixes of outputs stay prefixes;
* :func:`tiny_causal_lm`: the training tests' Llama; its byte-level BPE starts from the full
  byte alphabet (every character is encoded, none silently dropped) and learns its merges from
  the shipped prompt templates over :func:`mini_sentences`, so prompts stay short;
* :func:`tiny_encoder`: the distillation tests' BERT with a fixed lower-casing WordPiece
  vocabulary (loaded as the student loads MiniLM: a ``BertModel`` that gets a new head).

The pieces they share (:func:`byte_level_bpe`, :func:`metaspace_bpe`, :func:`fast_tokenizer`,
:func:`llama_config`, :func:`random_llama`) are public for tests that build a variant in memory.
A builder's output depends only on its arguments (fixed seeds and configs): tests assert exact
outputs of these models, so change a builder only together with those tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fewner.types import Sentence

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

LLAMA_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Barack Obama visited Paris and Berlin in 2009.",
    "Apple and Google are companies in California.",
    "Entities: person, location, organization, miscellaneous.",
    "Text: John lives in London. Answer: John | London",
    "<<< mention >>> and more words, numbers 0123456789 and punctuation: ;,.!?-()[]",
]

ENCODER_CORPUS = [
    "EU rejects German call to boycott British lamb .",
    "Peter Blackburn reports from Brussels for Reuters .",
    "Zürich and São Paulo are cities ; Brazil is a country .",
    "The talks ended without a deal , said Werner Zwingmann .",
    "Nadim Ladki writes for the European Commission in Germany .",
    "unbelievably long words get split into several pieces",
]

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>")

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


# ----- shared pieces -------------------------------------------------------------------------
def byte_level_bpe(
    texts: Sequence[str],
    vocab_size: int,
    special_tokens: Sequence[str] = SPECIAL_TOKENS,
    *,
    full_alphabet: bool = True,
) -> Tokenizer:
    """A GPT-2-style byte-level BPE trained on ``texts``. ``full_alphabet``: start from all 256
    byte symbols (every text encodes); else only from the bytes of ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    alphabet = {"initial_alphabet": pre_tokenizers.ByteLevel.alphabet()} if full_alphabet else {}
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        show_progress=False,
        **alphabet,
    )
    tok.train_from_iterator(list(texts), trainer)
    return tok


def metaspace_bpe(
    texts: Sequence[str], vocab_size: int, special_tokens: Sequence[str] = SPECIAL_TOKENS
) -> Tokenizer:
    """A SentencePiece-style (Llama-2 / Gemma) BPE trained on ``texts``: ``▁`` marks spaces and
    is prepended to the first word only."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(special_tokens), show_progress=False
    )
    tok.train_from_iterator(list(texts), trainer)
    return tok


def fast_tokenizer(
    tok: Tokenizer,
    *,
    bos: str | None = "<s>",
    eos: str | None = "</s>",
    pad: str | None = "<pad>",
) -> PreTrainedTokenizerFast:
    """``tok`` as a transformers tokenizer with these special tokens (None: the tokenizer has
    no such token)."""
    from transformers import PreTrainedTokenizerFast

    named = {"bos_token": bos, "eos_token": eos, "pad_token": pad}
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, **{k: v for k, v in named.items() if v is not None}
    )


def llama_config(tokenizer: PreTrainedTokenizerFast, **overrides: Any) -> LlamaConfig:
    """A 2-layer Llama (hidden 32, 4 heads, 2 key/value heads) sized to ``tokenizer``, with its
    bos/eos/pad ids; ``overrides`` set any other field (``initializer_range``,
    ``max_position_embeddings``, ...)."""
    from transformers import LlamaConfig

    fields: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    return LlamaConfig(**{**fields, **overrides})


def random_llama(
    tokenizer: PreTrainedTokenizerFast, seed: int = 0, **overrides: Any
) -> LlamaForCausalLM:
    """A random :func:`llama_config` model, its weights drawn after ``torch.manual_seed(seed)``."""
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    return LlamaForCausalLM(llama_config(tokenizer, **overrides))


def _built(folder: Path) -> bool:
    """Whether ``folder`` already holds a saved model (builders then return it as is)."""
    if (folder / "config.json").is_file():
        return True
    folder.mkdir(parents=True, exist_ok=True)
    return False


# ----- causal LMs ----------------------------------------------------------------------------
def tiny_llama(folder: Path, seed: int = 0) -> Path:
    """Save the contract suite's random Llama and its :data:`LLAMA_CORPUS` tokenizer (with a
    minimal chat template) into ``folder``.

    ``initializer_range`` is large so the random logits have clear winners: greedy comparisons
    between batched and single runs then test padding, not float ties.
    """
    if _built(folder):
        return folder
    # Alphabet from the (ASCII) corpus only: every token decodes to whole characters.
    fast = fast_tokenizer(byte_level_bpe(LLAMA_CORPUS * 4, 400, full_alphabet=False))
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)
    model = random_llama(fast, seed, max_position_embeddings=256, initializer_range=0.3)
    model.save_pretrained(folder)
    return folder


def tiny_causal_lm(folder: Path, seed: int = 0) -> Path:
    """Save the training tests' random Llama and a full-byte-alphabet BPE tokenizer whose merges
    come from the obp-llm and cllmfs prompts over :func:`mini_sentences` into ``folder``."""
    if _built(folder):
        return folder
    fast = fast_tokenizer(byte_level_bpe(_prompt_corpus() * 2, 600))
    fast.save_pretrained(folder)
    model = random_llama(fast, seed, max_position_embeddings=512, initializer_range=0.1)
    model.save_pretrained(folder)
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


def _prompt_corpus() -> list[str]:
    from fewner.prompts import ExtractionFormat

    texts = []
    for template in ("obp-llm", "cllmfs"):
        fmt = ExtractionFormat(template, "conll2003")
        for sentence in mini_sentences():
            for t in ("PER", "LOC", "ORG", "MISC"):
                texts.append(fmt.prompt(sentence, t) + fmt.target(sentence, t))
    return texts


# ----- encoder -------------------------------------------------------------------------------
def tiny_encoder(folder: Path, seed: int = 0) -> Path:
    """Save a random 2-layer BERT (hidden 32) and a lower-casing WordPiece tokenizer."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, BertTokenizerFast

    if _built(folder):
        return folder
    # A fixed vocabulary, not a trained one: the tokenizers trainer breaks ties between equally
    # frequent merges differently from run to run, which made the tiny student's results (and a
    # test asserting them) vary between runs. Short words are whole tokens; longer words split into
    # character pieces, so multi-subword words exist.
    normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words: set[str] = set()
    for line in ENCODER_CORPUS:
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
