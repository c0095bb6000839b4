"""The one protocol every fewner predictor speaks.

A predictor takes sentences, or texts of any length, and a label set and returns flat,
token-aligned character spans in input order, plus counters of what happened (``stats``) and, where the method
has them, abstentions (types it refused to answer for a sentence). Gold spans in the input are
ignored. It can say its settings, and :meth:`Predictor.save` writes a self-describing folder
(:mod:`fewner.predictors.manifest`) that :func:`fewner.load` turns back into an equal predictor.

Texts and documents (:meth:`Predictor.predict`, :meth:`Predictor.predict_documents`) are split
into sentences, and a sentence longer than the predictor's window (:meth:`Predictor.window`:
``window_words`` words, or the model's own units) into overlapping chunks; the pieces are
predicted in batches and merged back to document offsets (:mod:`fewner.text`). Nothing is cut
silently: the statistics count documents, sentences, long sentences split and chunks. Sentences
given as sentences (:meth:`Predictor.predict_sentences`) are predicted whole, as given; one
longer than the window is counted (``sentences_over_window``).

Subclasses implement :meth:`Predictor._predict_batch` over a list of sentences without gold and
a resolved label list, and the ``_save_payload`` / ``_from_folder`` pair, and set their window
(``window_words``; an encoder overrides :meth:`Predictor.window` and
:meth:`Predictor.window_costs` to count subwords). Everything else — label checks, batching,
progress, texts -> sentences -> chunks and back, entities with surface text — lives here once, so the predictors cannot drift apart (tests/contract/test_predictor_contract.py checks
every registered predictor against these promises).
"""

from __future__ import annotations

import abc
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from fewner.errors import ConfigError
from fewner.progress import progress_reporter
from fewner.text.documents import Document, as_document
from fewner.text.windows import Window
from fewner.types import Sentence, Span

__all__ = ["Entity", "Predictions", "Predictor", "as_sentences_from_texts"]


@dataclass(frozen=True)
class Entity:
    """One predicted mention: ``text[start:end]`` is ``text``; ``score`` when the method has one."""

    start: int
    end: int
    label: str
    text: str
    score: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start": self.start,
            "end": self.end,
            "label": self.label,
            "text": self.text,
        }
        if self.score is not None:
            out["score"] = self.score
        return out


@dataclass
class Predictions:
    """Sentences with their predicted spans (input order), and what happened while predicting.

    From :meth:`Predictor.predict_documents`, each "sentence" is a whole document (its id, text,
    every token, spans at document offsets).

    ``stats``: counters (``sentences``, ``spans`` and the method's own keys; for documents also
    ``documents``, ``long_sentences_split``, ``chunks``); ``abstained``:
    sentence id -> types the predictor refused to answer (absent when none); ``records``: the
    method's raw answers, one dict each (for ``OUT.answers.jsonl`` sidecars); ``scores``:
    sentence id -> {(start, end, label): score} where the method scores spans.
    """

    sentences: list[Sentence] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)
    abstained: dict[str, list[str]] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    scores: dict[str, dict[tuple[int, int, str], float]] = field(default_factory=dict)

    def add(self, other: Predictions) -> None:
        """Append a later part of the same run."""
        self.sentences.extend(other.sentences)
        self.stats.update(other.stats)
        for sid, types in other.abstained.items():
            self.abstained.setdefault(sid, []).extend(types)
        self.records.extend(other.records)
        self.scores.update(other.scores)

    def entities(self, index: int) -> list[Entity]:
        """The entities of the ``index``-th sentence, with surface text and score."""
        sentence = self.sentences[index]
        scored = self.scores.get(sentence.id, {})
        return [
            Entity(s.start, s.end, s.label, sentence.mention(s), scored.get((s.start, s.end, s.label)))
            for s in sentence.spans
        ]


