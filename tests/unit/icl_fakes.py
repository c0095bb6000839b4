"""Stand-ins for the ICL tests: a tiny deterministic encoder and a rule-based scripted model.

:class:`WordEncoder` maps a string to a normalised bag of its lower-cased words over a fixed
vocabulary (hashing the rest into a few buckets). Its cosine similarities are easy to reason
about: strings sharing words are similar, strings sharing none are orthogonal, so a retrieval
test can state the expected ranking from the words alone, without loading MiniLM.

:func:`rule_model` builds a :class:`~fewner.backends.scripted.ScriptedBackend` whose answer to
each stage prompt follows a small table (which mentions it proposes, which type it gives, what it
says to a check); anything it has no rule for gets a malformed answer, so parse failures happen
where a test says.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence

import numpy as np

from fewner.backends.scripted import ScriptedBackend
from fewner.icl.encoder import MemoEncoder
from fewner.types import Sentence

_BUCKETS = 64


class WordEncoder(MemoEncoder):
    """Bag of lower-cased words, hashed into ``dims`` buckets (crc32, stable across runs)."""

    def __init__(self, dims: int = _BUCKETS) -> None:
        super().__init__()
        self.dims = dims
        self.calls: list[list[str]] = []

    @property
    def id(self) -> str:
        return f"word-encoder:{self.dims}"

    def _encode_new(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, zlib.crc32(word.encode()) % self.dims] += 1.0
        return out


def sent(words: str, spans: Sequence[tuple[int, int, str]] = (), id: str = "s") -> Sentence:
    """A sentence from space-separated words and token-range spans."""
    return Sentence.from_words(words.split(), spans, id=id)


def query_of(prompt: str) -> str:
    """The query sentence text of a stage prompt (the last ``Sentence:`` line)."""
    return prompt.rsplit("Sentence: ", 1)[1].split("\n", 1)[0]


def rule_model(
    name: str,
    mentions: Mapping[str, Sequence[str]] | None = None,
    types: Mapping[str, str] | None = None,
    checks: Mapping[tuple[str, str], str] | None = None,
) -> ScriptedBackend:
    """A scripted model answering by rule (see the module docstring).

    ``mentions[query text]``: the mentions it lists in stage 1 (missing query: the answer
    ``"I think"``, unparseable); ``types[mention]``: its stage-2 answer text (missing:
    ``"???"``, unparseable); ``checks[(mention, type)]``: its stage-3 answer (missing: ``"maybe"``).
    """
    mentions = mentions or {}
    types = types or {}
    checks = checks or {}

    def answer(prompt: str) -> str:
        query = query_of(prompt)
        tail = prompt.rsplit("Sentence: ", 1)[1]
        check = re.search(r'Is "(.+)" a (\S+)\?$', tail)
        if check:
            return checks.get((check.group(1), check.group(2)), " maybe")
        if tail.endswith(" is a:"):
            mention = tail.rsplit("\n", 1)[1][: -len(" is a:")]
            return types.get(mention, " ???")
        if tail.endswith("Entities:"):
            if query not in mentions:
                return " I think"
            found = mentions[query]
            return "".join(f" <<< {m} >>>" for m in found) if found else " none"
        raise AssertionError(f"unexpected prompt tail {tail[-60:]!r}")

    return ScriptedBackend(answer, model=name)
