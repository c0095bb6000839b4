"""Character spans <-> subword labels (fewner.distill.align) on a tiny WordPiece tokenizer."""

from __future__ import annotations

import random

import pytest

from fewner.data.tokenize import sentence_from_text
from fewner.distill.align import IGNORE, bio_labels, decode_words, encode_batch, word_tags
from fewner.types import Sentence
from tests.unit.distill_tiny import tiny_encoder, tiny_sentences

TYPES = ["PER", "LOC", "ORG", "MISC"]
LABELS = bio_labels(TYPES)
L2I = {lab: i for i, lab in enumerate(LABELS)}
I2L = dict(enumerate(LABELS))


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_encoder(tmp_path_factory.mktemp("enc")))


def test_label_set():
    assert LABELS == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]


def test_labels_sit_on_the_first_subword_of_each_word(tokenizer):
    sentences = tiny_sentences()
    encoded = encode_batch(tokenizer, sentences, L2I, max_length=64)
    for sentence, enc in zip(sentences, encoded, strict=True):
        offsets = tokenizer(sentence.text, return_offsets_mapping=True)["offset_mapping"]
        tags = word_tags(sentence)
        assert all(i >= 0 for i in enc.word_first)
        for w, i in enumerate(enc.word_first):
            token = sentence.tokens[w]
            assert token.start <= offsets[i][0] < token.end  # the subword starts in the word
            assert enc.labels[i] == L2I[tags[w]]
        labelled = [i for i, lab in enumerate(enc.labels) if lab != IGNORE]
        assert labelled == sorted(enc.word_first)  # nothing else carries a label


def test_multi_subword_words_and_accents(tokenizer):
    s = tiny_sentences()[2]  # Zürich and São Paulo ... (lower-cased, accents stripped)
    enc = encode_batch(tokenizer, [s], L2I)[0]
    assert len(enc.input_ids) > len(s.tokens) + 2  # some word took several subwords
    gold_ids = [L2I[t] for t in word_tags(s)]
    fake = [0] * len(enc.input_ids)
    for w, i in enumerate(enc.word_first):
        fake[i] = gold_ids[w]
    assert decode_words(s, enc, fake, I2L).spans == s.spans


def test_round_trip_through_gold_labels(tokenizer):
    sentences = tiny_sentences() + [
        sentence_from_text("Peter reports from Brussels, Germany.", "raw").with_spans(())
    ]
    for s, enc in zip(sentences, encode_batch(tokenizer, sentences, L2I), strict=True):
        # predicted ids = the gold labels where there are labels, junk elsewhere
        pred = [lab if lab != IGNORE else L2I["I-MISC"] for lab in enc.labels]
        assert decode_words(s, enc, pred, I2L).spans == s.spans


def test_truncation_leaves_words_unlabelled_and_predicted_o(tokenizer):
    s = tiny_sentences()[4]
    enc = encode_batch(tokenizer, [s], L2I, max_length=6)[0]
    assert enc.unlabelled_words > 0 and len(enc.input_ids) == 6
    everything_b_per = [L2I["B-PER"]] * len(enc.input_ids)
    spans = decode_words(s, enc, everything_b_per, I2L).spans
    covered = {w for w, i in enumerate(enc.word_first) if i >= 0}
    assert len(spans) == len(covered)  # one single-word span per reachable word, none beyond


def test_decoding_agrees_with_seqeval(tokenizer):
    """Random (often invalid) word tag sequences decode to seqeval's entities (default mode)."""
    from seqeval.metrics.sequence_labeling import get_entities

    rng = random.Random(0)
    words = "a b c d e f g h".split()
    sentence = Sentence.from_words(words, id="r")
    enc = encode_batch(tokenizer, [sentence], None)[0]
    assert all(i >= 0 for i in enc.word_first)
    for _ in range(400):
        tags = [rng.choice(LABELS) for _ in words]
        pred = [0] * len(enc.input_ids)
        for w, i in enumerate(enc.word_first):
            pred[i] = L2I[tags[w]]
        got = decode_words(sentence, enc, pred, I2L).spans
        want = sorted(
            sentence.token_span_to_char(a, b + 1, lab) for lab, a, b in get_entities(tags)
        )
        assert list(got) == want, tags
