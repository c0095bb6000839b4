"""Read a teacher's dictionary answer (``{"PER": [...], "LOC": [...]}``) back into spans.

Small LLMs write the dictionary in many near-misses, so parsing is tolerant and never raises;
every repair and every dropped mention is counted in :attr:`DictAnswer.stats`:

* **where**: the text after the last ``Answer:`` when there is one (a chain-of-thought answer
  reasons first), else the whole answer; from its first ``{`` to the matching ``}`` (braces
  inside quoted strings do not count), so trailing chatter is ignored;
* **syntax**: JSON first, then a Python literal (single quotes, ``None``), then repairs:
  trailing commas removed, a truncated dictionary closed after its last complete list
  (``repaired`` counts these; ``python_literal`` the second case);
* **keys**: matched to the requested types ignoring case, and by prefix (``person`` -> ``PER``,
  ``Organization`` -> ``ORG``); other keys are ``unknown_type`` and their mentions are dropped;
  a dictionary wrapped in one outer key (``{"entities": {...}}``) is unwrapped (``nested``);
* **values**: a list of strings; a lone string counts as a one-item list, ``null`` as empty;
  other items are ``bad_value``.

Mentions become character spans by :func:`mentions_to_spans`: every word-aligned occurrence of a
listed string is labelled (a dictionary lists each name once, however often the sentence
repeats it), searched verbatim, then ignoring case, then ignoring whitespace (the first level
with an aligned occurrence wins). Longer mentions are placed first, so ``New York Times`` wins
over ``New York``; an occurrence overlapping a span already placed is ``overlap``; strings found
only inside words are ``unaligned``, strings found nowhere ``not_found``; all three are dropped
(a token classifier learns from whole words).

No torch here: parsing is unit-tested in milliseconds.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fewner.types import Sentence, Span

__all__ = [
    "STATUSES",
    "DictAnswer",
    "SpanResult",
    "find_dictionary",
    "mentions_to_spans",
    "parse_dictionary",
    "sentence_status",
]

# ok: parsed as written, every mention placed; repaired: parsed after a syntax repair;
# partial: parsed, but some mention (or type) was dropped; unparseable: no dictionary at all.
STATUSES = ("ok", "repaired", "partial", "unparseable")

_ANSWER_MARK = re.compile(r"answer\s*:", re.IGNORECASE)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


@dataclass
class DictAnswer:
    """The mentions per requested type (``None`` when nothing could be parsed) and counts."""

    mentions: dict[str, list[str]] | None
    stats: Counter[str] = field(default_factory=Counter)
    unknown_keys: list[str] = field(default_factory=list)


def find_dictionary(answer: str) -> tuple[str | None, bool]:
    """The dictionary text in ``answer`` and whether it was complete (a closing brace found).

    See the module docstring for where it looks. An unclosed dictionary comes back as the text
    from ``{`` to the end (``complete=False``), for :func:`parse_dictionary` to repair. An
    ``Answer:`` inside a complete dictionary (a mention ``"Answer: {"``) is content, not the mark.
    """
    inside = _dictionaries(answer)
    marks = [
        m for m in _ANSWER_MARK.finditer(answer) if not any(a <= m.start() < b for a, b in inside)
    ]
    segment = answer[marks[-1].end() :] if marks else answer
    if "{" not in segment and marks:
        segment = answer  # "Answer:" followed by prose; the dictionary may come earlier
    start = segment.find("{")
    if start < 0:
        return None, False
    end = _closing(segment, start)
    if end is None:
        return segment[start:], False
    return segment[start:end], True


def _closing(text: str, start: int) -> int | None:
    """The index after the brace closing the ``{`` at ``start`` (braces inside quoted strings do
    not count), or None when it is never closed."""
    depth, quote, escaped = 0, "", False
    for i in range(start, len(text)):
        c = text[i]
        if quote:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == quote:
                quote = ""
            continue
        if c in "\"'":
            quote = c
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _dictionaries(text: str) -> list[tuple[int, int]]:
    """``[start, end)`` of each complete top-level ``{...}`` in ``text``, left to right."""
    found: list[tuple[int, int]] = []
    pos = 0
    while (start := text.find("{", pos)) >= 0:
        end = _closing(text, start)
        if end is None:
            break
        found.append((start, end))
        pos = end
    return found


def _load(text: str) -> tuple[Any, str | None]:
    """``(value, how)``: ``how`` is None (plain JSON), ``python_literal`` or ``repaired``."""
    try:
        return json.loads(text), None
    except (ValueError, RecursionError):  # also a number too long to convert (not JSONDecodeError)
        pass
    try:
        return ast.literal_eval(text), "python_literal"
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        pass
    fixed = _TRAILING_COMMA.sub(r"\1", text)
    for loader in (json.loads, ast.literal_eval):
        try:
            return loader(fixed), "repaired"
        except Exception:  # noqa: BLE001 (any failure means: try the next repair)
            continue
    return None, None


def _close_truncated(text: str) -> str | None:
    """A truncated ``{"A": ["x", "y"], "B": ["z`` closed after its last complete list."""
    cut = text.rfind("]")
    if cut < 0:
        return None
    return text[: cut + 1].rstrip().rstrip(",") + "}"


def _match_key(key: str, types: Sequence[str]) -> str | None:
    k = key.strip().lower()
    for t in types:
        if k == t.lower():
            return t
    for t in types:  # "person" -> PER, "organisation" -> ORG
        if len(t) >= 3 and k.startswith(t.lower()):
            return t
    return None


def parse_dictionary(answer: str, types: Sequence[str]) -> DictAnswer:
    """Mentions per type from a teacher's answer; see the module docstring for the rules."""
    stats: Counter[str] = Counter()
    text, complete = find_dictionary(answer if isinstance(answer, str) else "")
    if text is None:
        stats["no_dictionary"] += 1
        return DictAnswer(None, stats)
    value, how = _load(text) if complete else (None, None)
    if value is None and not complete:
        closed = _close_truncated(text)
        value, _ = _load(closed) if closed is not None else (None, None)
        how = "repaired" if value is not None else None
        stats["truncated"] += 1
    if not isinstance(value, dict):
        stats["bad_syntax" if value is None else "not_a_dictionary"] += 1
        return DictAnswer(None, stats)
    if how is not None:
        stats[how] += 1
    if len(value) == 1:
        ((only_key, inner),) = value.items()
        if isinstance(inner, dict) and _match_key(str(only_key), types) is None:
            value = inner  # {"entities": {"PER": [...], ...}}
            stats["nested"] += 1
    mentions: dict[str, list[str]] = {t: [] for t in types}
    unknown: list[str] = []
    for key, raw in value.items():
        label = _match_key(str(key), types)
        if label is None:
            unknown.append(str(key))
            stats["unknown_type"] += 1
            continue
        items = [] if raw is None else [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple):
            stats["bad_value"] += 1
            continue
        for item in items:
            if isinstance(item, int | float) and not isinstance(item, bool):
                item = str(item)
            if not isinstance(item, str) or not item.strip():
                stats["bad_value"] += 1
                continue
            mentions[label].append(item.strip())
    return DictAnswer(mentions, stats, unknown)


@dataclass
class SpanResult:
    """Spans placed in one sentence, counts, and the dropped ``(type, mention, reason)``."""

    spans: list[Span]
    stats: Counter[str] = field(default_factory=Counter)
    dropped: list[tuple[str, str, str]] = field(default_factory=list)


def _occurrences(mention: str, text: str, level: str) -> list[tuple[int, int]]:
    if level == "whitespace":
        body = r"\s*".join(re.escape(c) for c in mention if not c.isspace())
    else:
        body = re.escape(mention)
    if not body:
        return []
    flags = re.DOTALL | (0 if level == "exact" else re.IGNORECASE)
    return [
        (m.start(1), m.end(1))
        for m in re.finditer(f"(?=({body}))", text, flags)
        if m.end(1) > m.start(1)
    ]


def mentions_to_spans(sentence: Sentence, mentions: Mapping[str, Sequence[str]]) -> SpanResult:
    """Label every word-aligned occurrence of each mention (see the module docstring)."""
    starts = {t.start for t in sentence.tokens}
    ends = {t.end for t in sentence.tokens}
    result = SpanResult([])
    seen: set[tuple[str, str]] = set()
    items: list[tuple[str, str]] = []
    for label, strings in mentions.items():
        for s in strings:
            if (label, s) in seen:
                result.stats["duplicate"] += 1
                continue
            seen.add((label, s))
            items.append((label, s))
    # Longest first (stable within equal lengths): nested names lose to the names containing them.
    items.sort(key=lambda item: -len(item[1]))
    taken: list[Span] = []
    for label, mention in items:
        result.stats["mentions"] += 1
        aligned: list[tuple[int, int]] = []
        anywhere = False
        for level in ("exact", "case", "whitespace"):
            occ = _occurrences(mention, sentence.text, level)
            anywhere = anywhere or bool(occ)
            aligned = [o for o in occ if o[0] in starts and o[1] in ends]
            if aligned:
                result.stats[level] += 1
                break
        if not aligned:
            reason = "unaligned" if anywhere else "not_found"
            result.stats[reason] += 1
            result.dropped.append((label, mention, reason))
            continue
        placed = 0
        for start, end in aligned:
            span = Span(start, end, label)
            if any(span.overlaps(other) for other in taken):
                result.stats["overlap"] += 1
                continue
            taken.append(span)
            placed += 1
        if not placed:
            result.dropped.append((label, mention, "overlap"))
    result.spans = sorted(taken)
    result.stats["spans"] += len(taken)
    return result


def sentence_status(parsed: DictAnswer, placed: SpanResult | None) -> str:
    """One of :data:`STATUSES` for a sentence (``partial`` wins over ``repaired``)."""
    if parsed.mentions is None or placed is None:
        return "unparseable"
    if placed.dropped or parsed.unknown_keys or parsed.stats["bad_value"]:
        return "partial"
    if parsed.stats["python_literal"] or parsed.stats["repaired"]:
        return "repaired"
    return "ok"