def as_sentences_from_texts(texts: Sequence[str], prefix: str = "text") -> list[Sentence]:
    """Raw strings -> sentences with offset-exact tokens (ids ``text-0``, ``text-1``, ...)."""
    from fewner.data.tokenize import sentence_from_text

    out = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ConfigError(f"texts[{i}]: expected a string, got {type(text).__name__}")
        out.append(sentence_from_text(text, id=f"{prefix}-{i}"))
    return out


class Predictor(abc.ABC):
    """Sentences or texts in, flat character spans out (module docstring).

    ``kind``: the registry name (also the manifest's ``kind``). ``open_labels``: True when the
    predictor can look for any label it is asked for (LLM prompts, ICL); False when it knows a
    fixed set (a token classifier, a dictionary), in which case asking for an unknown label is
    an error and a subset of its labels filters its output. ``labels``: the default label set
    (used when ``predict`` gets none). ``batch_sentences``: sentences per internal call; results
    never depend on it. ``window_words``: the longest piece of text predicted at once, in words
    (None: no limit; each kind sets its own default, and an instance may change it);
    ``window_overlap``: words shared by consecutive chunks of a sentence cut to the window.
    ``language_model``: the kind asks a language model (it takes an answer ``cache``, backend
    options and a prompt batch size at load); False for models that run locally in one pass.
    """

    kind: ClassVar[str] = ""
    open_labels: ClassVar[bool] = True
    language_model: ClassVar[bool] = False
    batch_sentences: int = 16
    window_words: int | None = None
    window_overlap: int = 16

    def __init__(self, labels: Iterable[str] = ()) -> None:
        self.labels: list[str] = list(dict.fromkeys(labels))

    # ----- what subclasses implement ---------------------------------------------------------
    @abc.abstractmethod
    def _predict_batch(self, sentences: list[Sentence], labels: list[str]) -> Predictions:
        """Predict ``labels`` in ``sentences`` (no gold spans); one result per sentence, in order."""

    @abc.abstractmethod
    def settings(self) -> dict[str, Any]:
        """Everything that decides the predictions (for a run's config and the manifest)."""

    @abc.abstractmethod
    def _save_payload(self, folder: Path) -> dict[str, Any]:
        """Write weights or data into ``folder``; return the manifest fields to record
        (``settings`` at least; ``base_model``, ``training``, ``metrics`` where known)."""

    @classmethod
    @abc.abstractmethod
    def _from_folder(cls, folder: Path, manifest: Any, **overrides: Any) -> Predictor:
        """Rebuild the predictor from a folder written by :meth:`save`."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release models, processes or threads the predictor holds."""

    def runtime_counters(self) -> dict[str, Any]:
        """Counters of the work done so far that are not predictions (cache hits, ...)."""
        return {}

    def window(self) -> Window | None:
        """What one piece of text may hold (``window_words`` words with ``window_overlap``), or
        None for no limit. A model that counts in its own units (an encoder's subwords)
        overrides this and :meth:`window_costs`."""
        if self.window_words is None:
            return None
        return Window(self.window_words, self.window_overlap, "words")

    def window_costs(self, sentences: list[Sentence]) -> list[list[int]]:
        """What each token of each sentence takes of :meth:`window` (one per word here)."""
        return [[1] * len(s.tokens) for s in sentences]

    # ----- the protocol ------------------------------------------------------------------------
    def resolve_labels(self, labels: Iterable[str] | None) -> list[str]:
        """``labels`` (deduplicated, in order), else the predictor's own; checked."""
        wanted = list(dict.fromkeys(labels)) if labels is not None else list(self.labels)
        if labels is not None and isinstance(labels, str):
            raise ConfigError(f"labels must be a list of strings, got the string {labels!r}")
        if not wanted:
            raise ConfigError(
                f"no labels to predict: pass labels=[...] ({self.kind} predictor has none of its own)"
            )
        for label in wanted:
            if not isinstance(label, str) or not label.strip():
                raise ConfigError(f"labels must be non-empty strings, got {label!r}")
        if not self.open_labels:
            unknown = [lab for lab in wanted if lab not in self.labels]
            if unknown:
                raise ConfigError(
                    f"this {self.kind} predictor knows only the labels {self.labels}; "
                    f"it cannot predict {unknown}"
                )
        return wanted

    def iter_predict(
        self, sentences: Iterable[Sentence], labels: Iterable[str] | None = None
    ) -> Iterator[Predictions]:
        """Predictions part by part (``batch_sentences`` sentences each), for incremental output.
        Each sentence is predicted whole, as given; one longer than :meth:`window` is counted in
        ``stats["sentences_over_window"]`` (use :meth:`iter_predict_documents` to cut it)."""
        wanted = self.resolve_labels(labels)
        window = self.window()
        batch: list[Sentence] = []
        for sentence in sentences:
            batch.append(sentence.with_spans(()))
            if len(batch) >= max(1, self.batch_sentences):
                yield self._counted(self._checked(batch, wanted), batch, window)
                batch = []
        if batch:
            yield self._counted(self._checked(batch, wanted), batch, window)

    def iter_predict_documents(
        self, documents: Iterable[str | Document], labels: Iterable[str] | None = None
    ) -> Iterator[Predictions]:
        """Predictions of texts of any length, part by part, in input order; each "sentence" of
        a part is a whole document (id, text, tokens, spans at document offsets).

        ``documents``: strings (ids ``text-0``, ...) or :class:`~fewner.text.Document` objects,
        read lazily. Each is split into sentences, a sentence longer than :meth:`window` into
        overlapping chunks (:mod:`fewner.text.windows`); pieces of consecutive documents share
        batches of ``batch_sentences``; a part is yielded as soon as a document is complete.
        ``records`` are per piece (sentence ids ``<document id>:<k>``, chunks ``...#<c>``);
        ``abstained``: document id -> the types abstained on in any of its pieces.
        """
        from collections import deque

        from fewner.text.jobs import DocumentJob

        wanted = self.resolve_labels(labels)
        window = self.window()
        jobs: deque[DocumentJob] = deque()
        batch: list[tuple[DocumentJob, int]] = []
        carry = Predictions()

        def run_batch() -> None:
            result = self._checked([job.pieces[i] for job, i in batch], wanted)
            carry.stats.update(result.stats)
            carry.records.extend(result.records)
            for (job, i), sentence in zip(batch, result.sentences, strict=True):
                job.take(i, sentence, result.scores.get(sentence.id), result.abstained.get(sentence.id, ()))
            batch.clear()

        def finished() -> Iterator[Predictions]:
            nonlocal carry
            part = carry
            while jobs and jobs[0].done:
                done = jobs.popleft().finish(wanted)
                part.sentences.append(done.sentence)
                part.stats.update(done.stats)
                if done.scores:
                    part.scores[done.sentence.id] = done.scores
                if done.abstained:
                    part.abstained[done.sentence.id] = done.abstained
            if part.sentences:
                carry = Predictions()
                yield part

        for index, item in enumerate(documents):
            job = DocumentJob(as_document(item, index), window, self.window_costs)
            jobs.append(job)
            for i in range(len(job.pieces)):
                batch.append((job, i))
                if len(batch) >= max(1, self.batch_sentences):
                    run_batch()
                    yield from finished()
            if not batch:
                yield from finished()
        if batch:
            run_batch()
        yield from finished()

    def predict_documents(
        self,
        documents: Iterable[str | Document],
        labels: Iterable[str] | None = None,
        *,
        progress: bool | Callable[[int], object] = False,
    ) -> Predictions:
        """All documents at once (:meth:`iter_predict_documents`): ``result.sentences[i]`` is
        document ``i`` with its spans, ``result.entities(i)`` its entities at document offsets,
        ``result.stats`` what was split and predicted. ``progress``: True for a progress bar,
        or a callable given the number of documents finished after each part."""
        documents = list(documents)
        result = Predictions()
        with progress_reporter(progress, len(documents), f"{self.kind}: predicting documents") as advance:
            for part in self.iter_predict_documents(documents, labels):
                result.add(part)
                advance(len(part.sentences))
        return result

    def predict_sentences(
        self,
        sentences: Iterable[Sentence],
        labels: Iterable[str] | None = None,
        *,
        progress: bool | Callable[[int], object] = False,
    ) -> Predictions:
        """All predictions at once. ``progress``: True for a progress bar with an ETA on stderr,
        or a callable given the number of sentences finished after each part."""
        sentences = list(sentences)
        result = Predictions()
        with progress_reporter(progress, len(sentences), f"{self.kind}: predicting") as advance:
            for part in self.iter_predict(sentences, labels):
                result.add(part)
                advance(len(part.sentences))
        return result

    def predict(
        self,
        texts: str | Sequence[str],
        labels: Iterable[str] | None = None,
        *,
        progress: bool | Callable[[int], object] = False,
    ) -> list[Entity] | list[list[Entity]]:
        """Entities in one text (a list of :class:`Entity`) or in each of several texts (a list
        of lists, in input order). Texts may be of any length (:meth:`predict_documents` says
        how they are split); offsets index the given strings."""
        single = isinstance(texts, str)
        items = [texts] if single else list(texts)
        for i, text in enumerate(items):
            if not isinstance(text, str):
                raise ConfigError(f"texts[{i}]: expected a string, got {type(text).__name__}")
        result = self.predict_documents(items, labels, progress=progress)
        entities = [result.entities(i) for i in range(len(items))]
        return entities[0] if single else entities

    def save(self, folder: str | Path) -> Path:
        """Write a self-describing folder (manifest + payload) that :func:`fewner.load` reads.

        The manifest is written last, so a save cut short (a full disk, a read-only folder:
        :class:`fewner.runs.OutputError` naming the folder) leaves no folder that loads."""
        from fewner.predictors.manifest import Manifest
        from fewner.runs import writing

        folder = Path(folder)
        with writing(folder):
            folder.mkdir(parents=True, exist_ok=True)
            fields = self._save_payload(folder)
            Manifest.new(self.kind, self.labels, **fields).write(folder)
        return folder

    def __enter__(self) -> Predictor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(labels={self.labels})"

    # ----- internals -----------------------------------------------------------------------------
    def _checked(self, batch: list[Sentence], labels: list[str]) -> Predictions:
        """The method's predictions of ``batch``, checked, with only the labels asked."""
        result = self._predict_batch(batch, labels)
        if [s.id for s in result.sentences] != [s.id for s in batch]:
            raise RuntimeError(f"{self.kind}: predictions do not match the input sentences")
        if not self.open_labels:  # a fixed-label model predicts all it knows: keep those asked
            wanted = set(labels)
            result.sentences = [
                s.with_spans(sp for sp in s.spans if sp.label in wanted) for s in result.sentences
            ]
        result.stats.pop("sentences", None)  # counted by the caller, in its own units
        result.stats.pop("spans", None)
        return result

    def _counted(
        self, result: Predictions, batch: list[Sentence], window: Window | None
    ) -> Predictions:
        result.stats["sentences"] = len(result.sentences)
        result.stats["spans"] = sum(len(s.spans) for s in result.sentences)
        if window is not None:
            costs = (
                [[1] * len(s.tokens) for s in batch] if window.unit == "words"
                else self.window_costs(batch)
            )
            over = sum(1 for c in costs if not window.fits(c))
            if over:
                result.stats["sentences_over_window"] += over
        return result


def flat_spans(spans: Iterable[Span], types: Sequence[str] = ()) -> list[Span]:
    """The flat subset of ``spans`` by fewner's one overlap rule (:func:`fewner.spans.merge_spans`)."""
    from fewner.spans import merge_spans

    return merge_spans(spans, types)[0]
