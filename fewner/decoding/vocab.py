"""The byte string each vocabulary token stands for, and a sorted index to intersect with a DFA.

Why bytes: byte-level BPE (GPT-2, SmolLM2, Llama 3, Qwen) tokens are byte sequences, some of
them partial UTF-8 (an emoji spans two tokens), and SentencePiece vocabularies fall back to
``<0xNN>`` byte tokens. Mapping every token to its exact bytes *in context* (``"ĠZ"`` is
``b" Z"``; ``"▁Paulo"`` is ``b" Paulo"``, although a SentencePiece decoder strips that space at
the very start of a text) lets :mod:`fewner.decoding.automaton` check tokens against a byte
automaton with no tokenizer-specific rules.

How a token's bytes are found, by the fast tokenizer's decoder:

* ``ByteLevel``: invert the byte-to-printable-character table of byte-level BPE;
* ``Metaspace`` / ``Replace("▁", " ")`` / ``ByteFallback``: ``▁`` is a space, ``<0xNN>`` a byte;
* otherwise: ``tokenizer.decode([id])``; ids whose lone decoding contains U+FFFD (a partial
  character we cannot recover) are *excluded* — never allowed under a constraint.

Special tokens (``<|im_end|>``, added tokens marked special) are excluded too: backends decode
with ``skip_special_tokens``, so their text would vanish; end-of-sequence is handled separately.

:class:`TokenIndex` sorts the byte strings so that "tokens starting with these bytes" is a
range found by bisection: the intersection with a DFA state walks only the DFA's edges (a few
per state) instead of a 50k-token vocabulary, and needs no per-node Python objects.
"""

from __future__ import annotations

import json
import weakref
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

from fewner.decoding.automaton import DFA

__all__ = ["TokenIndex", "token_bytes"]

_ONE_BYTE = [bytes((i,)) for i in range(256)]


def _byte_level_table() -> dict[str, int]:
    """Printable stand-in character -> byte, as used by byte-level BPE vocabularies.

    Bytes that are printable Latin-1 stand for themselves; the remaining bytes (controls, space,
    soft hyphen, ...) are mapped in increasing order onto code points 256, 257, ...
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    table = {chr(b): b for b in printable}
    extra = 0
    for b in range(256):
        if b not in printable:
            table[chr(256 + extra)] = b
            extra += 1
    return table


_BYTE_LEVEL = _byte_level_table()


def _from_byte_level(piece: str) -> bytes | None:
    try:
        return bytes(_BYTE_LEVEL[ch] for ch in piece)
    except KeyError:
        return None


def _from_metaspace(piece: str) -> bytes | None:
    if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
        try:
            return bytes((int(piece[3:5], 16),))
        except ValueError:
            return None
    return piece.replace("\u2581", " ").encode()


def _decoder_kind(tokenizer: Any) -> str:
    """``byte_level``, ``metaspace`` or ``decode`` (see the module docstring)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = getattr(backend, "decoder", None)
    if decoder is None:
        return "decode"
    spec = json.loads(decoder.__getstate__())
    seen: list[dict[str, Any]] = []
    stack = [spec]
    while stack:
        node = stack.pop()
        seen.append(node)
        stack.extend(node.get("decoders") or [])
    types = {node.get("type") for node in seen}
    if "ByteLevel" in types:
        return "byte_level"
    replaces_meta = any(
        node.get("type") == "Replace"
        and "\u2581" in json.dumps(node.get("pattern"), ensure_ascii=False)
        for node in seen
    )
    if "Metaspace" in types or "ByteFallback" in types or replaces_meta:
        return "metaspace"
    return "decode"


def token_bytes(tokenizer: Any) -> list[bytes | None]:
    """The bytes each token id contributes to a text in context; None for excluded ids."""
    n = len(tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(list(range(n)))
    special = set(tokenizer.all_special_ids)
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    special |= {i for i, tok in added.items() if getattr(tok, "special", False)}
    kind = _decoder_kind(tokenizer)
    out: list[bytes | None] = []
    for i, piece in enumerate(pieces):
        data: bytes | None = None
        if i in special or piece is None:
            out.append(None)
            continue
        if i in added:
            data = added[i].content.encode()
        elif kind == "byte_level":
            data = _from_byte_level(piece)
        elif kind == "metaspace":
            data = _from_metaspace(piece)
        if data is None:
            text = tokenizer.decode([i])
            data = None if "\ufffd" in text else text.encode()
        out.append(data or None)
    return out


class TokenIndex:
    """Token byte strings sorted for prefix-range lookups; built once per tokenizer.

    ``TokenIndex.for_tokenizer(tok)`` caches the index on the tokenizer object (weakly), so
    every processor for the same tokenizer shares it: building it is not free
    (measurements: docs/design-notes.md, fewner/decoding/vocab.py).
    """

    _cache: weakref.WeakKeyDictionary[Any, TokenIndex] = weakref.WeakKeyDictionary()

    def __init__(self, pieces: Sequence[bytes | None]) -> None:
        self.pieces = list(pieces)
        pairs = sorted((b, i) for i, b in enumerate(self.pieces) if b)
        self.keys = [b for b, _ in pairs]
        self.ids = [i for _, i in pairs]

    @classmethod
    def for_tokenizer(cls, tokenizer: Any) -> TokenIndex:
        try:
            index = cls._cache.get(tokenizer)
        except TypeError:  # not weak-referenceable: build without caching
            return cls(token_bytes(tokenizer))
        if index is None:
            index = cls(token_bytes(tokenizer))
            cls._cache[tokenizer] = index
        return index

    def __len__(self) -> int:
        return len(self.pieces)

    def allowed(self, dfa: DFA, state: int) -> list[int]:
        """Ids of the tokens whose bytes, fed from ``state``, stay inside the language.

        A depth-first walk over the DFA's edges, narrowing the sorted token range by one byte
        per level; it visits only token prefixes the language allows.

        Tokens that would run on past the end of a close marker (``" >>> <<"``) are not offered:
        what may follow a closed mention depends on how often the row has written it, which a
        DFA state does not know. Nothing is lost, since a shorter tokenization always exists.
        """
        keys, ids, closed = self.keys, self.ids, dfa.closed
        result: list[int] = []
        stack: list[tuple[int, bytes, int, int]] = [(state, b"", 0, len(keys))]
        while stack:
            sid, prefix, lo, hi = stack.pop()
            for b, nxt in dfa.out(sid).items():
                p2 = prefix + _ONE_BYTE[b]
                lo2 = bisect_left(keys, p2, lo, hi)
                if lo2 >= hi or not keys[lo2].startswith(p2):
                    continue
                hi2 = bisect_left(keys, prefix + _ONE_BYTE[b + 1], lo2, hi) if b < 255 else hi
                while lo2 < hi2 and len(keys[lo2]) == len(p2):
                    result.append(ids[lo2])
                    lo2 += 1
                if lo2 < hi2 and not closed[nxt]:
                    stack.append((nxt, p2, lo2, hi2))
        return result
