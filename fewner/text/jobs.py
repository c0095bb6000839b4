"""One document on its way through a predictor: the pieces to predict, then the merged result.

A :class:`DocumentJob` splits its document into sentences, cuts each sentence longer than the
predictor's window into chunks (:mod:`fewner.text.windows`), hands out the pieces (sentences or
chunks, each a :class:`~fewner.types.Sentence`), takes their predictions back in any order, and
when all are in, :meth:`DocumentJob.finish` gives the document as one Sentence with its spans at
document offsets, their scores, the types abstained anywhere in it, and counts of what was split
and dropped. The predictor's batching loop lives in :mod:`fewner.predictors.base`; nothing here
knows a model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fewner.text.documents import Document, join_document, split_document
from fewner.text.windows import Window, cut, merge_chunks
from fewner.types import Sentence, Span

__all__ = ["DocumentJob", "FinishedDocument"]

Scores = dict[tuple[int, int, str], float]


@dataclass
class FinishedDocument:
    """A predicted document: ``sentence`` (whole text, tokens, spans at document offsets)."""

    sentence: Sentence
    scores: Scores
    abstained: list[str]
    stats: Counter[str]


class DocumentJob:
    """``document`` split for ``window`` (None: sentences are never cut); ``costs``: what each
    token of each sentence takes of the window (the predictor's ``window_costs``)."""

    def __init__(
        self,
        document: Document,
        window: Window | None,
        costs: Callable[[list[Sentence]], list[list[int]]],
    ) -> None:
        self.document = document
        self.sentences = split_document(document)
        self.plans: list[list[tuple[int, int]] | None] = [None] * len(self.sentences)
        self.pieces: list[Sentence] = []
        self.oversized = 0  # tokens that alone take more than the window
        if window is not None and self.sentences:
            sentences = [s for _, s in self.sentences]
            if window.unit == "words":
                token_costs = [[1] * len(s.tokens) for s in sentences]
            else:
                token_costs = costs(sentences)
            for i, c in enumerate(token_costs):
                if not window.fits(c):
                    self.plans[i] = window.plan(c)
                    self.oversized += sum(1 for x in c if x > window.size)
        for i, (_, sentence) in enumerate(self.sentences):
            plan = self.plans[i]
            self.pieces.extend([sentence] if plan is None else cut(sentence, plan))
        self._predicted: list[Sentence | None] = [None] * len(self.pieces)
        self._scores: list[Scores] = [{} for _ in self.pieces]
        self._abstained: dict[str, None] = {}
        self._left = len(self.pieces)

    @property
    def done(self) -> bool:
        return self._left == 0

    def take(
        self, index: int, predicted: Sentence, scores: Scores | None = None,
        abstained: Sequence[str] = (),
    ) -> None:
        """The prediction of piece ``index`` (spans at the piece's offsets)."""
        if self._predicted[index] is None:
            self._left -= 1
        self._predicted[index] = predicted
        self._scores[index] = dict(scores or {})
        self._abstained.update(dict.fromkeys(abstained))

    def finish(self, types: Sequence[str] = ()) -> FinishedDocument:
        """The whole document (all pieces must be in); ``types``: the label order of the overlap
        rule used where chunks' spans clash."""
        if not self.done:
            raise RuntimeError(f"document {self.document.id}: {self._left} piece(s) not predicted")
        stats: Counter[str] = Counter(documents=1, sentences=len(self.sentences))
        stats["long_sentences_split"] += 0
        stats["chunks"] += 0
        if self.oversized:
            stats["tokens_over_window"] = self.oversized
        spans: list[Span] = []
        scores: Scores = {}
        at = 0
        for i, (offset, sentence) in enumerate(self.sentences):
            plan = self.plans[i]
            count = 1 if plan is None else len(plan)
            predicted = [p for p in self._predicted[at : at + count] if p is not None]
            piece_scores = self._scores[at : at + count]
            at += count
            if plan is None:
                found, found_scores = list(predicted[0].spans), piece_scores[0]
            else:
                stats["long_sentences_split"] += 1
                stats["chunks"] += len(plan)
                found, found_scores, dropped = merge_chunks(
                    sentence, plan, predicted, types, piece_scores
                )
                stats.update(dropped)
            for span in found:
                moved = Span(span.start + offset, span.end + offset, span.label)
                spans.append(moved)
                score = found_scores.get((span.start, span.end, span.label))
                if score is not None:
                    scores[(moved.start, moved.end, moved.label)] = score
        stats["spans"] = len(spans)
        return FinishedDocument(
            join_document(self.document, self.sentences, spans), scores, list(self._abstained), stats
        )
