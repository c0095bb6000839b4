"""The answer format a constrained model must write, as data.

An answer is either

* ``prefix`` + one or more mentions, each ``open + mention + close``, joined by ``separator``,
  then ``suffix``; or
* the fixed ``none`` answer (when ``none`` is not None);
* the fixed ``refusal`` answer: an abstention ("not sure"), which a refusal-aware model
  (:mod:`fewner.grait`) writes instead of guessing. The parser always recognizes it; the
  decoding constraint allows it only when asked (``Constraint(..., refusal=True)``), so models
  never taught to abstain decode exactly as before.

The default is the OBP-LLM response format::

    The entities I extracted for you are <<< Sonmarg >>> <<< BBC >>>
    There are no entities of this type in the sentence.

Why a dataclass and not a hard-coded template: prompt templates are versioned and differ between
recipes (e.g. ``<im_start> I can extract entities for you, the extracted entities are <<< X >>>
<im_end>``); the same object renders training targets, parses outputs and builds the decoding
constraint, so the three cannot drift.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

__all__ = ["AnswerGrammar", "DEFAULT_REFUSAL", "OBP_GRAMMAR"]

#: The refusal answer of templates that do not set ``answer.refusal``.
DEFAULT_REFUSAL = "I am not sure about the entities of this type in the sentence."


@dataclass(frozen=True)
class AnswerGrammar:
    """Literal pieces of the answer language (see the module docstring)."""

    prefix: str = "The entities I extracted for you are"
    open: str = " <<< "
    close: str = " >>>"
    separator: str = ""
    suffix: str = ""
    none: str | None = "There are no entities of this type in the sentence."
    refusal: str | None = DEFAULT_REFUSAL

    def __post_init__(self) -> None:
        # Parsing finds mentions by the markers without their surrounding whitespace, so the
        # markers must have visible content and differ from each other.
        if not self.open.strip() or not self.close.strip():
            raise ValueError("open and close markers need non-whitespace content")
        if self.open.strip() == self.close.strip():
            raise ValueError("open and close markers must differ")
        if self.none is not None and not self.none:
            raise ValueError("the none answer must be non-empty (or None to forbid it)")
        if self.refusal is not None:
            if not self.refusal.strip():
                raise ValueError("the refusal answer must be non-empty (or None: no abstention)")
            if any(m in self.refusal for m in self.markers):
                raise ValueError("the refusal answer may not contain the open or close marker")
            if self.refusal == self.none or (self.prefix and self.refusal.startswith(self.prefix)):
                raise ValueError("the refusal answer must differ from the none and mention answers")

    @property
    def markers(self) -> tuple[str, str]:
        """The open and close markers stripped of whitespace, as searched for when parsing."""
        return self.open.strip(), self.close.strip()

    def render(self, mentions: Iterable[str]) -> str:
        """The answer text listing ``mentions`` (the none answer when there are none)."""
        items = [f"{self.open}{m}{self.close}" for m in mentions]
        if not items:
            if self.none is None:
                raise ValueError("this grammar has no none answer and no mentions were given")
            return self.none
        return f"{self.prefix}{self.separator.join(items)}{self.suffix}"

    @cached_property
    def _mention_re(self) -> re.Pattern[str]:
        o, c = (re.escape(m) for m in self.markers)
        return re.compile(rf"{o}(.*?){c}", re.DOTALL)

    def mentions_in(self, text: str) -> list[str]:
        """Mentions written between the markers anywhere in ``text``, whitespace-stripped, in order.

        Lenient on purpose: it reads unconstrained output (missing prefix, extra text after the
        answer) so that :meth:`fewner.decoding.Constraint.filter` can keep what is valid.
        """
        return [m.strip() for m in self._mention_re.findall(text) if m.strip()]


#: The OBP-LLM response format (the defaults).
OBP_GRAMMAR = AnswerGrammar()
