"""N-way K~2K-shot episode sampling (Few-NERD, Ding et al. 2021, Section 4, Algorithm 1).

Why a greedy sampler
--------------------
Sentences hold several mentions of several types, so "exactly K mentions per type" is usually
impossible. Few-NERD relaxes it to *between K and 2K mentions* per type and fills the support set
greedily over the sentences in random order. What is implemented here, precisely:

1. **Types.** ``n_way`` types are drawn uniformly (``rng.sample``) from the *eligible* types: those
   in the pool (``types=`` or every label in the data) with enough mentions to fill a support and a
   query set (see :meth:`EpisodeSampler.eligible_types`). Episode types are stored sorted.
2. **Support.** Walk over the candidate sentences (those mentioning an episode type) in an order
   drawn from ``rng``; add a sentence when (a) adding it keeps every episode type at <= 2K
   mentions and (b) at least one episode type it mentions is still below K. Stop as soon as every
   type has >= K. Mentions are counted as spans (``Sentence.spans``). Rule (b) is not in the
   paper's Algorithm 1 but is in the authors' sampler (``util/fewshotsampler.py``) that made the
   released episodes; without it a sentence that only adds to already-satisfied types could join.
   Both rules only get stricter as counts grow, so one pass over the order is enough: a sentence
   rejected once would be rejected again.
3. **Other entity types** (``other_types``). Algorithm 1 rejects a sentence that would bring the
   number of types above N (its ``|Count| > N`` test), and the authors' sampler rejects any
   sentence mentioning a type outside the episode. That is the default, ``"reject"``: every
   mention in an episode is of an episode type, and no real entity is ever labelled ``O``.
   ``"drop"`` instead keeps such sentences with the other types' spans removed (they read as
   ``O``): more sentences qualify, at the price of unlabelled entities in support and query.
4. **Query.** The same walk with ``n_query`` in place of ``K``, over the candidates not in the
   support set: the query set holds between Q and 2Q mentions of *each* type, as in the authors'
   sampler ("Q: how many instances for each type in query set") -- *not* "Q sentences".
   ``n_query=0`` gives an empty query set.
5. **Failure.** A walk can end with a type still below its minimum (every remaining sentence
   would push another type above 2K, or mentions a foreign type). The authors' sampler then loops
   forever; here the attempt is retried with fresh random types (when the pool allows another
   choice) and a fresh order, at most ``max_attempts`` times. Failures are counted in
   :class:`SamplingStats`, and running out of attempts raises :class:`EpisodeSamplingError`.
   Impossible requests (fewer eligible types than ``n_way``) fail at once.

Determinism: every random choice comes from the ``random.Random`` passed in. :func:`sample_episodes`
gives episode ``i`` its own generator seeded with ``f"{seed}:{i}"``, so an episode does not depend
on how many episodes were asked for (the first 10 of 100 episodes equal 10 episodes).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from fewner.errors import ConfigError, FewnerError
from fewner.types import Episode, Sentence

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each sampled episode."""

DEFAULT_MAX_ATTEMPTS = 20
OtherTypes = Literal["reject", "drop"]
OTHER_TYPES: tuple[str, ...] = ("reject", "drop")


class EpisodeSamplingError(FewnerError):
    """No valid episode could be drawn: too few types or mentions, or every attempt failed."""


@dataclass
class SamplingStats:
    """What sampling cost: episodes drawn, greedy attempts made, failures by reason."""

    episodes: int = 0
    attempts: int = 0
    failures: Counter[str] = field(default_factory=Counter)


def restrict_to_types(sentence: Sentence, types: Iterable[str]) -> Sentence:
    """The sentence with spans of other types removed (they read as ``O``)."""
    keep = set(types)
    if all(span.label in keep for span in sentence.spans):
        return sentence
    return sentence.with_spans(span for span in sentence.spans if span.label in keep)


