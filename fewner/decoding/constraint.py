"""The substring constraint: one object, every backend.

A :class:`Constraint` describes the answers a model may give for one input: the
:class:`~fewner.decoding.grammar.AnswerGrammar` format whose mentions are word-aligned substrings
of the input (:func:`~fewner.decoding.candidates.candidate_spans`), each written at most as often
as it occurs. Each backend uses the strongest mechanism it has:

* token-level steering (transformers): :class:`fewner.decoding.hf.SubstringLogitsProcessor`,
  driven by :meth:`Constraint.matcher`;
* a grammar the server enforces: :meth:`Constraint.gbnf` (llama.cpp) or :meth:`Constraint.regex`
  (vLLM ``guided_regex``, other OpenAI-compatible servers);
* nothing: :meth:`Constraint.filter` after generation, which reports what it removed so the
  caller can count it.

Why not a whitelist of input tokens: it lets the model stitch non-contiguous pieces of the input
together; every mention here is a real substring.

The grammar's refusal answer (an abstention) is part of the language only with ``refusal=True``
(a model trained to abstain, :mod:`fewner.grait`); a refusal written anyway is never rewritten by
:meth:`filter` (it is an explicit "not sure", not a wrong mention, and must not become "none").

Grammars and regexes cannot count cheaply, so :meth:`gbnf` and :meth:`regex` do not enforce the
per-mention repeat limit (they do enforce ``max_mentions``); :meth:`filter` applies it
afterwards. ``accepts(text, limit_repeats=False)`` describes exactly the language of
:meth:`gbnf` and :meth:`regex`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cached_property

from fewner.decoding.automaton import Matcher, Program
from fewner.decoding.candidates import DEFAULT_MAX_WORDS, Candidates, candidate_spans
from fewner.decoding.grammar import OBP_GRAMMAR, AnswerGrammar
from fewner.types import Sentence, Token

__all__ = ["Constraint", "gbnf_literal", "regex_literal"]


class Constraint:
    """Answers in ``grammar`` whose mentions are ``candidates`` (at most ``count`` times each).

    Candidates containing a marker of the grammar (``<<<`` / ``>>>``) are left out (see
    ``excluded``): an answer containing them could not be parsed back unambiguously.
    """

    def __init__(
        self,
        candidates: Candidates,
        grammar: AnswerGrammar = OBP_GRAMMAR,
        *,
        limit_repeats: bool = True,
        max_mentions: int | None = None,
        refusal: bool = False,
    ) -> None:
        if max_mentions is not None and max_mentions < 1:
            raise ValueError("max_mentions must be >= 1 (or None)")
        markers = grammar.markers
        bad = {t for t in candidates if any(m in t for m in markers)}
        self.candidates = candidates.without(bad) if bad else candidates
        self.excluded = tuple(sorted(bad))
        self.grammar = grammar
        self.limit_repeats = limit_repeats
        self.max_mentions = max_mentions
        self.refusal = bool(refusal and grammar.refusal)

    # ----- construction ------------------------------------------------------------------
    @classmethod
    def for_sentence(
        cls,
        sentence: Sentence,
        grammar: AnswerGrammar = OBP_GRAMMAR,
        *,
        max_words: int = DEFAULT_MAX_WORDS,
        edge_punctuation: bool = False,
        limit_repeats: bool = True,
        max_mentions: int | None = None,
        refusal: bool = False,
    ) -> Constraint:
        cands = candidate_spans(sentence, max_words=max_words, edge_punctuation=edge_punctuation)
        return cls(
            cands, grammar, limit_repeats=limit_repeats, max_mentions=max_mentions, refusal=refusal
        )

    @classmethod
    def for_text(
        cls,
        text: str,
        tokens: Sequence[Token] | None = None,
        grammar: AnswerGrammar = OBP_GRAMMAR,
        *,
        max_words: int = DEFAULT_MAX_WORDS,
        edge_punctuation: bool = False,
        limit_repeats: bool = True,
        max_mentions: int | None = None,
        refusal: bool = False,
    ) -> Constraint:
        cands = candidate_spans(
            text, tokens, max_words=max_words, edge_punctuation=edge_punctuation
        )
        return cls(
            cands, grammar, limit_repeats=limit_repeats, max_mentions=max_mentions, refusal=refusal
        )

    @classmethod
    def for_mentions(
        cls,
        mentions: Iterable[str],
        grammar: AnswerGrammar = OBP_GRAMMAR,
        *,
        limit_repeats: bool = True,
    ) -> Constraint:
        """A constraint over an explicit mention list (repeats in the list raise the limit)."""
        counts = Counter(mentions)
        occ = {m: ((0, 0),) * n for m, n in counts.items()}
        return cls(Candidates("", occ), grammar, limit_repeats=limit_repeats)

    # ----- automaton ---------------------------------------------------------------------
    @cached_property
    def program(self) -> Program:
        """The compiled byte automaton (built on first use, shared by all matchers)."""
        mentions = list(self.candidates)
        limits = [self.candidates.count(m) for m in mentions]
        return Program(self.grammar, mentions, limits, self.max_mentions, refusal=self.refusal)

    def matcher(self, limit_repeats: bool | None = None) -> Matcher:
        """A fresh incremental matcher (one per generated row)."""
        limit = self.limit_repeats if limit_repeats is None else limit_repeats
        return Matcher(self.program, limit_repeats=limit)

    def accepts(self, text: str, *, limit_repeats: bool | None = None) -> bool:
        """True when ``text`` is a complete answer in the language."""
        m = self.matcher(limit_repeats)
        return m.feed(text.encode()) and m.accepting

    def is_prefix(self, text: str) -> bool:
        """True when ``text`` can still be completed to an accepted answer."""
        return self.matcher().feed(text.encode())

    # ----- post-generation filtering -----------------------------------------------------
    def enforce(self, text: str) -> tuple[str, Counter[str]]:
        """Enforce the constraint after generation, as backends that cannot steer tokens must.

        ``text`` comes back unchanged while it can still lead into the language (a valid answer
        cut short by ``max_new_tokens`` stays as it is, for the parser to count as truncated);
        otherwise :meth:`filter` repairs it. Returns the text and the mentions removed.
        """
        if self.is_prefix(text):
            return text, Counter()
        return self.filter(text)

    def is_refusal(self, text: str) -> bool:
        """True when ``text`` is the grammar's refusal answer (spacing and case aside)."""
        refusal = self.grammar.refusal
        return bool(refusal) and " ".join(text.split()).lower() == " ".join(
            refusal.split()  # type: ignore[union-attr]
        ).lower()

    def filter(self, text: str) -> tuple[str, Counter[str]]:
        """Keep the valid mentions of ``text``; return the canonical answer and what was removed.

        An accepted text comes back unchanged. Otherwise the mentions between the markers are
        read leniently (prefix missing, trailing chatter, ...); a mention that is not a candidate,
        or that repeats more often than it occurs, is dropped and counted in ``removed``; the
        kept ones are rendered with the grammar (the none answer when none is kept; "" if the
        grammar has no none answer).
        """
        if self.accepts(text) or self.is_refusal(text):
            return text, Counter()
        removed: Counter[str] = Counter()
        used: Counter[str] = Counter()
        kept: list[str] = []
        for mention in self.grammar.mentions_in(text):
            over = self.limit_repeats and used[mention] >= self.candidates.count(mention)
            full = self.max_mentions is not None and len(kept) >= self.max_mentions
            if mention not in self.candidates or over or full:
                removed[mention] += 1
                continue
            used[mention] += 1
            kept.append(mention)
        if not kept and self.grammar.none is None:
            return "", removed
        return self.grammar.render(kept), removed

    # ----- server-side grammars ----------------------------------------------------------
    def regex(self) -> str:
        """A regular expression for the language (without repeat limits), for guided decoding.

        Only portable syntax: literal characters, escapes of regex metacharacters, ``(?:...)``,
        ``|`` and ``*``; accepted by Python ``re``, vLLM's ``guided_regex`` back ends and JS.
        """
        g = self.grammar
        mentions = sorted(self.candidates, key=lambda m: (-len(m), m))
        parts: list[str] = []
        if mentions:
            alt = "|".join(regex_literal(m) for m in mentions)
            one = f"{regex_literal(g.open)}(?:{alt}){regex_literal(g.close)}"
            parts.append(
                f"{regex_literal(g.prefix)}{one}(?:{regex_literal(g.separator)}{one}){self._more()}"
                f"{regex_literal(g.suffix)}"
            )
        if g.none is not None:
            parts.append(regex_literal(g.none))
        if self.refusal:
            parts.append(regex_literal(g.refusal or ""))
        if not parts:
            return "(?!)"  # nothing is allowed
        return "(?:" + "|".join(parts) + ")"

    def _more(self) -> str:
        """Repetition of the mentions after the first: ``*`` or ``{0,k}`` under a cap."""
        return "*" if self.max_mentions is None else f"{{0,{self.max_mentions - 1}}}"

    def gbnf(self) -> str:
        """A llama.cpp GBNF grammar for the language (without repeat limits)."""
        g = self.grammar
        rules: list[str] = []
        alternatives: list[str] = []
        mentions = sorted(self.candidates, key=lambda m: (-len(m), m))
        if mentions:
            more = _gbnf_seq(gbnf_literal(g.separator), "mention")
            alternatives.append(
                _gbnf_seq(
                    gbnf_literal(g.prefix),
                    "mention",
                    f"({more}){self._more()}",
                    gbnf_literal(g.suffix),
                )
            )
            rules.append(
                f"mention ::= {_gbnf_seq(gbnf_literal(g.open), 'span', gbnf_literal(g.close))}"
            )
            rules.append("span ::= " + " | ".join(gbnf_literal(m) for m in mentions))
        if g.none is not None:
            alternatives.append(gbnf_literal(g.none))
        if self.refusal:
            alternatives.append(gbnf_literal(g.refusal or ""))
        if not alternatives:
            raise ValueError("the constraint allows no answer at all: no grammar can express it")
        return "\n".join([f"root ::= {' | '.join(alternatives)}", *rules]) + "\n"


_REGEX_META = set("\\.^$|?*+()[]{}/")


def regex_literal(text: str) -> str:
    """``text`` with regex metacharacters escaped (portable syntax; see :meth:`Constraint.regex`)."""
    out = []
    for ch in text:
        if ch in _REGEX_META:
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def _gbnf_seq(*items: str) -> str:
    """Join GBNF sequence items, leaving out empty ones (an empty literal renders as "")."""
    return " ".join(item for item in items if item)


def gbnf_literal(text: str) -> str:
    """``text`` as a quoted GBNF literal; "" for empty text (left out of sequences)."""
    if not text:
        return ""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)
