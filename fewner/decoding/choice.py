"""A closed-set answer constraint: the completion must be one of a few literal choices.

Why: in EL4NER's stage 2 (:mod:`fewner.icl`) every model names the type of a span. Small models
often answer with a word of their own ("company" for ``corporation``, "city" for ``location``),
and such an answer is a lost vote. Restricting the answer to ``" TYPE"`` or ``" none"`` while
decoding turns it into the model's most likely listed type instead (whether that type is right
is another matter: the README's EL4NER section has the measured effect; measurements:
docs/design-notes.md, fewner/decoding/choice.py).

It speaks the part of the :class:`~fewner.decoding.constraint.Constraint` protocol that grammar
backends use: :meth:`gbnf` (llama.cpp, in process or as a server), :meth:`regex` (vLLM guided
decoding), :meth:`enforce` / :meth:`filter` (checks after generation, counting what they remove)
and :meth:`fingerprint` (answer-cache keys). It has no byte automaton, so the transformers
backend, which steers tokens with one, refuses it with a clear error.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence

from fewner.decoding.constraint import gbnf_literal, regex_literal

__all__ = ["ChoiceConstraint"]


class ChoiceConstraint:
    """Answers ``lead + choice`` for one of ``choices`` (e.g. ``" person"``), nothing else.

    ``lead`` is written before the choice because the prompt ends with a colon
    (``... is a:``) and a model writes a space next; without it the grammar would force a
    tokenisation the model never saw.
    """

    def __init__(self, choices: Sequence[str], lead: str = " ") -> None:
        unique = list(dict.fromkeys(choices))
        if not unique or any(not c or c != c.strip() for c in unique):
            raise ValueError("choices must be non-empty strings without surrounding spaces")
        self.choices = tuple(unique)
        self.lead = lead

    def _answers(self) -> list[str]:
        # longest first, for regex engines that take the first alternative that matches
        return [self.lead + c for c in sorted(self.choices, key=lambda c: (-len(c), c))]

    def gbnf(self) -> str:
        """A llama.cpp GBNF grammar: exactly one of the answers."""
        return "root ::= " + " | ".join(gbnf_literal(a) for a in self._answers()) + "\n"

    def regex(self) -> str:
        """A portable regular expression for the same language (guided decoding)."""
        return "(?:" + "|".join(regex_literal(a) for a in self._answers()) + ")"

    def fingerprint(self) -> str:
        """Stable identity for answer-cache keys."""
        payload = json.dumps({"choices": self.choices, "lead": self.lead})
        return "choice:" + hashlib.sha256(payload.encode()).hexdigest()

    def accepts(self, text: str) -> bool:
        return text in {self.lead + c for c in self.choices}

    def enforce(self, text: str) -> tuple[str, Counter[str]]:
        """``text`` when it is an answer (surrounding spaces aside), else ``""``.

        The removed text is counted, so a backend shows when a server ignored the grammar;
        the empty answer then fails to parse and abstains from the vote, as any failure does.
        """
        stripped = text.strip()
        if stripped in self.choices:
            return self.lead + stripped, Counter()
        return "", Counter({stripped: 1}) if stripped else Counter()

    filter = enforce

    def __repr__(self) -> str:
        return f"ChoiceConstraint({list(self.choices)!r}, lead={self.lead!r})"
