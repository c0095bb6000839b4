"""Test support for the distillation tests: five labelled sentences (:func:`tiny_sentences`).

The tiny random BERT encoder (:func:`tiny_encoder`) lives in :mod:`tests.tiny_models` with the
other tiny-model builders; it is re-exported here for the tests that import it from this module.
"""

from __future__ import annotations

from fewner.types import Sentence
from tests.tiny_models import tiny_encoder

__all__ = ["tiny_encoder", "tiny_sentences"]


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
