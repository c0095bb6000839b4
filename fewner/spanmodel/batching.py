"""Words, candidate spans and label names to tensors.

A sentence is a list of words (fewner tokens); the encoder sees their subwords, and each word is
represented by its first subword. A candidate span is ``(start word, width - 1)``: the tensors are
laid out ``[batch, start, width]`` so every span of up to ``max_width`` words is scored in one
pass. Labels are short texts (a label's name, or a name the caller chose for it) encoded by the
same encoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = [
    "LabelBatch", "WordBatch", "WordRow", "encode_labels", "encode_words", "label_text", "pack_rows",
    "span_targets", "tokenize_words",
]


def label_text(label: str) -> str:
    """The text a label is encoded as when the caller gives none: ``_`` and ``-`` become spaces
    (``creative-work`` -> ``creative work``, ``Gene_or_gene_product`` -> ``Gene or gene product``)."""
    return " ".join(label.replace("_", " ").replace("-", " ").split())


@dataclass
class WordBatch:
    """Subword ids of a batch of sentences and where each word's first subword is.

    ``word_index[b, i]``: position of word ``i``'s first subword (0 for padding words);
    ``word_mask[b, i]``: word ``i`` exists and fits the window; ``kept[b]``: words that fit
    (the rest did not fit ``max_subwords`` and must be predicted in another window)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    word_index: torch.Tensor
    word_mask: torch.Tensor
    kept: list[int]

    def to(self, device: torch.device | str) -> WordBatch:
        """The same batch on ``device``."""
        return WordBatch(self.input_ids.to(device), self.attention_mask.to(device),
                         self.word_index.to(device), self.word_mask.to(device), self.kept)


@dataclass
class WordRow:
    """One tokenized sentence: subword ids (specials included, cut to the window), the position
    of each kept word's first subword, and how many words were kept."""

    ids: list[int]
    positions: list[int]
    kept: int


def tokenize_words(tokenizer, words: Sequence[Sequence[str]], max_subwords: int) -> list[WordRow]:
    """Tokenize pre-split sentences in one call of a fast tokenizer (it reports each subword's
    word). A sentence whose subwords do not fit ``max_subwords`` keeps its first words whose
    subwords all fit (``kept``), then the tokenizer's closing special tokens: never a word cut
    in two."""
    if not words:
        return []
    enc = tokenizer([list(s) or [""] for s in words], is_split_into_words=True, truncation=False)
    return [
        _row(enc["input_ids"][b], enc.word_ids(b), len(sentence), max_subwords)
        for b, sentence in enumerate(words)
    ]


def _row(ids: list[int], wids: list[int | None], n_words: int, max_subwords: int) -> WordRow:
    tail = 0
    while tail < len(wids) and wids[len(wids) - 1 - tail] is None:
        tail += 1
    budget = max_subwords - tail
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for pos, wid in enumerate(wids):
        if wid is not None:
            first.setdefault(wid, pos)
            last[wid] = pos
    count, prev = 0, 0
    positions: list[int] = []
    for i in range(n_words):
        if last.get(i, prev) >= budget:
            break
        prev = first.get(i, prev)  # a word with no subwords borrows the previous position
        positions.append(prev)
        count += 1
    if count == n_words:
        cut = len(wids) - tail
    else:  # up to the last subword of the last word kept (leading specials when none)
        lead = next((pos for pos, wid in enumerate(wids) if wid is not None), 0)
        cut = max((last[i] + 1 for i in range(count) if i in last), default=lead)
    return WordRow(list(ids[:cut]) + list(ids[len(ids) - tail :]), positions, count)


def pack_rows(rows: Sequence[WordRow], pad_id: int | None) -> WordBatch:
    """Pad tokenized sentences into one batch (as long as its longest row: sort rows by length
    before packing to keep padding small)."""
    width = max((len(r.ids) for r in rows), default=1)
    n_max = max([len(r.positions) for r in rows] + [1])
    pad = pad_id if pad_id is not None else 0
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention = torch.zeros(len(rows), width, dtype=torch.long)
    word_index = torch.zeros(len(rows), n_max, dtype=torch.long)
    word_mask = torch.zeros(len(rows), n_max, dtype=torch.bool)
    for b, row in enumerate(rows):
        input_ids[b, : len(row.ids)] = torch.tensor(row.ids)
        attention[b, : len(row.ids)] = 1
        if row.positions:
            word_index[b, : len(row.positions)] = torch.tensor(row.positions)
            word_mask[b, : len(row.positions)] = True
    return WordBatch(input_ids, attention, word_index, word_mask, [r.kept for r in rows])


def encode_words(tokenizer, words: Sequence[Sequence[str]], max_subwords: int) -> WordBatch:
    """:func:`tokenize_words` then :func:`pack_rows`, in the given order."""
    return pack_rows(tokenize_words(tokenizer, words, max_subwords), tokenizer.pad_token_id)


@dataclass
class LabelBatch:
    """Subword ids of label texts (one row per distinct text)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor

    def to(self, device: torch.device | str) -> LabelBatch:
        return LabelBatch(self.input_ids.to(device), self.attention_mask.to(device))


def encode_labels(tokenizer, texts: Sequence[str], max_subwords: int = 64) -> LabelBatch:
    enc = tokenizer(
        list(texts), truncation=True, max_length=max_subwords, padding=True, return_tensors="pt"
    )
    return LabelBatch(enc["input_ids"], enc["attention_mask"])


def span_mask(word_mask: torch.Tensor, max_width: int) -> torch.Tensor:
    """``[batch, start, width]``: True where the span's last word exists."""
    batch, n = word_mask.shape
    out = torch.zeros(batch, n, max_width, dtype=torch.bool, device=word_mask.device)
    for k in range(max_width):
        if k < n:
            out[:, : n - k, k] = word_mask[:, k:]
    return out


def span_targets(
    spans: Sequence[Sequence[tuple[int, int, int]]], n_words: int, max_width: int, n_labels: int
) -> torch.Tensor:
    """``[batch, start, width, label]`` 0/1 targets from ``(first word, last word exclusive,
    label column)`` triples; spans wider than ``max_width`` cannot be represented and are left
    out (the caller counts them)."""
    out = torch.zeros(len(spans), max(n_words, 1), max_width, n_labels)
    for b, triples in enumerate(spans):
        for start, end, col in triples:
            width = end - start - 1
            if 0 <= width < max_width and end <= n_words:
                out[b, start, width, col] = 1.0
    return out
