"""Read a model's answer back into character spans of the input sentence.

The answer language is an :class:`~fewner.decoding.AnswerGrammar` (``... <<< CTV >>> <<< BBC >>>``
or a fixed none answer). Parsing never raises on model output: everything it cannot use is
dropped and counted in :attr:`ParseResult.stats` (a ``Counter``; add the counters of many answers
to report a run). The keys (:data:`STAT_KEYS`):

``answers``            one per parsed answer
``none``               the none answer (possibly followed by chatter)
``mentions``           mentions read between the markers
``exact`` / ``case`` / ``whitespace``
                       mentions resolved at that level (the first level that matched): verbatim;
                       ignoring letter case; ignoring whitespace and case (``U.S.`` in the answer,
                       ``U.S .`` in a tokenized text, or the reverse)
``unaligned``          resolved mentions whose span does not start and end on token boundaries
``not_found``          mentions that occur nowhere in the text at any level (dropped)
``repeat_exhausted``   mentions written more often than they occur (the extra ones dropped)
``empty_mention``      nothing between the markers
``unclosed``           an open marker followed by another open marker before a close: the text
                       before the second one is dropped
``truncated``          an answer cut off: an open marker without its close (the partial mention
                       is dropped), or text that stops inside the prefix or the none answer
``unparseable``        text (or no text) that is neither the none answer nor holds any mention
``none_with_mentions`` the none answer and mentions in one text (the mentions are kept)
``refused``            the refusal answer ("not sure", :attr:`AnswerGrammar.refusal`) and no
                       mention: an abstention, kept apart from the none answer
                       (:attr:`ParseResult.is_refusal`); a refusal with mentions keeps the mentions

Where a mention occurs more than once, which occurrence: occurrences already taken by an earlier
mention of the answer are never reused, so a repeated mention takes successive occurrences left to
right. Among the free ones the order of preference is: word-aligned (starting and ending on the
sentence's token boundaries) before unaligned, whatever the level, so ``us`` in ``US plans to
focus`` resolves to ``US`` (case), not to the ``us`` inside ``focus``; then the level (exact,
case, whitespace); then not overlapping a span already taken (``New York`` then ``York`` takes a
later standalone ``York``); then leftmost. A consequence
of the format, not of the parser: if a gold mention's text also occurs untagged *before* it, the
answer cannot say which occurrence it meant, and parsing returns the earlier one.

Mentions containing a marker (``>>>``) cannot be written in this format at all; see
:func:`representable`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from fewner.decoding.grammar import AnswerGrammar
from fewner.types import Span, Token

__all__ = ["STAT_KEYS", "ParseResult", "parse_answer", "read_mentions", "representable"]

STAT_KEYS = (
    "answers",
    "none",
    "mentions",
    "exact",
    "case",
    "whitespace",
    "unaligned",
    "not_found",
    "repeat_exhausted",
    "empty_mention",
    "unclosed",
    "truncated",
    "unparseable",
    "none_with_mentions",
    "refused",
)

_LEVELS = ("exact", "case", "whitespace")


@dataclass(frozen=True)
class ParseResult:
    """Spans read from one answer (sorted), what happened (``stats``), and the dropped mentions."""

    spans: tuple[Span, ...]
    stats: Counter[str] = field(default_factory=Counter)
    mentions: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()

    @property
    def is_none(self) -> bool:
        return bool(self.stats["none"]) and not self.mentions

    @property
    def is_refusal(self) -> bool:
        """The model abstained ("not sure"): no spans, and NOT the same as "no entity"."""
        return bool(self.stats["refused"]) and not self.mentions


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def read_mentions(text: str, grammar: AnswerGrammar) -> tuple[list[str], Counter[str]]:
    """The mentions between the markers of ``text`` in order, and counts of what was malformed.

    Unlike :meth:`AnswerGrammar.mentions_in` it notices an open marker without a close
    (``truncated``) and an open marker inside a mention (``unclosed``).
    """
    open_m, close_m = grammar.markers
    stats: Counter[str] = Counter()
    found: list[str] = []
    pos = 0
    while (start := text.find(open_m, pos)) >= 0:
        body_start = start + len(open_m)
        end = text.find(close_m, body_start)
        if end < 0:
            stats["truncated"] += 1
            break
        pieces = text[body_start:end].split(open_m)
        if lost := sum(1 for p in pieces[:-1] if p.strip()):
            stats["unclosed"] += lost
        mention = pieces[-1].strip()
        if mention:
            found.append(mention)
        else:
            stats["empty_mention"] += 1
        pos = end + len(close_m)
    return found, stats


def representable(mention: str, grammar: AnswerGrammar) -> bool:
    """True when ``mention`` written in ``grammar`` reads back as itself.

    False for mentions containing a marker (``a >>> b``), with leading/trailing whitespace, or
    empty: such gold mentions cannot be targets (:class:`~fewner.prompts.ExtractionFormat` drops
    and reports them), just as the decoding constraint excludes them.
    """
    if not mention or mention != mention.strip():
        return False
    if any(m in mention for m in grammar.markers):
        return False
    found, stats = read_mentions(grammar.render([mention]), grammar)
    return found == [mention] and not +stats


def _pattern(mention: str, level: str) -> re.Pattern[str]:
    if level == "whitespace":
        body = r"\s*".join(re.escape(c) for c in mention if not c.isspace())
    else:
        body = re.escape(mention)
    flags = re.DOTALL | (0 if level == "exact" else re.IGNORECASE)
    return re.compile(f"(?=({body}))", flags)  # lookahead: overlapping occurrences too


class _Resolver:
    """Maps mention strings of one answer to free occurrences in one text."""

    def __init__(self, text: str, tokens: Sequence[Token]) -> None:
        self.text = text
        self.starts = {t.start for t in tokens}
        self.ends = {t.end for t in tokens}
        self.has_tokens = bool(tokens)
        self.taken: list[tuple[int, int]] = []

    def aligned(self, start: int, end: int) -> bool:
        return not self.has_tokens or (start in self.starts and end in self.ends)

    def resolve(self, mention: str) -> tuple[tuple[int, int] | None, str, bool]:
        """``(span or None, level or failure reason, aligned)``; takes the span it returns."""
        seen_any = False
        found: dict[str, list[tuple[int, int]]] = {}
        for level in _LEVELS:
            occ = [(m.start(1), m.end(1)) for m in _pattern(mention, level).finditer(self.text)]
            occ = [o for o in occ if o[1] > o[0]]
            seen_any = seen_any or bool(occ)
            found[level] = [o for o in occ if o not in self.taken]
        for want_aligned in (True, False):
            for level in _LEVELS:
                free = [o for o in found[level] if self.aligned(*o) == want_aligned]
                if free:
                    best = min(free, key=lambda o: (self._overlaps(o), o[0], -o[1]))
                    self.taken.append(best)
                    return best, level, want_aligned
        return None, ("repeat_exhausted" if seen_any else "not_found"), False

    def _overlaps(self, span: tuple[int, int]) -> bool:
        return any(span[0] < e and s < span[1] for s, e in self.taken)


def _none_core(grammar: AnswerGrammar, text: str | None = None) -> str:
    """The none answer (or ``text``, e.g. the refusal answer) without the grammar's suffix
    (servers often cut the text at it)."""
    none = (grammar.none if text is None else text) or ""
    suffix = grammar.suffix.strip()
    if suffix and none.rstrip().endswith(suffix):
        none = none.rstrip()[: -len(suffix)]
    return _norm(none)


def parse_answer(
    answer_text: str,
    text: str,
    label: str,
    grammar: AnswerGrammar,
    tokens: Sequence[Token] = (),
) -> ParseResult:
    """Spans of type ``label`` that ``answer_text`` names in ``text`` (see the module docstring).

    ``tokens``: the sentence's tokens, for the word-aligned preference (without them every
    occurrence counts as aligned).
    """
    answer_text = answer_text if isinstance(answer_text, str) else ""
    stats: Counter[str] = Counter(answers=1)
    mentions, malformed = read_mentions(answer_text, grammar)
    stats.update(malformed)
    normalized = _norm(answer_text)
    core = _none_core(grammar) if grammar.none is not None else ""
    says_none = bool(core) and core in normalized
    if says_none:
        stats["none"] += 1
    refusal = _none_core(grammar, grammar.refusal) if grammar.refusal else ""
    if not mentions and not says_none and refusal and refusal in normalized:
        stats["refused"] += 1
        return ParseResult((), stats)
    if not mentions:
        if not says_none and not malformed["truncated"]:
            prefixes = [_norm(grammar.prefix), core, refusal]
            if normalized and any(p.startswith(normalized) for p in prefixes if p):
                stats["truncated"] += 1
            elif not malformed:
                stats["unparseable"] += 1
        return ParseResult((), stats)
    if says_none:
        stats["none_with_mentions"] += 1

    resolver = _Resolver(text, tokens)
    spans: list[Span] = []
    dropped: list[str] = []
    for mention in mentions:
        stats["mentions"] += 1
        where, outcome, aligned = resolver.resolve(mention)
        stats[outcome] += 1
        if where is None:
            dropped.append(mention)
            continue
        if not aligned:
            stats["unaligned"] += 1
        spans.append(Span(where[0], where[1], label))
    return ParseResult(tuple(sorted(spans)), stats, tuple(mentions), tuple(dropped))
