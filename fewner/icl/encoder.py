"""Text encoders for demonstration retrieval.

Retrievers need one thing from an encoder: unit-length vectors for a list of strings, so that a
dot product is a cosine similarity. :class:`Encoder` is that one method; the real one is
:class:`SentenceTransformerEncoder` (all-MiniLM-L6-v2 from the model catalogue, through
sentence-transformers), and tests pass a tiny deterministic stand-in instead of loading a model.

Why a memo: span-level retrieval embeds many short strings that repeat across sentences
(``Obama``, ``U.S.``); each distinct string is encoded once per encoder object.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from fewner.models.catalogue import DEFAULT_ENCODER

__all__ = ["Encoder", "MemoEncoder", "SentenceTransformerEncoder"]


@runtime_checkable
class Encoder(Protocol):
    """Anything that maps strings to L2-normalised vectors (one row per string)."""

    @property
    def id(self) -> str:
        """Identity of the encoder, for a run's resolved config."""
        ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


class MemoEncoder:
    """Base class: encodes each distinct string once (see the module docstring).

    Subclasses implement :meth:`_encode_new` for strings not seen before.
    """

    def __init__(self) -> None:
        self._memo: dict[str, np.ndarray] = {}

    @property
    def id(self) -> str:  # pragma: no cover - overridden
        return type(self).__name__

    def _encode_new(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if new:
            vectors = _normalise(self._encode_new(new))
            if vectors.shape[0] != len(new):
                raise ValueError(
                    f"encoder returned {vectors.shape[0]} vectors for {len(new)} texts"
                )
            self._memo.update(zip(new, vectors, strict=True))
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])


class SentenceTransformerEncoder(MemoEncoder):
    """A sentence-transformers model: a catalogue name (default ``minilm-l6``), folder or hub id.

    The model loads on the first :meth:`encode` call. ``threads`` sets torch's thread count when
    given (1 is steadiest on a shared 2-core machine; measurements: docs/design-notes.md,
    fewner/icl/encoder.py). ``device``: None lets sentence-transformers pick (CUDA when
    available).
    """

    def __init__(
        self,
        model: str = DEFAULT_ENCODER,
        *,
        batch_size: int = 64,
        threads: int | None = None,
        device: str | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.batch_size = batch_size
        self.threads = threads
        self.device = device
        self._st = None

    @property
    def id(self) -> str:
        return f"sentence-transformers:{self.model}"

    def _load(self):  # type: ignore[no-untyped-def]
        if self._st is None:
            from fewner.errors import ModelNotAvailableError
            from fewner.models import hf_path

            try:
                import torch
                from sentence_transformers import SentenceTransformer
            except ImportError as err:  # pragma: no cover - depends on the install
                raise ModelNotAvailableError(
                    "retrieval by embeddings needs sentence-transformers: pip install 'fewner[lm]'"
                ) from err
            if self.threads is not None:
                torch.set_num_threads(self.threads)
            self._st = SentenceTransformer(hf_path(self.model), device=self.device)
        return self._st

    def _encode_new(self, texts: list[str]) -> np.ndarray:
        model = self._load()
        return model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
