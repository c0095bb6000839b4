"""Grouping prompts by shared token prefixes, so a prefix's KV cache is computed once.

Why: the extraction methods send one prompt per (sentence, entity type). With the sentence
first and the entity-type instruction last, the prompts of one sentence share everything up
to the instruction; a backend that evaluates that shared prefix once per sentence, rather than
once per type, saves most of the prompt work (the HF backend's ``prefix_sharing``; llama.cpp
gets the same from its prompt cache, servers from prefix caching).

This module is pure Python (no torch) and only plans: which prompts form a group, how long the
group's shared prefix is, and how groups are packed into batches.

* **Groups are runs of the prompts sorted by token ids.** Prompts that share a long prefix are
  neighbours in lexicographic order, and the longest common prefix (LCP) of a run is the minimum
  of its neighbours' LCPs.
* **Which runs** is chosen by dynamic programming to maximise the prompt tokens saved,
  ``(size - 1) * prefix`` per group, with at most ``max_group`` prompts per group (a group must
  fit one batch). A plain "same first N tokens" rule would fail on chat prompts: every prompt
  starts with the same system prompt, so one group of everything would share only that, while
  groups per sentence share the system prompt *and* the sentence.
* **A prefix never covers a whole prompt**: each member keeps at least one token of its own
  (the model needs a new input position to produce the first logits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PrefixGroup:
    """Prompts (indices into the encoded list) whose first ``prefix_len`` tokens are equal."""

    rows: tuple[int, ...]
    prefix_len: int


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def group_by_prefix(encoded: Sequence[Sequence[int]], max_group: int) -> list[PrefixGroup]:
    """Partition prompts into groups that share a token prefix, maximising the tokens saved.

    Every prompt lands in exactly one group; a prompt with no useful partner is a group of one
    whose prefix is all its tokens but the last. Groups hold at most ``max_group`` prompts and
    come back in the prompts' lexicographic order. Ties prefer smaller groups.
    """
    if max_group < 1:
        raise ValueError("max_group must be >= 1")
    n = len(encoded)
    if n == 0:
        return []
    order = sorted(range(n), key=lambda i: list(encoded[i]))
    seqs = [encoded[i] for i in order]
    # cap[i]: the most prefix prompt i can share (it keeps one token of its own)
    cap = [max(0, len(s) - 1) for s in seqs]
    adjacent = [common_prefix_len(seqs[i], seqs[i + 1]) for i in range(n - 1)]

    best = [0] * (n + 1)  # best[i]: tokens saved by the best grouping of seqs[:i]
    start = [0] * (n + 1)  # start[i]: where the last group of that grouping begins
    for i in range(1, n + 1):
        best[i], start[i] = best[i - 1], i - 1  # seqs[i-1] alone
        shared = cap[i - 1]
        for j in range(i - 2, max(-1, i - 1 - max_group), -1):  # group seqs[j:i], growing
            shared = min(shared, adjacent[j], cap[j])
            if shared == 0:
                break
            saved = best[j] + (i - j - 1) * shared
            if saved > best[i]:
                best[i], start[i] = saved, j

    groups: list[PrefixGroup] = []
    i = n
    while i > 0:
        j = start[i]
        members = range(j, i)
        shared = min(cap[k] for k in members)
        if i - j > 1:
            shared = min(shared, min(adjacent[k] for k in range(j, i - 1)))
        groups.append(PrefixGroup(tuple(order[k] for k in members), shared))
        i = j
    groups.reverse()
    return groups


def pack_groups(
    groups: Sequence[PrefixGroup], encoded: Sequence[Sequence[int]], batch_size: int
) -> list[list[PrefixGroup]]:
    """Pack whole groups into batches of at most ``batch_size`` prompts.

    Groups are ordered by their longest suffix, then prefix length, so a batch's padding (to its
    widest prefix and widest suffix) stays small. A group larger than ``batch_size`` is split.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    pieces = [
        PrefixGroup(g.rows[k : k + batch_size], g.prefix_len)
        for g in groups
        for k in range(0, len(g.rows), batch_size)
    ]

    def key(g: PrefixGroup) -> tuple[int, int]:
        return max(len(encoded[r]) for r in g.rows) - g.prefix_len, g.prefix_len

    batches: list[list[PrefixGroup]] = []
    rows = 0
    for g in sorted(pieces, key=key):
        if not batches or rows + len(g.rows) > batch_size:
            batches.append([])
            rows = 0
        batches[-1].append(g)
        rows += len(g.rows)
    return batches
