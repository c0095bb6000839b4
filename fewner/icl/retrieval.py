"""Demonstration retrieval: which labeled pool sentences go into a query's prompt.

Retrievers are :class:`Retriever` subclasses registered by name in :data:`RETRIEVERS` (a
:class:`fewner.registry.Registry`; ``make_retriever(name, ...)``), so configs and the CLI pick
one, a plugin adds one through the entry-point group ``fewner.retrievers``, and the contract
test in ``tests/unit/test_icl_retrieval.py`` runs every one. A registered class says whether it
needs a sentence encoder (``needs_encoder``) and builds itself from the config's options
(:meth:`Retriever.from_options`). Each is fitted once on the pool, then ranks the pool for any
query; ties break by pool order, so results are deterministic.

``span`` (EL4NER's span-level sentence similarity)
    The query's candidate spans (:func:`fewner.icl.candidates.query_candidates`) and each pool
    sentence's *labeled* spans are embedded; the similarity of query ``q`` and pool sentence ``p``
    is the mean, over the query's candidates, of the best cosine similarity to any span of ``p``:
    ``sim(q, p) = mean_{s in C(q)} max_{t in S(p)} cos(e_s, e_t)``. It favours pool sentences
    whose entities resemble what the query might contain, not sentences that merely share
    wording. A pool sentence without labeled spans is represented by its whole text, and so is
    a query without candidates (the method then degrades to sentence kNN for that pair).
``sentence``
    Plain kNN on whole-sentence embeddings (cosine), the usual baseline.
``fixed``
    The same ``k`` pool sentences for every query (``k`` at least the pool size: the whole
    pool), ranked by how many labeled mentions they hold, so the richest is written last,
    nearest the query (ties: pool order). Why that order: small models copy the answer of the
    nearest demonstration; in pool order, a one-mention demonstration last made SmolLM2 and
    Gemma-3 list one mention per CoNLL-2003 sentence (README). Every query's prompt then starts
    with the same instruction and demonstrations, so a backend that keeps a prompt prefix's KV
    cache (llama.cpp between calls, the hf backend's ``prefix_sharing`` within a batch)
    evaluates them once instead of once per sentence: the fast teacher (README, "A faster teacher"). With a 5-shot support set as the
    pool, the whole set fits in the prompt and every type is shown.
``random``
    ``k`` pool sentences drawn with a seed derived from the config seed and the query's id, so
    every query gets its own draw and a rerun gets the same one.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from fewner.errors import ConfigError
from fewner.icl.candidates import query_candidates
from fewner.icl.encoder import Encoder
from fewner.registry import Registry
from fewner.types import Sentence

__all__ = [
    "RETRIEVERS",
    "FixedRetriever",
    "RandomRetriever",
    "Retriever",
    "SentenceRetriever",
    "SpanRetriever",
    "make_retriever",
]


class Retriever:
    """Ranks pool sentences for a query. Subclasses implement :meth:`scores`.

    ``needs_encoder``: whether :func:`make_retriever` must be given an encoder (the CLI loads
    one only for these).
    """

    name = "abstract"
    needs_encoder = False

    def __init__(self) -> None:
        self.pool: list[Sentence] = []

    @classmethod
    def from_options(cls, *, encoder: Encoder | None, seed: int, **options: Any) -> Retriever:
        """Build from the config's retrieval settings; each retriever takes what it uses."""
        return cls()

    def fit(self, pool: Sequence[Sentence]) -> Retriever:
        """Remember (and pre-embed) the pool; returns self."""
        if not pool:
            raise ConfigError("the demonstration pool is empty")
        self.pool = list(pool)
        self._fit()
        return self

    def _fit(self) -> None:
        """Hook for work done once per pool."""

    def scores(self, queries: Sequence[Sentence]) -> np.ndarray:
        """A ``len(queries) x len(pool)`` matrix; higher is more similar."""
        raise NotImplementedError

    def retrieve_many(self, queries: Sequence[Sentence], k: int) -> list[list[int]]:
        """For each query, the indices of its ``k`` best pool sentences, best first."""
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k}")
        if not self.pool:
            raise ConfigError(f"retriever {self.name!r} used before fit()")
        if not queries:
            return []
        matrix = self.scores(queries)
        order = np.arange(len(self.pool))
        ranked = []
        for row in matrix:
            # lexsort: last key is primary -> by score descending, then pool order.
            idx = np.lexsort((order, -np.asarray(row, dtype=np.float64)))
            ranked.append([int(i) for i in idx[:k]])
        return ranked

    def retrieve(self, query: Sentence, k: int) -> list[int]:
        return self.retrieve_many([query], k)[0]

    def settings(self) -> dict[str, Any]:
        return {"method": self.name}


RETRIEVERS: Registry[type[Retriever]] = Registry("retriever")


@RETRIEVERS.register("sentence")
class SentenceRetriever(Retriever):
    """kNN on whole-sentence embeddings (cosine)."""

    name = "sentence"
    needs_encoder = True

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder
        self._pool_vectors = np.zeros((0, 0), dtype=np.float32)

    @classmethod
    def from_options(cls, *, encoder: Encoder | None, seed: int, **options: Any) -> Retriever:
        assert encoder is not None  # make_retriever checks needs_encoder
        return cls(encoder)

    def _fit(self) -> None:
        self._pool_vectors = self.encoder.encode([s.text for s in self.pool])

    def scores(self, queries: Sequence[Sentence]) -> np.ndarray:
        vectors = self.encoder.encode([q.text for q in queries])
        return vectors @ self._pool_vectors.T

    def settings(self) -> dict[str, Any]:
        return {"method": self.name, "encoder": self.encoder.id}


