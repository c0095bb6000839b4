"""A distilled student (token classifier, :class:`fewner.distill.student.Student`) as a predictor.

Fixed labels (its classification head); saved as the student's own files in ``student/`` next
to the manifest. A student folder written before manifests (``student.json`` only) still loads
through :func:`fewner.load`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fewner.predictors.base import Predictions, Predictor
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