class EpisodeSampler:
    """Samples episodes from one list of sentences; indexes mentions once for many episodes."""

    def __init__(self, sentences: Sequence[Sentence]) -> None:
        self.sentences: tuple[Sentence, ...] = tuple(sentences)
        # Per sentence: mentions per label. Per label: indexes of the sentences mentioning it.
        self._counts: list[Counter[str]] = [
            Counter(s.label for s in sent.spans) for sent in self.sentences
        ]
        self._by_type: dict[str, list[int]] = {}
        for index, counts in enumerate(self._counts):
            for label in counts:
                self._by_type.setdefault(label, []).append(index)
        self.stats = SamplingStats()
        self._eligible: dict[tuple[int, int, tuple[str, ...]], list[str]] = {}

    @property
    def labels(self) -> list[str]:
        """Every label mentioned in the sentences, sorted."""
        return sorted(self._by_type)

    def mentions(self, label: str) -> int:
        """Total mentions of ``label`` across the sentences."""
        return sum(self._counts[i][label] for i in self._by_type.get(label, ()))

    def eligible_types(
        self, k_shot: int, n_query: int, types: Iterable[str] | None = None
    ) -> list[str]:
        """Types that can fill a K~2K support set and a Q~2Q query set on their own.

        A type qualifies when the sentences holding at most 2K of its mentions hold at least K of
        them, and it has at least K + Q mentions in all. This is necessary, not sufficient: the
        greedy walk can still fail through interactions between types (then it retries).
        """
        pool = tuple(self._check_pool(types))
        key = (k_shot, n_query, pool)
        if key in self._eligible:  # many episodes ask the same question
            return list(self._eligible[key])
        eligible = []
        for label in pool:
            per_sentence = [self._counts[i][label] for i in self._by_type.get(label, ())]
            usable = sum(c for c in per_sentence if c <= 2 * k_shot)
            if usable >= k_shot and sum(per_sentence) >= k_shot + n_query:
                eligible.append(label)
        self._eligible[key] = eligible
        return list(eligible)

    def sample(
        self,
        n_way: int,
        k_shot: int,
        n_query: int,
        rng: random.Random,
        types: Iterable[str] | None = None,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        other_types: OtherTypes = "reject",
        episode_id: str = "",
    ) -> Episode:
        """One N-way K~2K-shot episode with a Q~2Q query set (see the module docstring)."""
        _check_sizes(n_way, k_shot, n_query, max_attempts, other_types)
        reject = other_types == "reject"
        pool = self._check_pool(types)
        if len(pool) < n_way:
            raise EpisodeSamplingError(
                f"cannot sample {n_way}-way episodes from {len(pool)} type(s) "
                f"({', '.join(pool) or 'no entity mentions'})"
            )
        eligible = self.eligible_types(k_shot, n_query, types)
        if len(eligible) < n_way:
            raise EpisodeSamplingError(
                f"cannot sample {n_way}-way {k_shot}~{2 * k_shot}-shot episodes with "
                f"{n_query}~{2 * n_query} query mentions per type: only {len(eligible)} type(s) have "
                f"enough mentions ({', '.join(eligible) or 'none'}) out of {len(pool)}"
            )
        for _ in range(max_attempts):
            self.stats.attempts += 1
            chosen = sorted(rng.sample(eligible, n_way))
            support = self._greedy(chosen, k_shot, rng, frozenset(), reject)
            if support is None:
                self.stats.failures["support could not reach K mentions of every type"] += 1
                continue
            query = self._greedy(chosen, n_query, rng, frozenset(support), reject)
            if query is None:
                self.stats.failures["query could not reach Q mentions of every type"] += 1
                continue
            self.stats.episodes += 1
            return Episode(
                types=tuple(chosen),
                support=tuple(restrict_to_types(self.sentences[i], chosen) for i in support),
                query=tuple(restrict_to_types(self.sentences[i], chosen) for i in query),
                id=episode_id,
            )
        raise EpisodeSamplingError(
            f"no valid {n_way}-way {k_shot}~{2 * k_shot}-shot episode after {max_attempts} attempts "
            f"(failures: {dict(self.stats.failures)}); try fewer ways or shots, or more data"
        )

    # ----- internals --------------------------------------------------------------------------
    def _check_pool(self, types: Iterable[str] | None) -> list[str]:
        if types is None:
            return self.labels
        pool = sorted(set(types))
        unknown = [t for t in pool if t not in self._by_type]
        if unknown:
            raise ConfigError(
                f"type(s) {', '.join(unknown)} not found in the data; "
                f"labels present: {', '.join(self.labels) or 'none'}"
            )
        return pool

    def _greedy(
        self,
        chosen: list[str],
        k: int,
        rng: random.Random,
        exclude: frozenset[int],
        reject_other_types: bool,
    ) -> list[int] | None:
        """Indexes of sentences giving each chosen type k..2k mentions, or None (dead end)."""
        if k == 0:
            return []
        allowed = set(chosen)
        candidates = sorted({i for t in chosen for i in self._by_type[t]} - exclude)
        count = dict.fromkeys(chosen, 0)
        picked: list[int] = []
        for index in _lazy_shuffle(candidates, rng):
            counts = self._counts[index]
            if reject_other_types and not counts.keys() <= allowed:
                continue  # a type outside the episode (Algorithm 1: |Count| > N)
            mine = [t for t in chosen if counts[t]]
            if any(count[t] + counts[t] > 2 * k for t in mine):
                continue  # some type would exceed 2K
            if all(count[t] >= k for t in mine):
                continue  # helps no type that still needs mentions
            picked.append(index)
            for t in mine:
                count[t] += counts[t]
            if all(c >= k for c in count.values()):
                return picked
        return None