@RETRIEVERS.register("span")
class SpanRetriever(Retriever):
    """EL4NER's span-level similarity (module docstring)."""

    name = "span"
    needs_encoder = True

    def __init__(self, encoder: Encoder, *, max_words: int = 4, max_candidates: int = 12) -> None:
        super().__init__()
        self.encoder = encoder
        self.max_words = max_words
        self.max_candidates = max_candidates
        self._pool_spans: list[np.ndarray] = []

    @classmethod
    def from_options(cls, *, encoder: Encoder | None, seed: int, **options: Any) -> Retriever:
        """``options``: ``max_words`` and ``max_candidates`` of the query candidates."""
        assert encoder is not None  # make_retriever checks needs_encoder
        return cls(encoder, **options)

    def pool_span_texts(self, sentence: Sentence) -> list[str]:
        """The strings that stand for a pool sentence: its labeled mentions, else its text."""
        texts = list(dict.fromkeys(sentence.mention(s) for s in sentence.spans))
        return texts or [sentence.text]

    def query_span_texts(self, sentence: Sentence) -> list[str]:
        """The strings that stand for a query: its candidate spans, else its text."""
        spans = query_candidates(
            sentence, max_words=self.max_words, max_candidates=self.max_candidates
        )
        texts = list(dict.fromkeys(sentence.mention(s) for s in spans))
        return texts or [sentence.text]

    def _fit(self) -> None:
        texts = [self.pool_span_texts(s) for s in self.pool]
        flat = self.encoder.encode([t for group in texts for t in group])
        self._pool_spans, start = [], 0
        for group in texts:
            self._pool_spans.append(flat[start : start + len(group)])
            start += len(group)

    def scores(self, queries: Sequence[Sentence]) -> np.ndarray:
        groups = [self.query_span_texts(q) for q in queries]
        flat = self.encoder.encode([t for g in groups for t in g])
        out = np.zeros((len(queries), len(self.pool)), dtype=np.float64)
        start = 0
        for qi, group in enumerate(groups):
            q_vectors = flat[start : start + len(group)]
            start += len(group)
            for pi, p_vectors in enumerate(self._pool_spans):
                best = (q_vectors @ p_vectors.T).max(axis=1)  # best match per query span
                out[qi, pi] = float(best.mean())
        return out

    def settings(self) -> dict[str, Any]:
        return {
            "method": self.name,
            "encoder": self.encoder.id,
            "query_candidates": "noun-phrase-like n-grams (fewner.icl.candidates)",
            "max_words": self.max_words,
            "max_candidates": self.max_candidates,
        }


@RETRIEVERS.register("fixed")
class FixedRetriever(Retriever):
    """The same demonstrations for every query, the richest in mentions nearest the query
    (module docstring)."""

    name = "fixed"

    def _fit(self) -> None:
        self._mentions = np.array([len(s.spans) for s in self.pool], dtype=np.float64)

    def scores(self, queries: Sequence[Sentence]) -> np.ndarray:
        # the query is ignored; retrieve_many breaks ties by pool order
        return np.tile(self._mentions, (len(queries), 1))


@RETRIEVERS.register("random")
class RandomRetriever(Retriever):
    """``k`` pool sentences at random, seeded per query (module docstring)."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.seed = seed

    @classmethod
    def from_options(cls, *, encoder: Encoder | None, seed: int, **options: Any) -> Retriever:
        return cls(seed)

    def _rng(self, query: Sentence) -> random.Random:
        digest = hashlib.sha256(f"{self.seed}\x00{query.id}\x00{query.text}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def scores(self, queries: Sequence[Sentence]) -> np.ndarray:
        out = np.zeros((len(queries), len(self.pool)), dtype=np.float64)
        for qi, query in enumerate(queries):
            out[qi] = self._permutation_scores(query)
        return out

    def _permutation_scores(self, query: Sentence) -> list[float]:
        order = list(range(len(self.pool)))
        self._rng(query).shuffle(order)
        scores = [0.0] * len(order)
        for rank, index in enumerate(order):
            scores[index] = float(len(order) - rank)  # first drawn scores highest
        return scores

    def settings(self) -> dict[str, Any]:
        return {"method": self.name, "seed": self.seed}


def make_retriever(
    name: str, *, encoder: Encoder | None = None, seed: int = 0, **options: Any
) -> Retriever:
    """Build retriever ``name``; ``options`` go to the span retriever (``max_words``,
    ``max_candidates``) and are ignored by the others."""
    if name not in RETRIEVERS:
        known = ", ".join(RETRIEVERS.names())
        raise ConfigError(f"unknown retrieval method {name!r}; known: {known}")
    retriever = RETRIEVERS[name]
    if retriever.needs_encoder and encoder is None:
        raise ConfigError(f"retrieval method {name!r} needs an encoder")
    return retriever.from_options(encoder=encoder, seed=seed, **options)
