"""Per-type entity extraction with any backend: prompts in, character spans out.

One prompt per (sentence, entity type) in an :class:`~fewner.prompts.ExtractionFormat`; the
answers are parsed back to spans and the spans of all types of a sentence are merged into one
flat prediction. The same object serves ``fewner predict``, the training loop's dev evaluation
(with ``HFBackend.from_objects(peft_model, tokenizer, model_id)``) and any pipeline that needs
predictions.

Choices, and why:

* **Constrained by default.** Each sentence's :class:`~fewner.decoding.Constraint` (built once
  per sentence and shared by its prompts, so the HF logits processor shares its automaton cache)
  goes to ``backend.generate``; the backend enforces it with its strongest mechanism (token
  masks, a server grammar, or filtering). Small models otherwise write mentions that are not in
  the input (measurements: docs/design-notes.md, fewner/predict/extractor.py).
* **Edge punctuation off by default** (``edge_punctuation=False``): candidate mentions may not
  start or end with a word that has no letter or digit. Few gold mentions do (mostly tokenized
  subreddit names and handles such as ``/ r / politics``, ``@ voxd``), while allowing them adds
  for every mention its ``"Sonmarg ,"`` / ``"( BBC"`` variants, which are exactly the boundary
  errors constrained decoding should rule out, in every sentence. Turn it on for data where such
  names are common (GUM; Reddit-heavy text) (measurements: docs/design-notes.md,
  fewner/predict/extractor.py).
* **A safety net after generation.** An answer that cannot lead into the constraint's language
  (a backend that ignored the constraint, or repeats beyond a mention's count) is repaired with
  :meth:`Constraint.filter`; what it removed is counted in ``stats["filtered_mentions"]``
  together with the mentions that backends report having filtered themselves
  (``filtered_mentions`` on the backend, or on the backend a cache wraps; answers served from a
  cache are not counted again). A truncated answer that is still a valid prefix is kept as is, so
  the parser can report it as ``truncated``.
* **Stops**: the template's stop strings are added to ``params.stop`` (an unconstrained model
  must not run on into a next "### Instruction").
* **Shared prefixes, used but not relied on**: the prompts of each backend call are sent in
  lexicographic order, so prompts with a long common prefix are neighbours: the same type over
  several sentences under the ``type_first`` layout, the same sentence over all types under
  ``sentence_first``. A backend that reuses the previous prompt's KV cache (llama.cpp) or groups
  prompts by prefix (the HF backend's ``prefix_sharing``) gains from it; answers do not depend
  on the order, and results are put back in (sentence, type) order.
* **Overlaps between spans** (two types claiming overlapping text, or one type's mentions
  overlapping) are resolved by one deterministic rule, :func:`merge_spans`: the longer span
  wins; on equal length the one starting earlier; then the type listed first in ``types``.
  Fewner's JSONL and the tag formats hold one label per character, so the output must be flat.
  Each loser is counted: ``type_conflicts`` (it overlapped a kept span of another type) or
  ``overlaps_same_type``.
* **Token alignment**: a span that does not start and end on the sentence's token boundaries
  (possible only unconstrained, where the parser's fallbacks may resolve a mention inside a
  token) is widened to the tokens it covers and counted as ``snapped_to_tokens``: token-level
  gold and the JSONL reader require token-aligned spans.

* **Abstentions stay abstentions.** An answer that parses as the template's refusal answer
  ("not sure", written by a refusal-aware adapter, :mod:`fewner.grait`) adds no span and puts
  its type in ``ExtractionResult.abstained[sentence.id]`` (``abstained_types`` in ``fewner
  predict`` output), so callers can route the sentence to a person or a stronger model; it is
  never merged into "no entity". The constraint offers the refusal answer only with
  ``abstain=True`` (off by default: a model never taught to abstain decodes as before).
* **Retyping by scoring** (``retype``, off by default): every span found under any type is
  scored under every type asked, as the one-mention answer of that type's prompt
  (``backend.logprobs``), and takes the type that scores highest. Asking one type at a time, a
  small model often finds a mention under the wrong type (or under several, where the merge rule
  below would pick by list order); one scoring pass per (span, type) decides by the model's own
  likelihood instead. It needs a backend that scores completions (hf, llamacpp; others raise a
  :class:`~fewner.errors.BackendError` saying so). Counted: ``retyped`` (spans whose type
  changed).
* **A bias on "none"** (``none_bias``, default 0): added to the logit of the none answer's first
  token at the first answer position (``GenerationParams.first_token_bias``). The presence
  decision of a small model is made there, and a model trained on other data is often too
  cautious or too eager on new types; one number, chosen on the support set
  (:mod:`fewner.predict.calibration`), moves it without training. Negative: answer "none" less.

Statistics (``ExtractionResult.stats``, a Counter): the parser's keys
(:data:`fewner.prompts.STAT_KEYS`) summed over all answers, plus ``sentences``, ``prompts``,
``spans`` (kept after merging), ``filtered_mentions``, ``type_conflicts``,
``overlaps_same_type`` and ``snapped_to_tokens``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fewner.backends.base import Backend, GenerationParams
from fewner.backends.limits import ContextLengthError, check_context
from fewner.decoding.candidates import DEFAULT_MAX_WORDS
from fewner.decoding.constraint import Constraint
from fewner.prompts.format import ExtractionFormat
from fewner.spans import merge_spans, snap_to_tokens
from fewner.types import Sentence, Span

__all__ = [
    "extractor_for_model",
    "DEFAULT_MAX_NEW_TOKENS",
    "ExtractionResult",
    "Extractor",
    "merge_spans",
    "snap_to_tokens",
]

#: Enough for the answer prefix and about ten mentions in the OBP-LLM answer format.
DEFAULT_MAX_NEW_TOKENS = 64


@dataclass
class ExtractionResult:
    """Predictions (input sentences with predicted spans, in input order), counts, raw answers.

    ``answers``: one dict per prompt, in (sentence, type) order: ``sentence_id``, ``type``,
    ``prompt_chars``, ``answer`` (after the safety-net filter) and, when the filter changed it,
    ``raw_answer`` and ``filtered``; ``refused: true`` on an abstention.
    ``abstained``: sentence id -> the types the model refused to answer for it (in the order
    asked; sentences without an abstention are absent).
    """

    predictions: list[Sentence] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)
    answers: list[dict[str, Any]] = field(default_factory=list)
    abstained: dict[str, list[str]] = field(default_factory=dict)

    def add(self, other: ExtractionResult) -> None:
        """Append another (later) part of the same run."""
        self.predictions.extend(other.predictions)
        self.stats.update(other.stats)
        self.answers.extend(other.answers)
        for sid, types in other.abstained.items():
            self.abstained.setdefault(sid, []).extend(types)

    def abstained_types(self, sentence_id: str) -> list[str]:
        """The types the model abstained on for ``sentence_id`` (empty when none)."""
        return list(self.abstained.get(sentence_id, []))


def _reported_filtered(backend: Backend) -> int:
    """``filtered_mentions`` of the backend, or of the backend it wraps (a cache), else 0."""
    current: Any = backend
    while current is not None:
        count = getattr(current, "filtered_mentions", None)
        if isinstance(count, int):
            return count
        current = getattr(current, "inner", None)
    return 0


class Extractor:
    """Extract entities of several types from sentences with one backend and one format.

    ``constrained``: enforce the substring constraint (module docstring). ``params``: decoding
    settings (default greedy, ``max_new_tokens=64``); the template's stop strings are added.
    ``batch_size``: prompts per ``backend.generate`` call (whole sentences: at least one
    sentence's prompts per call). ``edge_punctuation``, ``max_words``, ``max_mentions``: the
    constraint's candidate policy (:meth:`Constraint.for_sentence`). ``chat``: wrap each prompt
    in the backend's chat template (with ``system``); it must match how an adapter was trained,
    so it is off by default, as in training. ``abstain``: let the constraint offer the
    template's refusal answer (for refusal-aware adapters; parsed refusals are reported either
    way, see the module docstring). ``none_bias``: added to the none answer's first-token
    logit at the first answer position (module docstring; negative: fewer "none" answers).
    ``retype``: give every span the type under which the model scores it highest (module
    docstring).
    """

    def __init__(
        self,
        backend: Backend,
        fmt: ExtractionFormat,
        *,
        constrained: bool = True,
        params: GenerationParams | None = None,
        batch_size: int = 16,
        edge_punctuation: bool = False,
        max_words: int = DEFAULT_MAX_WORDS,
        max_mentions: int | None = None,
        chat: bool = False,
        system: str | None = None,
        abstain: bool = False,
        none_bias: float = 0.0,
        retype: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if max_words < 1:
            raise ValueError("max_words must be >= 1")
        if max_mentions is not None and max_mentions < 1:
            raise ValueError("max_mentions must be >= 1 (or None)")
        self.backend = backend
        self.fmt = fmt
        self.constrained = constrained
        base = (
            params
            if params is not None
            else GenerationParams(max_new_tokens=DEFAULT_MAX_NEW_TOKENS)
        )
        stops = tuple(dict.fromkeys((*base.stop, *fmt.template.stop)))
        none_answer = fmt.template.grammar.none
        if none_bias and not none_answer:
            raise ValueError(f"none_bias needs a template with a none answer ({fmt.template.id} has none)")
        bias = ((none_answer, float(none_bias)),) if none_bias else ()
        self.params = dataclasses.replace(base, stop=stops, first_token_bias=bias)
        self.none_bias = float(none_bias)
        self.retype = retype
        self.batch_size = batch_size
        self.edge_punctuation = edge_punctuation
        self.max_words = max_words
        self.max_mentions = max_mentions
        self.chat = chat
        self.system = system
        self.abstain = abstain

    def settings(self) -> dict[str, Any]:
        """Everything that decides the predictions, for a run's resolved config."""
        return {
            "backend": getattr(self.backend, "inner", self.backend).name,  # through a cache
            "model_id": self.backend.model_id,
            "template": self.fmt.template.id,
            "definitions": self.fmt.definitions.source,
            "constrained": self.constrained,
            "edge_punctuation": self.edge_punctuation,
            "max_words": self.max_words,
            "max_mentions": self.max_mentions,
            "chat": self.chat,
            "system": self.system,
            "abstain": self.abstain,
            "none_bias": self.none_bias,
            "retype": self.retype,
            "batch_size": self.batch_size,
            "params": self.params.as_dict(),
        }

    def constraint(self, sentence: Sentence) -> Constraint:
        """The decoding constraint for ``sentence`` under this extractor's candidate policy."""
        return self.fmt.constraint(
            sentence,
            max_words=self.max_words,
            edge_punctuation=self.edge_punctuation,
            max_mentions=self.max_mentions,
            refusal=self.abstain,
        )

    def prompt(self, sentence: Sentence, entity_type: str) -> str:
        """The exact text sent to the backend for (``sentence``, ``entity_type``)."""
        return self._wrap(self.fmt.prompt(sentence, entity_type))

    def _wrap(self, prompt: str) -> str:
        return self.backend.chat_prompt(prompt, self.system) if self.chat else prompt

    # ----- extraction --------------------------------------------------------------------
    def extract(
        self,
        sentences: Iterable[Sentence],
        types: Iterable[str],
        progress: Callable[[int], object] | None = None,
    ) -> ExtractionResult:
        """Predict spans of ``types`` in every sentence; gold spans in the input are ignored.

        ``progress`` is called with the number of sentences finished after each backend call.
        """
        result = ExtractionResult()
        for part in self.iter_extract(sentences, types):
            result.add(part)
            if progress is not None:
                progress(len(part.predictions))
        return result

    def iter_extract(
        self, sentences: Iterable[Sentence], types: Iterable[str]
    ) -> Iterator[ExtractionResult]:
        """Like :meth:`extract`, one part per backend call, so callers can write as they go."""
        wanted = list(dict.fromkeys(types))
        if not wanted:
            raise ValueError("no entity types to extract")
        self.fmt.definitions.require(wanted)  # every missing definition in one error, up front
        per_call = max(1, self.batch_size // len(wanted))
        chunk: list[Sentence] = []
        for sentence in sentences:
            chunk.append(sentence)
            if len(chunk) == per_call:
                yield self._extract_chunk(chunk, wanted)
                chunk = []
        if chunk:
            yield self._extract_chunk(chunk, wanted)

    def check_fits(self, sentences: Iterable[Sentence], types: Iterable[str]) -> None:
        """Raise :class:`~fewner.backends.limits.ContextLengthError` naming the file and line
        when the longest of ``sentences`` (in bytes: its prompts are the longest of each type)
        does not fit the backend's context window with ``max_new_tokens`` of answer: a check
        to run before any work starts. Backends that cannot measure prompts pass."""
        longest = max(sentences, key=lambda s: len(s.text.encode("utf-8")), default=None)
        wanted = list(dict.fromkeys(types))
        if longest is None or not wanted:
            return
        jobs = [(t, self._wrap(p)) for t, p in self.fmt.prompts(longest, wanted)]
        try:
            check_context(self.backend, [p for _, p in jobs], self.params.max_new_tokens)
        except ContextLengthError as err:
            raise err.at(
                f"{sentence_location(longest)}: the prompt for type {jobs[err.index][0]!r}",
                LONG_INPUT_FIX,
            ) from None

    def _extract_chunk(self, sentences: list[Sentence], types: list[str]) -> ExtractionResult:
        stats: Counter[str] = Counter(sentences=len(sentences))
        constraints = [self.constraint(s) if self.constrained else None for s in sentences]
        jobs = [
            (i, t, self._wrap(p))
            for i, s in enumerate(sentences)
            for t, p in self.fmt.prompts(s, types)
        ]
        stats["prompts"] = len(jobs)
        order = sorted(range(len(jobs)), key=lambda j: jobs[j][2])  # shared prefixes adjacent
        before = _reported_filtered(self.backend)
        prompts = [jobs[j][2] for j in order]
        try:
            check_context(self.backend, prompts, self.params.max_new_tokens)  # before any work
            outputs = self.backend.generate(
                prompts,
                self.params,
                [constraints[jobs[j][0]] for j in order] if self.constrained else None,
            )
        except ContextLengthError as err:
            i, entity_type, _ = jobs[order[err.index]]
            raise err.at(
                f"{sentence_location(sentences[i])}: the prompt for type {entity_type!r}",
                LONG_INPUT_FIX,
            ) from None
        if len(outputs) != len(jobs):
            from fewner.errors import BackendError

            raise BackendError(
                f"{self.backend.name} returned {len(outputs)} answers for {len(jobs)} prompts"
            )
        stats["filtered_mentions"] += max(0, _reported_filtered(self.backend) - before)
        answer_of = dict(zip(order, outputs, strict=True))

        found: list[list[Span]] = [[] for _ in sentences]
        answers: list[dict[str, Any]] = []
        abstained: dict[str, list[str]] = {}
        for j, (i, entity_type, prompt) in enumerate(jobs):
            sentence = sentences[i]
            raw = answer_of[j] if isinstance(answer_of[j], str) else ""
            record: dict[str, Any] = {
                "sentence_id": sentence.id,
                "type": entity_type,
                "prompt_chars": len(prompt),
                "answer": raw,
            }
            constraint = constraints[i]
            text = raw
            if constraint is not None:
                text, removed = constraint.enforce(raw)
                if text != raw:
                    stats["filtered_mentions"] += sum(removed.values())
                    record.update(answer=text, raw_answer=raw, filtered=sorted(removed.elements()))
            answers.append(record)
            parsed = self.fmt.parse(text, sentence, entity_type)
            stats.update(parsed.stats)
            if parsed.is_refusal:
                record["refused"] = True
                abstained.setdefault(sentence.id, []).append(entity_type)
            for span in parsed.spans:
                snapped = snap_to_tokens(span, sentence)
                if snapped != span:
                    stats["snapped_to_tokens"] += 1
                if snapped is not None:
                    found[i].append(snapped)

        if self.retype and len(types) > 1:
            found = self._retyped(sentences, found, types, stats)
        predictions = []
        for sentence, spans in zip(sentences, found, strict=True):
            kept, dropped = merge_spans(spans, types)
            stats.update(dropped)
            stats["spans"] += len(kept)
            predictions.append(sentence.with_spans(kept))
        return ExtractionResult(predictions, stats, answers, abstained)

    def _retyped(
        self, sentences: list[Sentence], found: list[list[Span]], types: list[str],
        stats: Counter[str],
    ) -> list[list[Span]]:
        """Each distinct span of a sentence once, with the type whose prompt gives its
        one-mention answer the highest log-probability (ties: the earlier type)."""
        claimed: list[dict[tuple[int, int], set[str]]] = [{} for _ in sentences]
        for places, spans in zip(claimed, found, strict=True):
            for s in spans:
                places.setdefault((s.start, s.end), set()).add(s.label)
        jobs: list[tuple[int, tuple[int, int], str, str, str]] = []
        for i, sentence in enumerate(sentences):
            for start, end in claimed[i]:
                answer = self.fmt.template.render_target([sentence.text[start:end]])
                for t in types:
                    jobs.append((i, (start, end), t, self.prompt(sentence, t), answer))
        if not jobs:
            return found
        from fewner.errors import BackendError

        try:
            scores = self.backend.logprobs([j[3] for j in jobs], [j[4] for j in jobs])
        except BackendError as err:
            raise BackendError(f"retype scores every span under every type: {err}; "
                               "use the hf or llamacpp backend, or retype=False") from err
        best: dict[tuple[int, tuple[int, int]], tuple[float, str]] = {}
        for (i, where, t, _, _), score in zip(jobs, scores, strict=True):
            if (i, where) not in best or score > best[i, where][0]:
                best[i, where] = (score, t)
        out: list[list[Span]] = [[] for _ in sentences]
        for i, places in enumerate(claimed):
            for (start, end), labels in places.items():
                chosen = best[i, (start, end)][1]
                stats["retyped"] += chosen not in labels
                out[i].append(Span(start, end, chosen))
        return out


#: What to do about a sentence whose prompt does not fit the context window.
LONG_INPUT_FIX = (
    "pass --documents lines to fewner predict to cut long lines into windows (and a smaller "
    "--window-words N if a window is still too long; Predictor.predict_documents and "
    "window_words in Python), or split the sentence"
)


def sentence_location(sentence: Sentence) -> str:
    """``FILE:LINE`` from a sentence's reader metadata, else ``sentence ID``."""
    meta = dict(sentence.meta)
    if meta.get("file") and meta.get("line"):
        return f"{meta['file']}:{meta['line']}"
    return f"sentence {sentence.id}"


def extractor_for_model(
    model: Any,
    tokenizer: Any,
    model_id: str,
    fmt: ExtractionFormat,
    *,
    batch_size: int,
    max_new_tokens: int,
    constrained: bool = True,
    abstain: bool = False,
    params: GenerationParams | None = None,
) -> Extractor:
    """An extractor over a transformers model already in memory (a model being trained: dev and
    test evaluation, DPO error feedback, the GRAIT knowledge query), greedy with
    ``max_new_tokens`` unless ``params`` says otherwise."""
    from fewner.backends.hf import HFBackend

    backend = HFBackend.from_objects(
        model, tokenizer, model_id, batch_size=batch_size,
        prefix_sharing=fmt.template.layout == "sentence_first",
    )
    return Extractor(
        backend,
        fmt,
        constrained=constrained,
        params=params or GenerationParams(max_new_tokens=max_new_tokens),
        batch_size=batch_size,
        abstain=abstain,
    )
