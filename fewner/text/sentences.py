"""Text -> sentences as exact character ranges: ``text[start:end]`` is each sentence, as written.

Why ranges and not strings: predictions on a sentence must land back on the document's own
offsets, so nothing here rewrites the text (no whitespace normalisation, no Unicode repair). The
rule is one regex, no model:

* a blank line (line break, optional spaces, line break) always ends a sentence, so a headline
  without a full stop or a list of items stays apart; a single line break does not (hard-wrapped
  text stays whole);
* inside a paragraph a sentence ends after ``.``, ``!``, ``?`` or ``…`` (optionally followed by
  a closing quote or bracket) when whitespace and then an upper-case letter or a digit (optionally
  behind an opening quote or bracket) follow;
* but not after a title (:data:`ABBREVIATIONS`: ``Mr.``, ``Dr.``, ...), an abbreviation before a
  number (:data:`BEFORE_NUMBER`: ``No. 10``, ``Jan. 5``) or a capital initial (``J. K. Rowling``,
  ``U.S. Army``); ``abbreviations=()`` turns all three off (the plain rule that
  :mod:`fewner.distill.rawtext` uses);
* each sentence is trimmed of surrounding whitespace; text that is only whitespace gives none.

A text with no boundary at all is one sentence, however long: cutting it to what a model can
read is :mod:`fewner.text.windows`' job.
"""

from __future__ import annotations

import re
from collections.abc import Collection

__all__ = ["ABBREVIATIONS", "BEFORE_NUMBER", "sentence_spans"]

#: Words whose full stop does not end a sentence (case-sensitive): titles before a name. Ones
#: that often do end a sentence ("Inc.", "Ltd.", "etc.") are left out.
ABBREVIATIONS: frozenset[str] = frozenset(
    "Mr Mrs Ms Dr Prof St Mt Sen Rep Gov Gen Col Lt Sgt Capt Cmdr Adm Rev Fr Jr Sr Hon Pres vs"
    .split()
)
#: Abbreviations whose full stop does not end a sentence when a number follows ("No. 10",
#: "Jan. 5", "Fig. 3"); before a word it does ("He said no. No.").
BEFORE_NUMBER: frozenset[str] = frozenset(
    "No Nos Fig Figs Vol Vols Art Sec Ch Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec".split()
)

_PARAGRAPH = re.compile(r"\n\s*\n")
_CLOSERS = "\"')]\u201d\u2019"
_OPENERS = "\"'([\u201c\u2018"
_BOUNDARY = re.compile(rf"(?<=[.!?\u2026])[{re.escape(_CLOSERS)}]?\s+(?=[{re.escape(_OPENERS)}]?\w)")


def sentence_spans(
    text: str, abbreviations: Collection[str] = ABBREVIATIONS
) -> list[tuple[int, int]]:
    """The ``(start, end)`` character range of every sentence of ``text``, in order (module
    docstring). Ranges never overlap, never start or end on whitespace, and together cover every
    non-whitespace character of ``text``."""
    spans: list[tuple[int, int]] = []
    last = 0
    for para in _PARAGRAPH.finditer(text):
        _split_paragraph(text, last, para.start(), abbreviations, spans)
        last = para.end()
    _split_paragraph(text, last, len(text), abbreviations, spans)
    return spans


def _split_paragraph(
    text: str, start: int, end: int, abbreviations: Collection[str], out: list[tuple[int, int]]
) -> None:
    last = start
    for m in _BOUNDARY.finditer(text, start, end):
        following = text[m.end()]
        if following in _OPENERS:
            following = text[m.end() + 1]
        if not (following.isupper() or following.isdigit()):
            continue
        if abbreviations and _after_abbreviation(text, m.start(), abbreviations, following):
            continue
        _add(text, last, m.start() + len(m.group().rstrip()), out)
        last = m.end()
    _add(text, last, end, out)


def _after_abbreviation(
    text: str, stop: int, abbreviations: Collection[str], following: str
) -> bool:
    """Whether the terminator just before ``stop`` is the full stop of an abbreviation (or of an
    initial: one capital letter other than "I" after a space, "." or "(")."""
    dot = stop - 1
    if text[dot] != ".":
        return False
    first = dot
    while first > 0 and text[first - 1].isalpha():
        first -= 1
    word = text[first:dot]
    if word in abbreviations or (word in BEFORE_NUMBER and following.isdigit()):
        return True
    before = text[first - 1] if first > 0 else " "
    return len(word) == 1 and word.isupper() and word != "I" and (before.isspace() or before in ".(")


def _add(text: str, start: int, end: int, out: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        out.append((start, end))
