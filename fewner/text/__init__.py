"""Texts of any length: sentences with exact offsets, model-sized windows, documents.

* :mod:`fewner.text.sentences` — text -> sentence character ranges (nothing rewritten);
* :mod:`fewner.text.windows` — a sentence too long for a model -> overlapping chunks -> spans
  merged back;
* :mod:`fewner.text.documents` — documents with ids: split, joined back at document offsets,
  read from files.

:meth:`fewner.Predictor.predict` and :meth:`~fewner.Predictor.predict_documents` use all three,
so every predictor takes texts of any length. No torch here.
"""

from __future__ import annotations

from fewner.text.documents import Document, DocumentSet, read_documents
from fewner.text.sentences import sentence_spans
from fewner.text.windows import Window

__all__ = ["Document", "DocumentSet", "Window", "read_documents", "sentence_spans"]
