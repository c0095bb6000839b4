"""The greedy N-way K~2K-shot sampler on small in-memory sentences (fast, no files)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fewner.data.episodes import (
    EpisodeSampler,
    EpisodeSamplingError,
    mention_counts,
    restrict_to_types,
    sample_episode,
    sample_episodes,
)
from fewner.errors import ConfigError, FewnerError
from fewner.types import Episode, Sentence

TYPES = ["A", "B", "C", "D", "E", "F"]


def make_sentence(index: int, labels: list[str]) -> Sentence:
    """One token per mention, separated by an O token: ``m0 o m1 o ...``."""
    words: list[str] = []
    spans: list[tuple[int, int, str]] = []
    for j, label in enumerate(labels):
        spans.append((len(words), len(words) + 1, label))
        words += [f"m{j}", "o"]
    return Sentence.from_words(words or ["empty"], spans, id=f"s{index}")


def make_corpus(seed: int, n: int = 200, types: list[str] = TYPES) -> list[Sentence]:
    rng = random.Random(seed)
    return [
        make_sentence(i, [rng.choice(types) for _ in range(rng.randint(0, 3))]) for i in range(n)
    ]


def check_episode(episode: Episode, n_way: int, k: int, q: int) -> None:
    assert len(episode.types) == n_way
    assert list(episode.types) == sorted(set(episode.types))
    support, query = mention_counts(episode.support), mention_counts(episode.query)
    for t in episode.types:
        assert k <= support[t] <= 2 * k
        assert q <= query[t] <= 2 * q
    assert set(support) <= set(episode.types)
    assert set(query) <= set(episode.types)
    ids_support = {s.id for s in episode.support}
    ids_query = {s.id for s in episode.query}
    assert not ids_support & ids_query
    assert len(ids_support) == len(episode.support) and len(ids_query) == len(episode.query)
    # every support and query sentence mentions an episode type (otherwise it is wasted)
    assert all(s.spans for s in (*episode.support, *episode.query))


def test_episode_obeys_k_to_2k_on_a_small_corpus() -> None:
    episode = sample_episode(make_corpus(0), 3, 2, 3, random.Random(1))
    check_episode(episode, 3, 2, 3)


def test_other_types_are_removed_not_the_sentence() -> None:
    sentence = make_sentence(0, ["A", "B", "A"])
    kept = restrict_to_types(sentence, ["A"])
    assert [s.label for s in kept.spans] == ["A", "A"]
    assert kept.text == sentence.text and kept.tokens == sentence.tokens
    assert restrict_to_types(sentence, ["A", "B"]) is sentence


def test_a_sentence_with_too_many_mentions_is_never_added() -> None:
    # s0 alone has 3 x A > 2K for K=1: the only valid support is s1.
    corpus = [make_sentence(0, ["A", "A", "A"]), make_sentence(1, ["A"]), make_sentence(2, ["A"])]
    for seed in range(10):
        episode = sample_episode(corpus, 1, 1, 1, random.Random(seed))
        assert all(s.id != "s0" for s in (*episode.support, *episode.query))
        check_episode(episode, 1, 1, 1)


def test_same_seed_same_episodes_and_other_seeds_differ() -> None:
    corpus = make_corpus(3)
    first = sample_episodes(corpus, 3, 1, 2, 5, seed=7)
    again = sample_episodes(corpus, 3, 1, 2, 5, seed=7)
    other = sample_episodes(corpus, 3, 1, 2, 5, seed=8)
    assert first == again
    assert first != other
    assert [e.id for e in first] == [f"7-{i}" for i in range(5)]


def test_episode_i_does_not_depend_on_how_many_were_asked() -> None:
    corpus = make_corpus(4)
    assert (
        sample_episodes(corpus, 2, 1, 1, 3, seed=0)
        == sample_episodes(corpus, 2, 1, 1, 8, seed=0)[:3]
    )


def test_progress_callback_counts_every_episode() -> None:
    calls: list[tuple[int, int]] = []
    sample_episodes(make_corpus(5), 2, 1, 1, 4, seed=0, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_type_pool_restricts_the_choice() -> None:
    episodes = sample_episodes(make_corpus(6), 2, 1, 1, 20, seed=0, types=["B", "D", "F"])
    chosen = {t for e in episodes for t in e.types}
    assert chosen <= {"B", "D", "F"}
    assert len(chosen) == 3  # over 20 episodes, every pooled type shows up


def test_unknown_type_in_pool_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Z"):
        sample_episode(make_corpus(0), 1, 1, 1, random.Random(0), types=["A", "Z"])


@pytest.mark.parametrize(("n_way", "k_shot", "n_query"), [(0, 1, 1), (1, 0, 1), (1, 1, -1)])
def test_bad_sizes_are_config_errors(n_way: int, k_shot: int, n_query: int) -> None:
    with pytest.raises(ConfigError):
        sample_episode(make_corpus(0), n_way, k_shot, n_query, random.Random(0))


def test_too_few_types_with_enough_mentions_fails_at_once() -> None:
    corpus = [make_sentence(0, ["A"]), make_sentence(1, ["A"]), make_sentence(2, ["B"])]
    sampler = EpisodeSampler(corpus)
    assert sampler.eligible_types(1, 1) == ["A"]  # B has 1 mention, needs K + Q = 2
    with pytest.raises(EpisodeSamplingError, match="only 1 type"):
        sampler.sample(2, 1, 1, random.Random(0))
    assert sampler.stats.attempts == 0


def test_greedy_dead_end_is_retried_a_bounded_number_of_times_and_counted() -> None:
    # Every sentence mentioning B also holds 3 x A, so with K=1 (A <= 2) A and B can never
    # both be in one support set: each attempt with {A, B} fails, and no other pair exists.
    corpus = [make_sentence(i, ["A", "A", "A", "B"]) for i in range(4)] + [
        make_sentence(10 + i, ["A"]) for i in range(4)
    ]
    sampler = EpisodeSampler(corpus)
    with pytest.raises(EpisodeSamplingError, match="after 5 attempts"):
        sampler.sample(2, 1, 1, random.Random(0), max_attempts=5)
    assert sampler.stats.attempts == 5
    assert sum(sampler.stats.failures.values()) == 5
    assert isinstance(EpisodeSamplingError("x"), FewnerError)


def test_zero_query_gives_an_empty_query_set() -> None:
    episode = sample_episode(make_corpus(1), 2, 1, 0, random.Random(0))
    assert episode.query == ()
    check_episode(episode, 2, 1, 0)


def test_sentences_are_not_copied_when_nothing_is_removed() -> None:
    corpus = [make_sentence(i, ["A"]) for i in range(6)]
    episode = sample_episode(corpus, 1, 1, 1, random.Random(0))
    assert all(any(s is c for c in corpus) for s in (*episode.support, *episode.query))


def test_reject_skips_sentences_with_foreign_types_and_drop_keeps_them() -> None:
    corpus = [make_sentence(0, ["A", "B"]), make_sentence(1, ["A"]), make_sentence(2, ["A"])]
    for seed in range(10):
        rejected = sample_episode(corpus, 1, 1, 1, random.Random(seed), types=["A"])
        assert {s.id for s in (*rejected.support, *rejected.query)} == {"s1", "s2"}
    seen = set()
    for seed in range(20):
        dropped = sample_episode(
            corpus, 1, 1, 1, random.Random(seed), types=["A"], other_types="drop"
        )
        check_episode(dropped, 1, 1, 1)
        seen |= {s.id for s in (*dropped.support, *dropped.query)}
    assert "s0" in seen


def test_a_sentence_that_helps_no_type_below_k_is_skipped() -> None:
    # K=1, types A and B. Once one A sentence is in, A has its K; a second A sentence would keep
    # A <= 2K but helps no type below K, so it is skipped (the authors' sampler does the same).
    corpus = [make_sentence(0, ["A"]), make_sentence(1, ["A"]), make_sentence(2, ["B"])]
    for seed in range(30):
        episode = sample_episode(corpus, 2, 1, 0, random.Random(seed))
        assert mention_counts(episode.support) == {"A": 1, "B": 1}


def test_unknown_other_types_policy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="other_types"):
        sample_episode(make_corpus(0), 1, 1, 1, random.Random(0), other_types="keep")  # type: ignore[arg-type]


corpus_seeds = st.integers(min_value=0, max_value=10_000)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    corpus_seed=corpus_seeds,
    rng_seed=st.integers(min_value=0, max_value=2**32),
    n_way=st.integers(1, 4),
    k_shot=st.integers(1, 3),
    n_query=st.integers(0, 3),
    other_types=st.sampled_from(["reject", "drop"]),
)
def test_property_any_returned_episode_is_valid(
    corpus_seed: int, rng_seed: int, n_way: int, k_shot: int, n_query: int, other_types: str
) -> None:
    corpus = make_corpus(corpus_seed, n=120)
    try:
        episode = sample_episode(
            corpus, n_way, k_shot, n_query, random.Random(rng_seed), other_types=other_types
        )
    except EpisodeSamplingError:
        # Only acceptable when the greedy walk really can dead-end; the message says why.
        return
    check_episode(episode, n_way, k_shot, n_query)
    # the episode's sentences come from the corpus, with only other-type spans removed
    by_id = {s.id: s for s in corpus}
    for s in (*episode.support, *episode.query):
        original = by_id[s.id]
        assert s.text == original.text
        if other_types == "reject":
            assert s is original  # nothing to remove: foreign-type sentences are never picked
        assert Counter(x.label for x in s.spans) == Counter(
            {
                t: c
                for t, c in Counter(x.label for x in original.spans).items()
                if t in episode.types
            }
        )


@settings(max_examples=30, deadline=None)
@given(corpus_seed=corpus_seeds, seed=st.integers(0, 1000))
def test_property_same_seed_is_deterministic(corpus_seed: int, seed: int) -> None:
    corpus = make_corpus(corpus_seed, n=100)
    assert sample_episodes(corpus, 2, 1, 1, 3, seed) == sample_episodes(corpus, 2, 1, 1, 3, seed)
