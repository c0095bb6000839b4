"""The span model as a predictor (kind ``span``): any labels, given at call time.

Labels are read by their names: ``label_names`` maps a label to the text the encoder reads
(``{"PER": "person"}``); a label without one is read as its name with ``_``/``-`` as spaces.
A sentence longer than ``window_words`` words (or whose subwords overflow the encoder window) is
predicted in overlapping windows and the windows' spans are decoded again together, so a mention
cut by one window's edge is taken whole from the next; ``stats`` counts the windows.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from fewner.errors import ConfigError
from fewner.predictors.base import Predictions, Predictor
from fewner.types import Sentence

__all__ = ["SpanPredictor"]

MODEL_DIR = "span"


class SpanPredictor(Predictor):
    """Spans scored against label vectors (:mod:`fewner.spanmodel`). ``threshold``: the lowest
    probability kept; ``nested``: allow spans inside spans (never crossing); ``precision``:
    ``float32``, ``bfloat16`` or ``int8`` (``quantize=True`` means ``int8``; CPU only);
    ``device``: where the network runs (``cpu``, ``cuda``, ``cuda:N``, ``auto``; default: where
    the model is, the CPU for a loaded folder).

    ``batch_sentences`` sentences reach the model at once; it sorts their windows by length and
    runs them ``forward_batch`` at a time, so a larger ``batch_sentences`` means less padding."""

    kind = "span"
    open_labels = True
    batch_sentences = 1024
    forward_batch = 32
    window_words = 120
    window_overlap = 24
    save_delta_rank: int | None = None
    """When set, :meth:`save` stores the encoder as a rank-r difference from its catalogue base
    (:mod:`fewner.spanmodel.delta`): how the shipped model is packed."""

    def __init__(
        self,
        model: Any,
        labels: list[str] | tuple[str, ...] = (),
        *,
        threshold: float = 0.5,
        nested: bool = False,
        label_names: dict[str, str] | None = None,
        quantize: bool = False,
        precision: str | None = None,
        device: str | None = None,
        training: dict[str, Any] | None = None,
        notes: list[str] | None = None,
    ) -> None:
        super().__init__(labels)
        if not 0.0 < threshold < 1.0:
            raise ConfigError(f"threshold must be in (0, 1), got {threshold}")
        self.model = model
        self.threshold = float(threshold)
        self.nested = bool(nested)
        self.label_names = dict(label_names or {})
        self.training = training
        self.notes = list(notes or [])
        if quantize and precision not in (None, "int8"):
            raise ConfigError(f"quantize=True means precision int8, not {precision!r}")
        model.set_precision(precision or ("int8" if quantize else "float32"))
        if device is not None:
            model.to(device)

    # ----- prediction --------------------------------------------------------------------------
    def label_text(self, label: str) -> str:
        from fewner.spanmodel.batching import label_text

        return self.label_names.get(label) or label_text(label)

    def _predict_batch(self, sentences: list[Sentence], labels: list[str]) -> Predictions:
        texts = [self.label_text(label) for label in labels]
        stats: Counter[str] = Counter()
        pieces: list[tuple[int, int, list[str]]] = []  # (sentence index, first word, words)
        for i, sentence in enumerate(sentences):
            for lo, hi in _windows(len(sentence.tokens), self.window_words, self.window_overlap):
                pieces.append((i, lo, sentence.words[lo:hi]))
            if len(sentence.tokens) > self.window_words:
                stats["sentences split into windows"] += 1
        found = self._predict_pieces(pieces, texts, stats)
        result = Predictions(stats=stats)
        for i, sentence in enumerate(sentences):
            spans = _merge(found.get(i, []), self.nested)
            out = [sentence.token_span_to_char(a, b, labels[col]) for a, b, col, _ in spans]
            result.sentences.append(sentence.with_spans(out))
            result.scores[sentence.id] = {
                (s.start, s.end, s.label): round(p, 6) for s, (_, _, _, p) in zip(out, spans, strict=True)
            }
        return result

    def _predict_pieces(self, pieces, texts, stats) -> dict[int, list[tuple[int, int, int, float]]]:
        found: dict[int, list[tuple[int, int, int, float]]] = {}
        todo = [p for p in pieces if p[2]]
        while todo:
            spans, kept = self.model.predict_words(
                [w for _, _, w in todo], texts, threshold=self.threshold, nested=self.nested,
                batch_size=self.forward_batch,
            )
            again = []
            for (i, lo, words), hits, fit in zip(todo, spans, kept, strict=True):
                stats["windows"] += 1
                if fit < len(words):  # subwords overflowed the encoder: halve the piece
                    stats["windows split for the encoder"] += 1
                    half = max(1, len(words) // 2)
                    if half == len(words):  # one word longer than the whole window
                        stats["words too long for the encoder"] += 1
                        continue
                    step = max(1, half - min(self.window_overlap, half // 4))
                    for start in range(0, len(words), step):
                        again.append((i, lo + start, words[start : start + half]))
                        if start + half >= len(words):
                            break
                    continue
                found.setdefault(i, []).extend((lo + a, lo + b, col, p) for a, b, col, p in hits)
            todo = again
        return found

    # ----- saving ------------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "nested": self.nested,
            "label_names": self.label_names,
            "window_words": self.window_words,
            "precision": self.model.precision,
            "device": str(self.model.device),
            "model": self.model.config.to_dict(),
        }

    def _save_payload(self, folder: Path) -> dict[str, Any]:
        from fewner.models.catalogue import base_model_record

        self.model.save(folder / MODEL_DIR, delta_rank=self.save_delta_rank)
        settings = {k: v for k, v in self.settings().items() if k not in ("precision", "device")}
        return {
            "settings": {**settings, "span_model": MODEL_DIR},
            "base_model": {**base_model_record(self.model.config.encoder), "role": "encoder"},
            "training": self.training,
            "notes": self.notes,
        }

    @classmethod
    def _from_folder(cls, folder: Path, manifest: Any, **overrides: Any) -> SpanPredictor:
        from fewner.spanmodel.span_model import SpanModel

        allowed = {"threshold", "nested", "label_names", "quantize", "precision", "device"}
        unknown = sorted(set(overrides) - allowed)
        if unknown:
            raise ConfigError(f"span model: cannot override {unknown} at load ({', '.join(sorted(allowed))})")
        s = manifest.settings
        options = {
            "threshold": s.get("threshold", 0.5),
            "nested": s.get("nested", False),
            "label_names": s.get("label_names") or {},
            **overrides,
        }
        model = SpanModel.load(folder / s.get("span_model", MODEL_DIR))
        return cls(model, manifest.labels, training=manifest.training, notes=manifest.notes, **options)


def _windows(n: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Word ranges covering ``0..n``: one when it fits, else ``size`` words every ``size - overlap``."""
    if n <= size:
        return [(0, n)]
    step = max(1, size - overlap)
    out = []
    for lo in range(0, n, step):
        out.append((lo, min(n, lo + size)))
        if lo + size >= n:
            break
    return out


def _merge(spans: list[tuple[int, int, int, float]], nested: bool) -> list[tuple[int, int, int, float]]:
    """Spans of overlapping windows decoded again together (best score first, no clashes)."""
    from fewner.spanmodel.decode import compatible

    best: dict[tuple[int, int, int], float] = {}
    for a, b, col, p in spans:
        best[(a, b, col)] = max(p, best.get((a, b, col), 0.0))
    kept: list[tuple[int, int, int, float]] = []
    for (a, b, col), p in sorted(best.items(), key=lambda kv: (-kv[1], kv[0])):
        if all(compatible(a, b, x, y, nested) for x, y, _, _ in kept):
            kept.append((a, b, col, p))
    return sorted(kept)


from fewner.predictors import PREDICTORS  # noqa: E402 - registered once the class exists

PREDICTORS.register(SpanPredictor.kind, SpanPredictor)
