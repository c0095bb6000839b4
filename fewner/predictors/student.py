"""A distilled student (token classifier, :class:`fewner.distill.student.Student`) as a predictor.

Fixed labels (its classification head); saved as the student's own files in ``student/`` next
to the manifest. Its window is what it was trained to read, ``max_length`` subwords (the encoder
truncates beyond, so longer sentences of a document are cut into chunks by
:meth:`StudentPredictor.window`, counted with its own tokenizer); ``window_words``, when set,
also limits a chunk's words. A student folder written before manifests (``student.json`` only) still loads
through :func:`fewner.load`.
"""

from __future__ import annotations

from bisect import bisect_right
from pathlib import Path
from typing import Any

from fewner.predictors.base import Predictions, Predictor
from fewner.text.windows import Window
from fewner.types import Sentence

__all__ = ["StudentPredictor"]

STUDENT_DIR = "student"


class StudentPredictor(Predictor):
    """Spans from a token classifier's BIO tags. ``quantize``: int8 dynamic quantization (CPU)."""

    kind = "student"
    open_labels = False
    batch_sentences = 64

    def __init__(self, student: Any, *, quantize: bool = False, source: str | None = None) -> None:
        super().__init__(student.types)
        self.student = student
        self.source = source
        if quantize:
            student.quantize()

    @classmethod
    def from_student_folder(cls, folder: str | Path, **overrides: Any) -> StudentPredictor:
        """A folder written by ``Student.save`` (``fewner distill RUN/student``)."""
        from fewner.distill.student import Student

        return cls(Student.load(folder), source=str(folder), **overrides)

    def _predict_batch(self, sentences: list[Sentence], labels: list[str]) -> Predictions:
        return Predictions(sentences=self.student.predict(sentences, self.batch_sentences))

    def window(self) -> Window | None:
        """``max_length`` subwords (or the encoder's positions, when fewer) less the special
        tokens, and one spare: a chunk's first word may take one more subword than it did
        inside the sentence. ``window_words``: also at most this many words."""
        length = self.student.max_length
        positions = getattr(self.student.model.config, "max_position_embeddings", None)
        if isinstance(positions, int) and positions > 0:
            length = min(length, positions)
        specials = self.student.tokenizer.num_special_tokens_to_add(pair=False)
        return Window(
            max(1, length - specials - 1), self.window_overlap, "subwords", self.window_words
        )

    def window_costs(self, sentences: list[Sentence]) -> list[list[int]]:
        """Subwords per word, from the student's tokenizer on the sentence text (as it encodes
        it, without truncation); a subword in the space before a word counts for that word."""
        if not sentences:
            return []
        encoded = self.student.tokenizer(
            [s.text for s in sentences], add_special_tokens=False, return_offsets_mapping=True,
            verbose=False,
        )
        out = []
        for sentence, offsets in zip(sentences, encoded["offset_mapping"], strict=True):
            starts = [t.start for t in sentence.tokens]
            costs = [0] * len(starts)
            for start, end in offsets:
                if end <= start or not costs:
                    continue
                word = max(0, bisect_right(starts, start) - 1)
                if start >= sentence.tokens[word].end and word + 1 < len(costs):
                    word += 1
                costs[word] += 1
            out.append(costs)
        return out

    def settings(self) -> dict[str, Any]:
        return {
            "encoder": getattr(self.student.model.config, "_name_or_path", None),
            "max_length": self.student.max_length,
            "quantized": self.student.quantized,
            "tag_labels": self.student.labels,
        }

    def _save_payload(self, folder: Path) -> dict[str, Any]:
        self.student.save(folder / STUDENT_DIR)
        return {"settings": {**self.settings(), "student": STUDENT_DIR}}

    @classmethod
    def _from_folder(cls, folder: Path, manifest: Any, **overrides: Any) -> StudentPredictor:
        return cls.from_student_folder(folder / manifest.settings.get("student", STUDENT_DIR), **overrides)


from fewner.predictors import PREDICTORS  # noqa: E402 - registered once the class exists

PREDICTORS.register(StudentPredictor.kind, StudentPredictor)
