"""Candidate entity spans of a query sentence, for span-level demonstration retrieval.

EL4NER compares the *spans* of the query with the labeled spans of each pool sentence. The query's
spans are unknown at retrieval time; the paper allows two sources, and fewner uses the second:

* a zero-shot extraction pass by the ensemble (one more round of LLM calls per sentence per model,
  whose output, from 135M-500M models, is mostly noise before any demonstration is shown), or
* **noun-phrase-like word n-grams** (this module): cheap, deterministic, no model call.

The heuristic, in order:

1. *name-like runs*: maximal runs of words that look like names (start with an upper-case
   letter, or with ``@``/``#``, or mix letters and digits), where a lower-case connector
   (``of``, ``the``, ``de``, ``&``, ...; not ``and``, which joins two names as often as it
   joins the words of one) may join two name-like words
   (``Bank of America``); capitalised stopwords alone (``The``) are not names. Runs longer than
   ``max_words`` are cut into pieces (without connectors at their edges).
2. if the sentence has none (WNUT-17 tweets are often all lower case), *content runs*: maximal
   runs of words that are neither stopwords nor punctuation, cut to ``max_words``.
3. if even that is empty, nothing: retrieval then falls back to the whole sentence.

At most ``max_candidates`` spans are kept (first in sentence order), which bounds the encoder's
work per sentence. Pure Python; spans are character :class:`~fewner.types.Span` objects labelled
``"candidate"`` and always token-aligned.
"""

from __future__ import annotations

from fewner.types import Sentence, Span

__all__ = ["CANDIDATE_LABEL", "STOPWORDS", "query_candidates"]

CANDIDATE_LABEL = "candidate"

#: Function words that never start, end or make up a candidate (lower case).
STOPWORDS = frozenset(
    """a an the this that these those of in on at to for from by with without about into onto
    over under and or but nor so yet if then than as is are was were be been being am do does
    did have has had will would shall should can could may might must not no i me my mine you
    your yours he him his she her hers it its we us our ours they them their theirs who whom
    what which when where why how all any some each every both few more most other such only
    own same just also very too up down out off again there here rt via lol im u ur""".split()
)

#: Lower-case words that may join two name-like words inside one run.
CONNECTORS = frozenset({"of", "the", "de", "del", "la", "le", "van", "von", "&", "for"})


def _has_alnum(word: str) -> bool:
    return any(ch.isalnum() for ch in word)


def _name_like(word: str) -> bool:
    if not _has_alnum(word) or word.lower() in STOPWORDS:
        return False
    if word[0] in "@#" and len(word) > 1:
        return True
    if word[0].isupper():
        return True
    return any(ch.isdigit() for ch in word) and any(ch.isalpha() for ch in word)


def _content(word: str) -> bool:
    return _has_alnum(word) and word.lower() not in STOPWORDS


def _runs(flags: list[bool], words: list[str], connectors: bool) -> list[tuple[int, int]]:
    """Maximal ``[i, j)`` runs of flagged words; a connector may bridge two flagged words."""
    runs: list[tuple[int, int]] = []
    i, n = 0, len(words)
    while i < n:
        if not flags[i]:
            i += 1
            continue
        j = i + 1
        while j < n:
            if flags[j]:
                j += 1
            elif connectors and words[j].lower() in CONNECTORS and j + 1 < n and flags[j + 1]:
                j += 2
            else:
                break
        runs.append((i, j))
        i = j
    return runs


def _cut(runs: list[tuple[int, int]], words: list[str], max_words: int) -> list[tuple[int, int]]:
    """Runs cut into pieces of at most ``max_words``; connectors at a piece's edges removed."""
    pieces = []
    for i, j in runs:
        for start in range(i, j, max_words):
            a, b = start, min(j, start + max_words)
            while a < b and words[a].lower() in CONNECTORS:
                a += 1
            while b > a and words[b - 1].lower() in CONNECTORS:
                b -= 1
            if a < b:
                pieces.append((a, b))
    return pieces


def query_candidates(
    sentence: Sentence, *, max_words: int = 4, max_candidates: int = 12
) -> list[Span]:
    """Noun-phrase-like candidate spans of ``sentence`` (see the module docstring), in order."""
    if max_words < 1 or max_candidates < 1:
        raise ValueError("max_words and max_candidates must be >= 1")
    words = [t.text for t in sentence.tokens]
    if not words:
        return []
    runs = _runs([_name_like(w) for w in words], words, connectors=True)
    if not runs:
        runs = _runs([_content(w) for w in words], words, connectors=False)
    spans = [
        sentence.token_span_to_char(i, j, CANDIDATE_LABEL) for i, j in _cut(runs, words, max_words)
    ]
    return spans[:max_candidates]
