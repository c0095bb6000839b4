"""Tag schemes (IO, BIO/IOB2, BIOES) to and from token-level spans.

Policy for invalid sequences
----------------------------
Real files contain invalid tag sequences (the Few-NERD INTER test file has an ``I-`` right after
an entity of another type). Two policies exist, and both are counted, never silent:

``repair`` (the default, and what conlleval and seqeval's default mode do)
    A tag that cannot continue the open entity starts a new one: ``O I-PER`` reads as a PER
    entity starting at the ``I-``; ``B-ORG I-PER`` reads as ORG then PER. In BIOES, an entity
    left open (``B-X I-X`` with no ``E-X``) ends where its type stops. Each repair is counted
    under a reason string.

``strict`` (seqeval's ``mode="strict", scheme=IOB2`` / ``IOBES``)
    Only well-formed chunks count: ``B-X I-X*`` in BIO; ``B-X I-X* E-X`` or ``S-X`` in BIOES.
    Tokens of a malformed chunk belong to no entity. Use it to reproduce strict-mode scores.

IO cannot mark the boundary between two adjacent mentions of one type; writing such spans as IO
merges them (the Few-NERD protocol accepts this loss).

Labels may contain hyphens (``creative-work``, ``person-actor``): only a leading ``B-``,
``I-``, ``E-`` or ``S-`` is a prefix. In IO, a bare label without ``I-`` (the official Few-NERD
files) is accepted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Literal

Scheme = Literal["io", "bio", "bioes"]
Policy = Literal["repair", "strict"]
SCHEMES: tuple[str, ...] = ("io", "bio", "bioes")
POLICIES: tuple[str, ...] = ("repair", "strict")
OUTSIDE = "O"
_PREFIXES = {"B", "I", "E", "S"}

TokenSpan = tuple[int, int, str]  # (first token, last token exclusive, label)


def split_tag(tag: str, scheme: Scheme = "bio") -> tuple[str, str]:
    """``"B-creative-work"`` -> ``("B", "creative-work")``; ``"O"`` -> ``("O", "")``.

    In IO, a bare label (``"person-actor"``) reads as ``("I", "person-actor")``.
    Raises ValueError for a tag that fits no scheme.
    """
    if tag == OUTSIDE:
        return OUTSIDE, ""
    head, sep, rest = tag.partition("-")
    if sep and head in _PREFIXES and rest:
        return head, rest
    if scheme == "io" and tag:
        return "I", tag
    raise ValueError(f"tag {tag!r} is not O and has no B-/I-/E-/S- prefix")


def detect_scheme(tags: Sequence[str]) -> Scheme:
    """Guess the scheme from the prefixes present: any E-/S- means BIOES, any B- means BIO."""
    prefixes = {t.partition("-")[0] for t in tags if t != OUTSIDE and "-" in t}
    if prefixes & {"E", "S"}:
        return "bioes"
    if "B" in prefixes:
        return "bio"
    return "io"


def check_scheme(scheme: str) -> Scheme:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    return scheme  # type: ignore[return-value]


def tags_to_spans(
    tags: Sequence[str], scheme: Scheme = "bio", policy: Policy = "repair"
) -> tuple[list[TokenSpan], Counter[str]]:
    """Decode a tag sequence into token spans. Returns ``(spans, repairs)``.

    ``repairs`` counts invalid transitions by reason: under ``repair`` they were fixed as
    described in the module docstring; under ``strict`` the malformed tokens were dropped.
    """
    check_scheme(scheme)
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; expected one of {', '.join(POLICIES)}")
    parsed = [split_tag(t, scheme) for t in tags]
    if scheme == "io":
        return _decode_io(parsed), Counter()
    if scheme == "bio":
        return _decode_bio(parsed, policy)
    return _decode_bioes(parsed, policy)


def _decode_io(parsed: list[tuple[str, str]]) -> list[TokenSpan]:
    spans: list[TokenSpan] = []
    start, label = None, ""
    for i, (prefix, lab) in enumerate([*parsed, (OUTSIDE, "")]):
        if start is not None and lab != label:
            spans.append((start, i, label))
            start = None
        if prefix != OUTSIDE and start is None:
            start, label = i, lab
    return spans


def _decode_bio(parsed: list[tuple[str, str]], policy: Policy) -> tuple[list[TokenSpan], Counter[str]]:
    spans: list[TokenSpan] = []
    repairs: Counter[str] = Counter()
    start, label = None, ""

    def close(end: int) -> None:
        nonlocal start
        if start is not None:
            spans.append((start, end, label))
        start = None

    dropped = ""  # strict: label of a malformed chunk being skipped (counted once, not per token)
    for i, (prefix, lab) in enumerate(parsed):
        if prefix in {"E", "S"}:
            raise ValueError(f"tag {prefix}-{lab} at token {i} is not a BIO tag")
        if prefix == OUTSIDE:
            close(i)
            dropped = ""
        elif prefix == "B":
            close(i)
            start, label, dropped = i, lab, ""
        elif start is not None and lab == label:
            continue  # I- continuing the open entity
        elif start is None and lab == dropped:
            continue  # strict: I- continuing a malformed chunk already counted
        else:
            after_o = start is None and (i == 0 or parsed[i - 1][0] == OUTSIDE)
            repairs["I- tag after O" if after_o else "I- tag after a different type"] += 1
            close(i)
            if policy == "repair":
                start, label = i, lab
            else:
                dropped = lab
    close(len(parsed))
    return spans, repairs


def _decode_bioes(parsed: list[tuple[str, str]], policy: Policy) -> tuple[list[TokenSpan], Counter[str]]:
    spans: list[TokenSpan] = []
    repairs: Counter[str] = Counter()
    start, label = None, ""

    def close_unfinished(end: int, reason: str) -> None:
        # An entity opened by B-/I- that never saw its E-: kept under repair, dropped if strict.
        nonlocal start
        if start is not None:
            repairs[reason] += 1
            if policy == "repair":
                spans.append((start, end, label))
        start = None

    for i, (prefix, lab) in enumerate(parsed):
        continues = start is not None and lab == label
        if prefix == OUTSIDE:
            close_unfinished(i, "entity without E- tag")
        elif prefix == "S":
            close_unfinished(i, "entity without E- tag")
            spans.append((i, i + 1, lab))
        elif prefix == "B":
            close_unfinished(i, "entity without E- tag")
            start, label = i, lab
        elif prefix == "I":
            if not continues:
                close_unfinished(i, "entity without E- tag")
                repairs["I- tag without B-"] += 1
                if policy == "repair":
                    start, label = i, lab
        elif prefix == "E":
            if continues:
                spans.append((start, i + 1, label))  # type: ignore[arg-type]
                start = None
            else:
                close_unfinished(i, "entity without E- tag")
                repairs["E- tag without B-"] += 1
                if policy == "repair":
                    spans.append((i, i + 1, lab))
    close_unfinished(len(parsed), "entity without E- tag")
    return spans, repairs


def spans_to_tags(spans: Sequence[TokenSpan], length: int, scheme: Scheme = "bio") -> list[str]:
    """Encode non-overlapping token spans as tags. Overlapping spans raise ValueError."""
    check_scheme(scheme)
    tags = [OUTSIDE] * length
    for start, end, label in sorted(spans):
        if not (0 <= start < end <= length):
            raise ValueError(f"token span ({start}, {end}) outside a sequence of {length}")
        if any(t != OUTSIDE for t in tags[start:end]):
            raise ValueError(f"token span ({start}, {end}, {label}) overlaps another span")
        for i in range(start, end):
            if scheme == "io":
                tags[i] = f"I-{label}"
            elif scheme == "bio":
                tags[i] = f"{'B' if i == start else 'I'}-{label}"
            else:
                if end - start == 1:
                    prefix = "S"
                elif i == start:
                    prefix = "B"
                elif i == end - 1:
                    prefix = "E"
                else:
                    prefix = "I"
                tags[i] = f"{prefix}-{label}"
    return tags
