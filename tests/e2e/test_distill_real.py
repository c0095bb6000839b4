"""The distillation student on the real MiniLM-L6 encoder and real CoNLL-2003 sentences.

The alignment test needs only the real tokenizer (fast, not slow); the training test is
``slow``: a few epochs on 300 sentences (about a minute on 2 cores).
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from fewner.distill.align import bio_labels, decode_words, encode_batch  # noqa: E402
from fewner.errors import ModelNotAvailableError  # noqa: E402

TYPES = ["PER", "LOC", "ORG", "MISC"]


@pytest.fixture(scope="module")
def minilm():
    from fewner.models import hf_path

    try:
        return hf_path("minilm-l6")
    except ModelNotAvailableError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def conll(shared_data):
    from fewner.data.io import read_corpus

    return {
        split: read_corpus(shared_data / "conll2003" / f"{split}.txt").sentences
        for split in ("train", "test")
    }


def test_gold_spans_survive_the_real_tokenizer(minilm, conll):
    """Encode CoNLL test gold, decode the same label ids: identical spans on every sentence
    that fits in 128 subwords (accents, all-caps headlines and numbers included)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm)
    labels = bio_labels(TYPES)
    l2i = {lab: i for i, lab in enumerate(labels)}
    sentences = conll["test"]
    encoded = encode_batch(tokenizer, sentences, l2i, max_length=128)
    checked = 0
    for sentence, enc in zip(sentences, encoded, strict=True):
        if enc.unlabelled_words:
            continue
        predicted = [lab if lab >= 0 else 0 for lab in enc.labels]
        assert (
            decode_words(sentence, enc, predicted, dict(enumerate(labels))).spans == sentence.spans
        )
        checked += 1
    assert checked >= len(sentences) - 5  # only over-long sentences may be cut


@pytest.mark.slow
def test_minilm_student_learns_conll(minilm, conll, tmp_path):
    import torch

    from fewner.distill.schedules import make_schedule
    from fewner.distill.student import Student
    from fewner.distill.trainer import TrainSettings, train_student
    from fewner.eval.metrics import score

    torch.manual_seed(0)
    student = Student.build("minilm-l6", TYPES)
    test = conll["test"][:300]
    before = score(test, student.predict(test, 64)).micro.f1
    settings = TrainSettings(epochs=3, batch_size=16, lr=2e-4, checkpoint=False)
    train_student(student, [], conll["train"][:300], make_schedule("original"), settings, tmp_path)
    after = score(test, student.predict(test, 64)).micro.f1
    assert after > 0.3 and after > before + 0.2, (before, after)
    student.save(tmp_path / "student")
    loaded = Student.load(tmp_path / "student")
    assert score(test, loaded.predict(test, 64)).micro.f1 == after
