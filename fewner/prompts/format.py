"""The extraction output format: one object owns prompts, targets, parsing and the constraint.

Why one object (docs/architecture.md, "Span rules every predictor shares"): SFT targets, DPO
pairs, decoding constraints and the parser must speak the same answer language; they all take
it from ``self.grammar``, the template's :class:`~fewner.decoding.AnswerGrammar`, so they cannot
drift apart.

Prompting is per (sentence, entity type): a sentence with N candidate types costs N prompts,
each answered with the mentions of that one type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from fewner.decoding.constraint import Constraint
from fewner.decoding.grammar import AnswerGrammar
from fewner.prompts.definitions import Definitions, load_definitions
from fewner.prompts.parse import ParseResult, parse_answer, representable
from fewner.prompts.templates import PromptTemplate, load_template
from fewner.types import Sentence, Span

__all__ = ["ExtractionFormat"]


class ExtractionFormat:
    """Per-type extraction prompts in ``template`` with type ``definitions``.

    ``template``: a :class:`PromptTemplate` or a name/path for :func:`load_template`;
    ``definitions``: a mapping or a name/path for :func:`load_definitions`.
    """

    name = "extraction"

    def __init__(
        self,
        template: PromptTemplate | str | Path,
        definitions: Mapping[str, str] | str | Path,
    ) -> None:
        self.template = (
            template if isinstance(template, PromptTemplate) else load_template(template)
        )
        self.definitions = (
            definitions if isinstance(definitions, Definitions) else load_definitions(definitions)
        )

    @property
    def grammar(self) -> AnswerGrammar:
        return self.template.grammar

    # ----- prompts -----------------------------------------------------------------------
    def prompt(self, sentence: Sentence, entity_type: str) -> str:
        """The prompt asking for the mentions of ``entity_type`` in ``sentence``."""
        name = self.definitions.canonical(entity_type)
        return self.template.render_prompt(sentence.text, name, self.definitions[name])

    def prompts(self, sentence: Sentence, types: Iterable[str]) -> list[tuple[str, str]]:
        """``(type, prompt)`` for each type, in the given order.

        The prompt names a type in its definitions file's spelling (``person_actor`` is asked
        as ``person-actor``, as the model was trained); the returned type is the caller's.

        Checks all types first: a :class:`~fewner.prompts.MissingDefinitionError` lists every
        type without a definition, not just the first.
        """
        types = list(types)
        self.definitions.require(types)  # every missing type in one error
        return [(t, self.prompt(sentence, t)) for t in types]

    # ----- targets -----------------------------------------------------------------------
    def target_mentions(self, sentence: Sentence, entity_type: str) -> tuple[list[str], list[Span]]:
        """Gold mentions of ``entity_type`` in order of occurrence, and the spans left out.

        A span whose text cannot be written in the answer language (it contains a marker such
        as ``>>>``, see :func:`~fewner.prompts.parse.representable`) is left out of the target
        and returned second, so callers can count it.
        """
        kept: list[str] = []
        dropped: list[Span] = []
        for span in sorted(
            (s for s in sentence.spans if s.label == entity_type), key=lambda s: (s.start, s.end)
        ):
            mention = sentence.mention(span)
            if representable(mention, self.grammar):
                kept.append(mention)
            else:
                dropped.append(span)
        return kept, dropped

    def target(self, sentence: Sentence, entity_type: str) -> str:
        """The gold answer for (``sentence``, ``entity_type``): what SFT trains the model to write."""
        return self.template.render_target(self.target_mentions(sentence, entity_type)[0])

    def refusal_target(self) -> str:
        """The refusal answer ("not sure"): what refusal-aware training teaches for prompts the
        model cannot answer (:mod:`fewner.grait`). Raises when the template has none."""
        if not self.grammar.refusal:
            raise ValueError(f"template {self.template.id} has no refusal answer")
        return self.grammar.refusal

    def examples(self, sentence: Sentence, types: Iterable[str]) -> list[tuple[str, str, str]]:
        """``(type, prompt, target)`` for each type: SFT examples from one labeled sentence."""
        return [(t, p, self.target(sentence, t)) for t, p in self.prompts(sentence, types)]

    # ----- inference ---------------------------------------------------------------------
    def parse(self, answer_text: str, sentence: Sentence, entity_type: str) -> ParseResult:
        """Spans of ``entity_type`` that ``answer_text`` names; never raises on model output."""
        return parse_answer(answer_text, sentence.text, entity_type, self.grammar, sentence.tokens)

    def constraint(self, sentence: Sentence, **options: object) -> Constraint:
        """The decoding constraint for answers about ``sentence`` in this format's grammar.

        ``options`` go to :meth:`Constraint.for_sentence` (``max_words``, ``max_mentions``,
        ``refusal`` to allow the abstention answer, ...).
        """
        return Constraint.for_sentence(sentence, self.grammar, **options)  # type: ignore[arg-type]
