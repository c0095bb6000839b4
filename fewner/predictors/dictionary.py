"""The support-set dictionary baseline as a predictor (:class:`fewner.baselines.dictionary.DictionaryMatcher`).

It knows exactly the labels of its support set (``open_labels = False``) and saves the support
set itself (``support.jsonl``), from which the lookup table is rebuilt on load.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fewner.baselines.dictionary import DictionaryMatcher
from fewner.predictors.base import Predictions, Predictor
from fewner.types import Sentence

__all__ = ["DictionaryPredictor"]

SUPPORT_FILE = "support.jsonl"


class DictionaryPredictor(Predictor):
    """Exact, case-insensitive lookup of the support set's mentions (longest first)."""

    kind = "dictionary"
    open_labels = False
    #: A lookup of whole tokens reads any length: sentences are never cut.
    window_words = None

    def __init__(self, support: Iterable[Sentence], labels: Sequence[str] | None = None) -> None:
        self.support = list(support)
        found = sorted({s.label for x in self.support for s in x.spans})
        super().__init__(labels if labels is not None else found)
        self.matcher = DictionaryMatcher(self.support, self.labels)

    def _predict_batch(self, sentences: list[Sentence], labels: list[str]) -> Predictions:
        return Predictions(sentences=[self.matcher.predict(s) for s in sentences])

    def settings(self) -> dict[str, Any]:
        return {"support_sentences": len(self.support), "entries": len(self.matcher.lexicon)}

    def _save_payload(self, folder: Path) -> dict[str, Any]:
        from fewner.data.formats.jsonl import write_jsonl

        write_jsonl(self.support, folder / SUPPORT_FILE)
        return {"settings": {**self.settings(), "support": SUPPORT_FILE}}

    @classmethod
    def _from_folder(cls, folder: Path, manifest: Any, **overrides: Any) -> DictionaryPredictor:
        from fewner.data.io import read_corpus

        support = read_corpus(folder / manifest.settings.get("support", SUPPORT_FILE), format="jsonl")
        return cls(support.sentences, manifest.labels)


from fewner.predictors import PREDICTORS  # noqa: E402 - registered once the class exists

PREDICTORS.register(DictionaryPredictor.kind, DictionaryPredictor)
