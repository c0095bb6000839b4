"""Character spans <-> subword labels for a token-classification student.

Why labels go on the *first subword of each word* (and ``-100``, i.e. no loss, on the rest):
CoNLL-style data and its evaluation are word-level, and a prediction read from one subword per
word can never start or end inside a word, so decoded spans always fall on the sentence's token
boundaries. Words come from :attr:`Sentence.tokens` (the data's own tokens; raw text is
tokenized by :func:`fewner.data.tokenize.tokenize`), subwords from the fast tokenizer's offset
mapping on the sentence *text*, so the encoder sees the text as written and every subword knows
its characters:

* encoding: gold spans -> word BIO tags (:func:`fewner.data.schemes.spans_to_tags`) -> the tag
  id of each word on the subword where the word starts (the first subword whose first character
  lies in the word);
* decoding: argmax label of each word's first subword -> word BIO tags -> spans, invalid
  sequences repaired as conlleval does (``I-X`` after ``O`` starts a mention) -> character spans
  with offsets. A word with no subword of its own (cut off by ``max_length``, or absorbed into a
  subword that started in the previous word) is ``O`` and counted in ``unlabelled_words``.

No model here, only a tokenizer: alignment is tested without torch weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fewner.data.schemes import OUTSIDE, spans_to_tags, tags_to_spans
from fewner.types import Sentence

__all__ = ["IGNORE", "Encoded", "bio_labels", "decode_words", "encode_batch", "word_tags"]

IGNORE = -100  # label id that the cross-entropy loss skips


def bio_labels(types: Sequence[str]) -> list[str]:
    """``["O", "B-T1", "I-T1", "B-T2", ...]``: the student's label set for ``types``."""
    labels = [OUTSIDE]
    for t in types:
        labels += [f"B-{t}", f"I-{t}"]
    return labels


@dataclass
class Encoded:
    """One sentence as model input: subword ids, per-subword labels, and which subword starts
    each word (``-1``: the word has none)."""

    input_ids: list[int]
    labels: list[int]
    word_first: list[int]

    @property
    def unlabelled_words(self) -> int:
        return sum(1 for i in self.word_first if i < 0)


def word_tags(sentence: Sentence) -> list[str]:
    """BIO tag per word of ``sentence`` (its spans must fall on token boundaries)."""
    return spans_to_tags(sentence.token_spans(), len(sentence.tokens), "bio")


def _word_first(sentence: Sentence, offsets: Sequence[tuple[int, int]]) -> list[int]:
    owner = [-1] * len(sentence.text)
    for w, tok in enumerate(sentence.tokens):
        owner[tok.start : tok.end] = [w] * (tok.end - tok.start)
    first = [-1] * len(sentence.tokens)
    for i, (start, end) in enumerate(offsets):
        if end <= start:  # special tokens ([CLS], [SEP]) have empty offsets
            continue
        w = next((owner[c] for c in range(start, end) if owner[c] >= 0), -1)
        if w >= 0 and first[w] < 0:
            first[w] = i
    return first


def encode_batch(
    tokenizer: object,
    sentences: Sequence[Sentence],
    label2id: dict[str, int] | None,
    max_length: int = 128,
) -> list[Encoded]:
    """Tokenize ``sentences`` in one call and align labels (``label2id=None``: no labels).

    Spans with a label outside ``label2id`` are treated as ``O`` (the caller decides the types).
    """
    if not sentences:
        return []
    enc = tokenizer(  # type: ignore[operator]
        [s.text for s in sentences],
        return_offsets_mapping=True,
        truncation=True,
        max_length=max_length,
    )
    out: list[Encoded] = []
    for k, sentence in enumerate(sentences):
        ids = enc["input_ids"][k]
        first = _word_first(sentence, enc["offset_mapping"][k])
        labels = [IGNORE] * len(ids)
        if label2id is not None:
            tags = word_tags(sentence)
            for w, i in enumerate(first):
                if i >= 0:
                    labels[i] = label2id.get(tags[w], label2id[OUTSIDE])
        out.append(Encoded(list(ids), labels, first))
    return out


def decode_words(
    sentence: Sentence, encoded: Encoded, subword_labels: Sequence[int], id2label: dict[int, str]
) -> Sentence:
    """``sentence`` with the spans that the predicted subword label ids describe."""
    tags = [id2label[int(subword_labels[i])] if i >= 0 else OUTSIDE for i in encoded.word_first]
    token_spans, _repairs = tags_to_spans(tags, "bio", "repair")
    return sentence.with_spans(sentence.token_span_to_char(a, b, lab) for a, b, lab in token_spans)
