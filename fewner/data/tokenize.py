"""A small, dependency-free tokenizer that keeps exact character offsets.

Why a regex and not a library tokenizer: raw text (JSONL without tokens, plain text, LLM
annotations) must become :class:`~fewner.types.Token` objects whose offsets index the original
string exactly, so character spans and token spans convert both ways without loss. The rules:

* a *word* is a run of letters, digits, underscores and combining marks (so ``naïve`` written
  with a combining diaeresis, ``हिन्दी`` or ``東京`` stay whole), optionally joined by internal
  apostrophes or hyphens (``don't``, ``O’Neil``, ``state-of-the-art``, ``COVID-19``);
* every other visible character (punctuation, symbols, emoji) is a token of its own;
* whitespace and invisible format characters (zero-width space, word joiner, BOM) separate
  tokens and never appear in one.

``boundaries`` lets a caller force token breaks at given offsets: a JSONL entity that ends in the
middle of a word (``[New York]-based``) still lands on token boundaries.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterable
from functools import cache

from fewner.types import Sentence, Token

__all__ = ["tokenize", "sentence_from_text"]

_INVISIBLE = "\u200b\u2060\ufeff"


@cache
def _pattern() -> re.Pattern[str]:
    """Compile the token regex once, on first use: building the mark class is slow.

    Measurements: docs/design-notes.md, fewner/data/tokenize.py.
    """
    marks = _char_class(c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c))[0] == "M")
    word = rf"[\w{marks}]"
    joiner = r"['\u2019\-\u2010\u2011]"
    number = r"\d+(?:[.,]\d+)+(?![\w])"
    return re.compile(rf"{number}|{word}+(?:{joiner}{word}+)*|[^\s{_INVISIBLE}]")


def _char_class(codepoints: Iterable[int]) -> str:
    """Compress sorted code points into regex ranges like ``\\u0300-\\u036f``."""
    parts: list[str] = []
    run_start = prev = None
    for cp in codepoints:
        if prev is not None and cp == prev + 1:
            prev = cp
            continue
        if run_start is not None:
            parts.append(_range(run_start, prev))  # type: ignore[arg-type]
        run_start = prev = cp
    if run_start is not None:
        parts.append(_range(run_start, prev))  # type: ignore[arg-type]
    return "".join(parts)


def _range(first: int, last: int) -> str:
    return re.escape(chr(first)) if first == last else f"{re.escape(chr(first))}-{re.escape(chr(last))}"


def tokenize(text: str, boundaries: Iterable[int] = ()) -> list[Token]:
    """Split ``text`` into tokens with exact ``[start, end)`` offsets into ``text``.

    ``boundaries``: extra offsets where a token must break (a token spanning one is split there).
    """
    tokens = [Token(m.group(), m.start(), m.end()) for m in _pattern().finditer(text)]
    cuts = sorted(set(boundaries))
    if not cuts:
        return tokens
    result: list[Token] = []
    for token in tokens:
        inner = [c for c in cuts if token.start < c < token.end]
        if not inner:
            result.append(token)
            continue
        edges = [token.start, *inner, token.end]
        result.extend(Token(text[a:b], a, b) for a, b in zip(edges, edges[1:], strict=False))
    return result


def sentence_from_text(
    text: str,
    id: str,
    meta: Iterable[tuple[str, str]] = (),
    boundaries: Iterable[int] = (),
) -> Sentence:
    """A :class:`Sentence` with no spans over ``text`` tokenized by :func:`tokenize`."""
    return Sentence(id=id, text=text, tokens=tuple(tokenize(text, boundaries)), meta=tuple(meta))
