"""The teacher: a language model annotates raw sentences with one multi-type prompt.

One prompt per sentence asks for every type at once and for a dictionary answer
(``{"PER": ["Peter Blackburn"], "LOC": [], ...}``), in one of two styles:

* ``standard`` — instruction, type definitions, a few solved demonstrations
  (``Text: ...`` / ``Answer: {...}``), then the sentence and ``Answer:``;
* ``cot`` (chain of thought) — the same, but each demonstration first reasons in steps
  (``Reasoning: the names in the text are ...; "EU" is the name of an organization, so ORG``)
  and then gives the dictionary; the sentence ends with ``Reasoning:`` so the model reasons
  first. The demonstrations' reasoning is written from their gold spans by
  :func:`cot_reasoning`, so no hand-written rationale is needed for a new type set.

Answers are parsed by :mod:`fewner.distill.answers` (tolerant, counted) and every sentence gets a
status (``ok``, ``repaired``, ``partial``, ``unparseable``). Why one prompt for all types, when
``fewner predict`` asks one question per type: that is the study's design, and it costs one
generation per sentence, which is what makes annotating thousands of sentences affordable.

Resuming is the cache backend's job (:class:`fewner.backends.cache.CachedBackend`): the CLI
wraps the backend in it, so a killed run recomputes only the answers it had not committed.
Everything here is backend-agnostic: any :class:`~fewner.backends.base.Backend` (or an ensemble
exposing ``generate``) can be the teacher.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from fewner.backends.base import Backend, GenerationParams
from fewner.distill.answers import mentions_to_spans, parse_dictionary, sentence_status
from fewner.errors import ConfigError
from fewner.types import Sentence

__all__ = [
    "STYLES",
    "Annotation",
    "AnnotationPrompt",
    "Annotator",
    "annotate_answer",
    "cot_reasoning",
    "gold_dictionary",
    "pick_demos",
]

STYLES = ("standard", "cot")

INSTRUCTION = (
    "Find the named entities in the text. The entity types are:\n{types}\n"
    "Write each entity exactly as it appears in the text. "
    "Answer with one JSON dictionary from each type to the list of its entities "
    "(an empty list when there is none)."
)
COT_INSTRUCTION = (
    " First reason step by step after 'Reasoning:': list the names in the text, then decide the "
    "type of each. Then write 'Answer:' and the dictionary."
)


def gold_dictionary(sentence: Sentence, types: Sequence[str]) -> dict[str, list[str]]:
    """The answer a perfect teacher would give: mentions per type, in text order, unique."""
    out: dict[str, list[str]] = {t: [] for t in types}
    for span in sentence.spans:
        if span.label in out and sentence.mention(span) not in out[span.label]:
            out[span.label].append(sentence.mention(span))
    return out


def _gloss(definition: str) -> str:
    """``the name of a person`` from ``the name of a person, real or fictional, ...``."""
    return definition.split(",")[0].split(" such as ")[0].strip()


def cot_reasoning(sentence: Sentence, definitions: dict[str, str]) -> str:
    """Step-by-step reasoning for a demonstration, written from its gold spans."""
    names = [(sentence.mention(s), s.label) for s in sentence.spans if s.label in definitions]
    if not names:
        return "The text names no entity of these types."
    unique = list(dict.fromkeys(names))
    listed = ", ".join(json.dumps(n, ensure_ascii=False) for n, _ in unique)
    steps = " ".join(
        f"{json.dumps(n, ensure_ascii=False)} is {_gloss(definitions[lab])}, so {lab}."
        for n, lab in unique
    )
    return f"The names in the text are {listed}. {steps}"


def pick_demos(sentences: Iterable[Sentence], types: Sequence[str], k: int) -> list[Sentence]:
    """``k`` demonstrations that together cover as many of ``types`` as possible.

    Greedy set cover, deterministic: each pick is the sentence (at most 30 words, so prompts
    stay short) that adds the most uncovered types, the earliest among equals; once every type
    is covered (or nothing adds one), the next short sentences with entities fill up the ``k``.
    Sentences with no entity are skipped: they teach the answer format but not the types.
    """
    if k < 0:
        raise ConfigError(f"demos must be >= 0, got {k}")
    wanted = set(types)
    pool = [s for s in sentences if s.labels & wanted and len(s.tokens) <= 30]
    chosen: list[Sentence] = []
    covered: set[str] = set()
    while len(chosen) < k:
        gains = [len((s.labels & wanted) - covered) for s in pool]
        if not gains or max(gains) == 0:
            break
        best = pool.pop(gains.index(max(gains)))
        chosen.append(best)
        covered |= best.labels & wanted
    chosen += pool[: k - len(chosen)]
    return chosen


@dataclass(frozen=True)
class AnnotationPrompt:
    """Builds the prompt text of one sentence for a style; ``chat`` wraps it in the model's
    chat template (the demonstrations then sit inside the one user turn)."""

    types: tuple[str, ...]
    definitions: dict[str, str]
    style: str = "standard"
    demos: tuple[Sentence, ...] = ()

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ConfigError(
                f"unknown annotation style {self.style!r}; expected {' or '.join(STYLES)}"
            )
        if not self.types:
            raise ConfigError("no entity types to annotate")

    def _example(self, sentence: Sentence) -> str:
        answer = json.dumps(gold_dictionary(sentence, self.types), ensure_ascii=False)
        if self.style == "cot":
            reasoning = cot_reasoning(sentence, self.definitions)
            return f"Text: {sentence.text}\nReasoning: {reasoning}\nAnswer: {answer}"
        return f"Text: {sentence.text}\nAnswer: {answer}"

    def user_message(self, sentence: Sentence) -> str:
        types = "\n".join(f"- {t}: {self.definitions[t]}" for t in self.types)
        parts = [INSTRUCTION.format(types=types) + (COT_INSTRUCTION if self.style == "cot" else "")]
        if self.demos:
            parts.append("Examples:\n\n" + "\n\n".join(self._example(d) for d in self.demos))
        parts.append(f"Text: {sentence.text}")
        return "\n\n".join(parts)

    @property
    def lead(self) -> str:
        """What the prompt ends with, so the model starts right at its answer."""
        return "Reasoning:" if self.style == "cot" else "Answer:"

    def render(self, sentence: Sentence, backend: Backend | None = None, chat: bool = True) -> str:
        message = self.user_message(sentence)
        if chat and backend is not None:
            return backend.chat_prompt(message) + self.lead
        return f"{message}\n{self.lead}"


@dataclass
class Annotation:
    """One annotated sentence: spans placed in ``sentence``, its status, and what happened."""

    sentence: Sentence
    status: str
    answer: str
    stats: Counter[str] = field(default_factory=Counter)
    dropped: list[tuple[str, str, str]] = field(default_factory=list)
    unknown_types: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """fewner JSONL (readable by ``read_corpus``) plus ``status``, ``dropped``, ``answer``."""
        from fewner.data.formats.jsonl import sentence_record

        rec = sentence_record(self.sentence)
        rec["status"] = self.status
        rec["dropped"] = [{"label": lab, "mention": m, "reason": r} for lab, m, r in self.dropped]
        if self.unknown_types:
            rec["unknown_types"] = self.unknown_types
        rec["answer"] = self.answer
        return rec


def annotate_answer(
    sentence: Sentence, answer: str, types: Sequence[str], lead: str = ""
) -> Annotation:
    """Parse one answer for one sentence (``lead`` is the text the prompt ended with: the
    answer continues it, so ``Answer:`` is put back in front before parsing)."""
    parsed = parse_dictionary(lead + answer, types)
    placed = None if parsed.mentions is None else mentions_to_spans(sentence, parsed.mentions)
    status = sentence_status(parsed, placed)
    stats: Counter[str] = Counter(parsed.stats)
    stats[f"status_{status}"] += 1
    spans = [] if placed is None else placed.spans
    if placed is not None:
        stats.update(placed.stats)
    return Annotation(
        sentence=sentence.with_spans(spans),
        status=status,
        answer=answer,
        stats=stats,
        dropped=[] if placed is None else placed.dropped,
        unknown_types=parsed.unknown_keys,
    )


class Annotator:
    """Annotates sentences with a backend, in batches (see the module docstring).

    ``params`` default: greedy, 128 new tokens (standard) or 256 (cot), stopping at a new
    ``Text:`` (small models go on to invent the next example).
    """

    def __init__(
        self,
        backend: Backend,
        prompt: AnnotationPrompt,
        params: GenerationParams | None = None,
        batch_size: int = 8,
        chat: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.backend = backend
        self.prompt = prompt
        self.batch_size = batch_size
        self.chat = chat
        self.params = params or GenerationParams(
            max_new_tokens=256 if prompt.style == "cot" else 128, stop=("\nText:", "\n\n\n")
        )

    def settings(self) -> dict[str, Any]:
        """What a run config records about the annotator."""
        return {
            "style": self.prompt.style,
            "types": list(self.prompt.types),
            "demos": [d.id for d in self.prompt.demos],
            "chat": self.chat,
            "batch_size": self.batch_size,
            "generation": self.params.as_dict(),
            "backend_model": self.backend.model_id,
        }

    def iter_annotate(self, sentences: Sequence[Sentence]) -> Iterator[list[Annotation]]:
        """Yield the annotations batch by batch (for progress bars and incremental output)."""
        lead = "" if self.prompt.style == "cot" else "Answer:"
        for start in range(0, len(sentences), self.batch_size):
            batch = sentences[start : start + self.batch_size]
            prompts = [self.prompt.render(s, self.backend, self.chat) for s in batch]
            answers = self.backend.generate(prompts, self.params)
            yield [
                annotate_answer(s, a, self.prompt.types, lead=lead)
                for s, a in zip(batch, answers, strict=True)
            ]

    def annotate(self, sentences: Sequence[Sentence]) -> list[Annotation]:
        return [a for batch in self.iter_annotate(sentences) for a in batch]
