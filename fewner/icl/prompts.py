"""The prompts of the three EL4NER stages and the parsers of their answers.

Plain-text completion prompts, the same for all models (no chat template: Gemma-3-270m is a base
model, and one layout keeps the cache and the comparison between models fair). Stages 1 and 2
share one *context* — the instruction, the demonstrations, then ``Sentence: <query>`` — so a
backend that reuses the previous prompt's KV cache (llama.cpp) evaluates it once per sentence and
model for both stages::

    Task: find the named entities in a sentence and give the type of each.
    Entity types:
    - PER: the name of a person ...
    (demonstrations, each:)
    Sentence: Fernandez was forced to withdraw from the U.S. Open .
    Entities: <<< Fernandez >>> <<< U.S. Open >>>
    Fernandez is a: PER
    U.S. Open is a: MISC

    Sentence: <query>
    Entities:                      <- stage 1 asks here: " <<< X >>> <<< Y >>>" or " none"
    Entities: <<< X >>> <<< Y >>>
    Y is a:                        <- stage 2, per kept span: " LOC" (or " none")

Stage 3 has its own context over the same demonstrations, where each shows yes/no checks right
after its sentence, exactly where the query's question comes::

    Task: check whether a phrase of a sentence is a named entity of the given type. ...
    Sentence: Fernandez was forced to withdraw from the U.S. Open .
    Is "withdraw" a PER? no        <- a word outside every entity
    Is "Fernandez" a PER? yes      <- gold spans, alternately with their type and a wrong one
    Is "U.S. Open" a LOC? no

    Sentence: <query>
    Is "Y" a LOC?                  <- stage 3, per typed span: " yes" / " no"

Why a second context (one more prompt evaluation per sentence and model): with the check lines
inside the stage-1/2 demonstrations, after their type lines, the query's question followed its
``Sentence:`` line directly, a layout no demonstration showed, and small models then answered
``no`` to nearly every check, so self-validation removed correct spans (measurements:
docs/design-notes.md, fewner/icl/prompts.py).

Parsing never raises: stage 1 reuses :func:`fewner.prompts.parse_answer` (its counters say what
was malformed); stages 2 and 3 read the first word of the answer's first line, and anything that
is not a type / ``none`` or ``yes`` / ``no`` is a parse failure (``None``), counted per model by
the pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fewner.decoding.choice import ChoiceConstraint
from fewner.decoding.constraint import Constraint
from fewner.decoding.grammar import AnswerGrammar
from fewner.icl.candidates import STOPWORDS
from fewner.icl.voting import NONE
from fewner.prompts.parse import ParseResult, parse_answer
from fewner.types import Sentence

__all__ = ["ICL_GRAMMAR", "SPAN_LABEL", "IclPrompter", "parse_type", "parse_yes_no"]

#: Stage-1 answers, after the prompt's ``Entities:``: `` <<< X >>> <<< Y >>>`` or `` none``.
ICL_GRAMMAR = AnswerGrammar(prefix="", open=" <<< ", close=" >>>", separator="", none=" none")

#: Label of stage-1 spans before they have a type.
SPAN_LABEL = "span"

_WORD = re.compile(r"[^\s.,;:!?\"'()\[\]]+")
_YES = {"yes", "true", "correct", "y"}
_NO = {"no", "false", "incorrect", "wrong", "n"}
_NONE_WORDS = {NONE, "nothing", "o", "null", "other"}


def _outside_word(sentence: Sentence) -> str | None:
    """The longest word outside every span with a letter in it (first on ties), or None."""
    words = [
        t.text
        for t in sentence.tokens
        if not any(s.start < t.end and t.start < s.end for s in sentence.spans)
        and any(ch.isalpha() for ch in t.text)
        and t.text.lower() not in STOPWORDS
    ]
    return max(words, key=len) if words else None


def _first_line(answer: str) -> str:
    return (answer or "").strip().split("\n", 1)[0].strip()


def parse_type(answer: str, types: Sequence[str]) -> str | None:
    """The type named by a stage-2 answer, :data:`NONE`, or None when it names neither.

    Accepted: the exact type name, the same in another letter case, or a BIO tag of it
    (``B-PER``); as the whole first line (as written, then without surrounding punctuation, so
    a type ``U.S.`` reads back) or its first word.
    """
    line = _first_line(answer)
    if not line:
        return None
    by_lower = {t.lower(): t for t in types}
    pieces = [line, line.strip(" .,;:!\"'"), *_WORD.findall(line)[:1]]
    for piece in pieces:
        for candidate in (piece, re.sub(r"^[BIES]-", "", piece)):
            if candidate in types:
                return candidate
            if candidate.lower() in by_lower:
                return by_lower[candidate.lower()]
            if candidate.lower() in _NONE_WORDS:
                return NONE
    return None


def parse_yes_no(answer: str) -> bool | None:
    """True for yes, False for no (first word of the first line), None otherwise."""
    words = _WORD.findall(_first_line(answer).lower())
    if not words:
        return None
    if words[0] in _YES:
        return True
    if words[0] in _NO:
        return False
    return None


@dataclass(frozen=True)
class IclPrompter:
    """Builds the stage prompts for ``types`` (with optional one-line ``definitions``)."""

    types: tuple[str, ...]
    definitions: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", tuple(self.types))
        if not self.types:
            raise ValueError("at least one entity type is needed")
        if NONE in self.types:
            raise ValueError(f"{NONE!r} is reserved for 'no entity' and cannot be a type")

    # ----- shared context ----------------------------------------------------------------
    def header(self) -> str:
        lines = [
            "Task: find the named entities in a sentence and give the type of each.",
            "Entity types:",
        ]
        for t in self.types:
            definition = self.definitions.get(t)
            lines.append(f"- {t}: {definition}" if definition else f"- {t}")
        lines.append('A sentence without entities has "Entities: none".')
        return "\n".join(lines) + "\n\n"

    def demonstration(self, sentence: Sentence) -> str:
        """One stage-1/2 demonstration: the sentence, its mentions and their types."""
        mentions = [sentence.mention(s) for s in sentence.spans]
        lines = [f"Sentence: {sentence.text}", "Entities:" + ICL_GRAMMAR.render(mentions)]
        lines += [f"{m} is a: {s.label}" for m, s in zip(mentions, sentence.spans, strict=True)]
        return "\n".join(lines) + "\n\n"

    def check_demonstration(self, sentence: Sentence, index: int = 0) -> str:
        """One stage-3 demonstration: yes/no checks on ``sentence`` (module docstring).

        ``index`` (the block's distance from the query) sets the phase of the yes/no alternation:
        the block nearest the query asks its first gold span with the right type.
        """
        lines = [f"Sentence: {sentence.text}"]
        outside = _outside_word(sentence)
        if outside is not None:
            asked = sentence.spans[0].label if sentence.spans else self.types[0]
            lines.append(f'Is "{outside}" a {asked}? no')
        for j, span in enumerate(sentence.spans):
            mention = sentence.mention(span)
            ask_true = (index + j) % 2 == 0 or len(self.types) < 2
            asked = span.label if ask_true else self._other_type(span.label)
            lines.append(f'Is "{mention}" a {asked}? {"yes" if asked == span.label else "no"}')
        return "\n".join(lines) + "\n\n"

    def _other_type(self, label: str) -> str:
        if label not in self.types:
            return self.types[0]
        return self.types[(self.types.index(label) + 1) % len(self.types)]

    def context(self, demonstrations: Sequence[Sentence], query: Sentence) -> str:
        """The prefix the stage-1 and stage-2 prompts for ``query`` share."""
        blocks = "".join(self.demonstration(d) for d in demonstrations)
        return f"{self.header()}{blocks}Sentence: {query.text}\n"

    def validation_context(self, demonstrations: Sequence[Sentence], query: Sentence) -> str:
        """The prefix of the stage-3 prompts for ``query``."""
        n = len(demonstrations)
        blocks = "".join(
            self.check_demonstration(d, n - 1 - i) for i, d in enumerate(demonstrations)
        )
        return f"{self.check_header()}{blocks}Sentence: {query.text}\n"

    def check_header(self) -> str:
        lines = [
            "Task: check whether a phrase of a sentence is a named entity of the given type.",
            "Entity types:",
        ]
        for t in self.types:
            definition = self.definitions.get(t)
            lines.append(f"- {t}: {definition}" if definition else f"- {t}")
        lines.append("Answer yes or no.")
        return "\n".join(lines) + "\n\n"

    # ----- stage prompts -----------------------------------------------------------------
    @staticmethod
    def extraction_prompt(context: str) -> str:
        return context + "Entities:"

    @staticmethod
    def classification_prompt(context: str, mentions: Sequence[str], mention: str) -> str:
        return f"{context}Entities:{ICL_GRAMMAR.render(mentions)}\n{mention} is a:"

    def classification_constraint(self) -> ChoiceConstraint:
        """Stage-2 answers restricted to `` TYPE`` or `` none`` (``classify.constrained``)."""
        return ChoiceConstraint([*self.types, NONE])

    @staticmethod
    def validation_constraint() -> ChoiceConstraint:
        """Stage-3 answers restricted to `` yes`` or `` no`` (with ``classify.constrained``: a
        stage-3 answer decoded under the type-name constraint could never be read)."""
        return ChoiceConstraint(["yes", "no"])

    @staticmethod
    def validation_prompt(validation_context: str, mention: str, entity_type: str) -> str:
        return f'{validation_context}Is "{mention}" a {entity_type}?'

    # ----- stage-1 answers ---------------------------------------------------------------
    @staticmethod
    def extraction_constraint(
        sentence: Sentence, *, max_words: int, max_mentions: int | None
    ) -> Constraint:
        """Mentions must be word-aligned substrings of ``sentence`` (llama.cpp: a grammar)."""
        return Constraint.for_sentence(
            sentence, ICL_GRAMMAR, max_words=max_words, max_mentions=max_mentions
        )

    @staticmethod
    def parse_extraction(answer: str, sentence: Sentence) -> ParseResult:
        """Spans (labelled :data:`SPAN_LABEL`) named by a stage-1 answer, with parse counters."""
        return parse_answer(answer, sentence.text, SPAN_LABEL, ICL_GRAMMAR, sentence.tokens)