def _lazy_shuffle(items: list[int], rng: random.Random) -> Iterator[int]:
    """Yield ``items`` in random order, drawing only as many positions as are consumed.

    A Fisher-Yates shuffle done one step per item, so a 1-shot episode over 14,000 candidate
    sentences costs a handful of random draws, not 14,000.
    """
    pool = list(items)
    for end in range(len(pool) - 1, -1, -1):
        j = rng.randint(0, end)
        pool[j], pool[end] = pool[end], pool[j]
        yield pool[end]


def _check_sizes(
    n_way: int, k_shot: int, n_query: int, max_attempts: int, other_types: str
) -> None:
    if other_types not in OTHER_TYPES:
        raise ConfigError(
            f"other_types must be one of {', '.join(OTHER_TYPES)}, got {other_types!r}"
        )
    if n_way < 1:
        raise ConfigError(f"n_way must be at least 1, got {n_way}")
    if k_shot < 1:
        raise ConfigError(f"k_shot must be at least 1, got {k_shot}")
    if n_query < 0:
        raise ConfigError(f"n_query must be 0 or more, got {n_query}")
    if max_attempts < 1:
        raise ConfigError(f"max_attempts must be at least 1, got {max_attempts}")


def sample_episode(
    sentences: Sequence[Sentence],
    n_way: int,
    k_shot: int,
    n_query: int,
    rng: random.Random,
    types: Iterable[str] | None = None,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    other_types: OtherTypes = "reject",
) -> Episode:
    """One N-way K~2K-shot episode; its query set has Q~2Q mentions per type (``n_query`` = Q).

    To draw many episodes from the same sentences, use :func:`sample_episodes` or one
    :class:`EpisodeSampler`, which indexes the sentences once.
    """
    return EpisodeSampler(sentences).sample(
        n_way, k_shot, n_query, rng, types, max_attempts=max_attempts, other_types=other_types
    )


def sample_episodes(
    sentences: Sequence[Sentence],
    n_way: int,
    k_shot: int,
    n_query: int,
    n_episodes: int,
    seed: int,
    types: Iterable[str] | None = None,
    progress: ProgressCallback | None = None,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    other_types: OtherTypes = "reject",
    sampler: EpisodeSampler | None = None,
) -> list[Episode]:
    """``n_episodes`` episodes; episode ``i`` uses ``random.Random(f"{seed}:{i}")``.

    ``progress(done, total)`` is called after each episode. Pass ``sampler`` to reuse its index
    and read its :class:`SamplingStats` afterwards; it must be built on ``sentences`` (when given,
    episodes are drawn from ``sampler.sentences``).
    """
    if n_episodes < 0:
        raise ConfigError(f"the number of episodes must be 0 or more, got {n_episodes}")
    sampler = sampler if sampler is not None else EpisodeSampler(sentences)
    pool = None if types is None else list(types)
    episodes = []
    for i in range(n_episodes):
        rng = random.Random(f"{seed}:{i}")
        episodes.append(
            sampler.sample(
                n_way,
                k_shot,
                n_query,
                rng,
                pool,
                max_attempts=max_attempts,
                other_types=other_types,
                episode_id=f"{seed}-{i}",
            )
        )
        if progress is not None:
            progress(i + 1, n_episodes)
    return episodes


def mention_counts(sentences: Iterable[Sentence]) -> Counter[str]:
    """Mentions per label over ``sentences`` (used for summaries and checks)."""
    return Counter(span.label for sentence in sentences for span in sentence.spans)
