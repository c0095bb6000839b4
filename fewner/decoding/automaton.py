"""A byte-level automaton for the answer language, determinized lazily, with per-row matchers.

Why bytes and not tokens or characters: a trie over one tokenization of each candidate span
breaks as soon as the model tokenizes the span differently in context (``" <<< Zürich"`` becomes
``" <<", "<", " Z", "ü", "rich"`` while ``"Zürich"`` alone is ``"Z", "ü", "rich"``; the open
marker's trailing space merges into the mention's first token). An automaton over the UTF-8
bytes of the allowed *strings* accepts every tokenization of every allowed string, and tokens
that hold part of a multi-byte character (byte-level BPE splits emoji and accented letters) are
allowed exactly when their bytes can still be completed to an allowed string, with no special
case.

Structure: a small NFA whose positions are ints

* ``0 .. base-1``: a byte inside one of the grammar literals (prefix, none, open, close,
  separator, suffix, and the refusal answer when the program allows it);
* ``base + n``: node ``n`` of a byte trie over the candidate mention texts (node 0 is the root);
* three markers with no outgoing bytes: ``END`` (accepting), ``OPENED`` (the open marker was
  just completed: a mention starts), ``CLOSED`` (the close marker was just completed).

A :class:`DFA` is the subset construction of that NFA, built on demand (only states a row
reaches are built) and cached per set of *exhausted* mentions (those already written as often as
they occur): exhaustion removes the "close" edge after that mention's last byte, and trie nodes
with no usable mention below them are dead, so a row can never walk into a dead end. Rows that
wrote nothing yet share one DFA per constraint, so the same sentence prompted for six entity
types builds its states once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from fewner.decoding.grammar import AnswerGrammar

__all__ = ["Program", "DFA", "Matcher", "END", "OPENED", "CLOSED"]

END, OPENED, CLOSED = -1, -2, -3
PREFIX, NONE, OPEN, CLOSE, SEP, SUFFIX, REFUSAL = range(7)


class Program:
    """The compiled NFA of one answer language: grammar literals plus a trie of mentions.

    ``mentions[i]`` may be written at most ``limits[i]`` times (``None`` limits: unlimited), and
    an answer holds at most ``max_mentions`` mentions (None: no cap). Both are enforced by
    declaring mentions exhausted, so they cost nothing until they bite. ``refusal``: also accept
    the grammar's refusal answer (an abstention, :mod:`fewner.grait`); off by default, so a model
    that was never taught to abstain is not steered into it.
    """

    def __init__(
        self,
        grammar: AnswerGrammar,
        mentions: Sequence[str],
        limits: Sequence[int] | None = None,
        max_mentions: int | None = None,
        refusal: bool = False,
    ) -> None:
        if max_mentions is not None and max_mentions < 1:
            raise ValueError("max_mentions must be >= 1 (or None)")
        self.grammar = grammar
        self.allow_refusal = bool(refusal and grammar.refusal)
        self.mentions = list(mentions)
        self.limits = list(limits) if limits is not None else None
        self.max_mentions = max_mentions
        literals = [grammar.prefix, grammar.none or "", grammar.open, grammar.close]
        literals += [grammar.separator, grammar.suffix]
        literals += [(grammar.refusal or "") if self.allow_refusal else ""]
        self.allow_none = grammar.none is not None
        self.lit_byte: list[int] = []
        self.lit_kind: list[int] = []
        self.lit_last: list[bool] = []
        self.lit_start: list[int | None] = []
        for kind, lit in enumerate(literals):
            data = lit.encode()
            self.lit_start.append(len(self.lit_byte) if data else None)
            for k, b in enumerate(data):
                self.lit_byte.append(b)
                self.lit_kind.append(kind)
                self.lit_last.append(k == len(data) - 1)
        self.base = len(self.lit_byte)
        self.close_len = len(grammar.close.encode())

        self.children: list[dict[int, int]] = [{}]
        self.terminal: list[int] = [-1]
        self.paths: list[list[int]] = []
        self.cid: dict[bytes, int] = {}
        for i, text in enumerate(self.mentions):
            data = text.encode()
            if not data or data in self.cid:
                raise ValueError(f"mention {text!r} is empty or listed twice")
            self.cid[data] = i
            node, path = 0, [0]
            for b in data:
                nxt = self.children[node].get(b)
                if nxt is None:
                    nxt = len(self.children)
                    self.children[node][b] = nxt
                    self.children.append({})
                    self.terminal.append(-1)
                node = nxt
                path.append(node)
            self.terminal[node] = i
            self.paths.append(path)
        # terminals_below[n]: mentions ending at or under node n (a node is live while > 0).
        self.terminals_below = [0] * len(self.children)
        for path in self.paths:
            for n in path:
                self.terminals_below[n] += 1
        self._dfas: dict[frozenset[int], DFA] = {}

    def dfa(self, exhausted: frozenset[int] = frozenset()) -> DFA:
        """The (cached) DFA for the language once the ``exhausted`` mentions may not be written."""
        dfa = self._dfas.get(exhausted)
        if dfa is None:
            dfa = self._dfas[exhausted] = DFA(self, exhausted)
        return dfa


class DFA:
    """Lazily built subset automaton of a :class:`Program` for one set of exhausted mentions.

    ``memo`` is free for consumers (e.g. the logits processor caches allowed-token tensors per
    state there), so caches live as long as the DFA and need no global registry.
    """

    def __init__(self, program: Program, exhausted: frozenset[int]) -> None:
        self.p = program
        self.exhausted = exhausted
        live = list(program.terminals_below)
        for cid in exhausted:
            for n in program.paths[cid]:
                live[n] -= 1
        self.live = live
        self.sets: list[frozenset[int]] = []
        self._ids: dict[frozenset[int], int] = {}
        self.trans: list[dict[int, int] | None] = []
        self.accepting: list[bool] = []
        self.opened: list[bool] = []
        self.closed: list[bool] = []
        self.memo: dict[Any, Any] = {}
        start = set(self._enter(PREFIX))
        if program.allow_none:
            start |= self._enter(NONE)
        if program.allow_refusal:
            start |= self._enter(REFUSAL)
        self.start = self.intern(frozenset(start))

    # ----- NFA closure ------------------------------------------------------------------
    def _enter(self, kind: int) -> set[int]:
        """Positions reached when literal ``kind`` starts (skipping empty literals)."""
        if kind in (PREFIX, OPEN, SEP) and self.live[0] <= 0:
            return set()  # no mention left to write: the mention branch is dead
        start = self.p.lit_start[kind]
        return {start} if start is not None else self._done(kind)

    def _done(self, kind: int) -> set[int]:
        """Positions reached when literal ``kind`` has just been completed."""
        if kind == PREFIX or kind == SEP:
            return self._enter(OPEN)
        if kind == OPEN:
            return {OPENED, self.p.base}
        if kind == CLOSE:
            return {CLOSED} | self._after_close_mention()
        return {END}  # NONE, SUFFIX, REFUSAL

    def _after_close_mention(self) -> set[int]:
        return self._enter(SEP) | self._enter(SUFFIX)

    def after_close(self) -> frozenset[int]:
        """The position set right after a close marker (used when a row's exhausted set grows)."""
        return frozenset({CLOSED} | self._after_close_mention())

    # ----- states ------------------------------------------------------------------------
    def intern(self, positions: frozenset[int]) -> int:
        sid = self._ids.get(positions)
        if sid is None:
            sid = self._ids[positions] = len(self.sets)
            self.sets.append(positions)
            self.trans.append(None)
            self.accepting.append(END in positions)
            self.opened.append(OPENED in positions)
            self.closed.append(CLOSED in positions)
        return sid

    def out(self, sid: int) -> dict[int, int]:
        """Outgoing edges of state ``sid``: byte -> next state (dead bytes are absent)."""
        edges = self.trans[sid]
        if edges is not None:
            return edges
        p, live, exhausted = self.p, self.live, self.exhausted
        nxt: dict[int, set[int]] = {}
        for pos in self.sets[sid]:
            if pos < 0:
                continue
            if pos < p.base:
                step = self._done(p.lit_kind[pos]) if p.lit_last[pos] else {pos + 1}
                nxt.setdefault(p.lit_byte[pos], set()).update(step)
                continue
            for b, child in p.children[pos - p.base].items():
                if live[child] <= 0:
                    continue
                target = nxt.setdefault(b, set())
                target.add(p.base + child)
                cid = p.terminal[child]
                if cid >= 0 and cid not in exhausted:
                    target |= self._enter(CLOSE)
        edges = {b: self.intern(frozenset(s)) for b, s in nxt.items() if s}
        self.trans[sid] = edges
        return edges


class Matcher:
    """One row's progress through the answer language; fed bytes incrementally.

    Tracks the mentions written so far and switches to the DFA of the grown exhausted set when a
    mention reaches its limit. ``state == -1`` means the bytes fed so far left the language.
    """

    def __init__(self, program: Program, limit_repeats: bool = True) -> None:
        self.p = program
        self.limit_repeats = limit_repeats and program.limits is not None
        self.dfa = program.dfa()
        self.state = self.dfa.start
        self.buf = bytearray()
        self.used: Counter[int] = Counter()
        self.mentions: list[str] = []
        self._mention_start = 0

    def copy(self) -> Matcher:
        """An independent matcher in the same state (for look-ahead or beam search)."""
        twin = Matcher.__new__(Matcher)
        twin.p, twin.limit_repeats, twin.dfa, twin.state = (
            self.p,
            self.limit_repeats,
            self.dfa,
            self.state,
        )
        twin.buf, twin.used, twin.mentions = (
            bytearray(self.buf),
            Counter(self.used),
            list(self.mentions),
        )
        twin._mention_start = self._mention_start
        return twin

    @property
    def dead(self) -> bool:
        return self.state < 0

    @property
    def accepting(self) -> bool:
        return self.state >= 0 and self.dfa.accepting[self.state]

    def feed(self, data: bytes) -> bool:
        """Advance over ``data``; False (and dead from then on) if it leaves the language."""
        dfa, s, buf = self.dfa, self.state, self.buf
        if s < 0:
            return False
        for b in data:
            edges = dfa.trans[s]
            if edges is None:
                edges = dfa.out(s)
            s = edges.get(b, -1)
            if s < 0:
                self.state = -1
                return False
            buf.append(b)
            if dfa.closed[s]:
                dfa, s = self._close_mention(dfa, s)
            if dfa.opened[s]:
                self._mention_start = len(buf)
        self.dfa, self.state = dfa, s
        return True

    def forced_rest(self, limit: int = 4096) -> bytes | None:
        """The bytes that must follow if the answer is fixed from here (one byte edge per state
        up to a complete answer with no way on), else None. E.g. after the first token of the
        template's "none" sentence the rest of that sentence; never inside a mention choice."""
        dfa, s = self.dfa, self.state
        rest = bytearray()
        while s >= 0 and len(rest) <= limit:
            edges = dfa.trans[s]
            if edges is None:
                edges = dfa.out(s)
            if not edges:
                return bytes(rest) if dfa.accepting[s] else None
            if dfa.accepting[s] or len(edges) != 1 or dfa.closed[s] or dfa.opened[s]:
                return None  # a choice (end here or go on, several bytes) or a mention opens
            (b, s), = edges.items()
            rest.append(b)
        return None

    def _close_mention(self, dfa: DFA, s: int) -> tuple[DFA, int]:
        data = bytes(self.buf[self._mention_start : len(self.buf) - self.p.close_len])
        cid = self.p.cid.get(data)
        self.mentions.append(data.decode(errors="replace"))
        if cid is None:  # unreachable while no mention contains a marker (Constraint ensures it)
            return dfa, s
        self.used[cid] += 1
        exhausted = dfa.exhausted
        if self.limit_repeats and self.used[cid] >= self.p.limits[cid]:  # type: ignore[index]
            exhausted = exhausted | {cid}
        if self.p.max_mentions is not None and len(self.mentions) >= self.p.max_mentions:
            exhausted = frozenset(range(len(self.p.mentions)))
        if exhausted == dfa.exhausted:
            return dfa, s
        new = self.p.dfa(exhausted)
        none_positions = {
            pos for pos in dfa.sets[s] if 0 <= pos < self.p.base and self.p.lit_kind[pos] in (NONE, REFUSAL)
        }
        return new, new.intern(new.after_close() | none_positions)
