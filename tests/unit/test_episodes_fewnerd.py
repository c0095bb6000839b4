"""The sampler on the real Few-NERD INTER test split (unofficial BIO re-tag, 14,006 sentences)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fewner.data.episodes import EpisodeSampler, mention_counts, sample_episodes
from fewner.data.io import read_corpus
from fewner.types import Episode, Sentence

BIG_TEST = "fewnerd/inter_test_bio_unofficial/big_test.txt"
# Mentions per type from shared/data/fewnerd/README.md (runs that start with B-; two I- after a
# different type are read as extra mentions by the repair policy, so allow a small excess).
README_MENTIONS = {"person_athlete": 5444, "event_election": 203, "building_theater": 380}


@pytest.fixture(scope="module")
def big_test(shared_data: Path) -> list[Sentence]:
    """Read once per module: the file is 312,762 tokens."""
    return read_corpus(shared_data / BIG_TEST, format="auto").sentences


@pytest.fixture(scope="module")
def sampler(big_test: list[Sentence]) -> EpisodeSampler:
    return EpisodeSampler(big_test)


@pytest.fixture(scope="module")
def episodes_5_1(big_test: list[Sentence], sampler: EpisodeSampler) -> list[Episode]:
    return sample_episodes(big_test, 5, 1, 1, 200, seed=0, sampler=sampler)


def test_the_file_has_the_documented_types(
    big_test: list[Sentence], sampler: EpisodeSampler
) -> None:
    assert len(big_test) == 14006
    assert len(sampler.labels) == 17
    for label, count in README_MENTIONS.items():
        assert count <= sampler.mentions(label) <= count + 2


def test_5_way_1_shot_support_has_1_to_2_mentions_per_type(episodes_5_1: list[Episode]) -> None:
    for episode in episodes_5_1:
        assert len(episode.types) == 5
        counts = mention_counts(episode.support)
        assert all(1 <= counts[t] <= 2 for t in episode.types)
        assert set(counts) == set(episode.types)


def test_query_labels_are_episode_types_and_disjoint(episodes_5_1: list[Episode]) -> None:
    for episode in episodes_5_1:
        query = mention_counts(episode.query)
        assert set(query) == set(episode.types)
        assert all(1 <= query[t] <= 2 for t in episode.types)
        assert not {s.id for s in episode.support} & {s.id for s in episode.query}


def test_every_type_is_drawn_over_many_episodes(episodes_5_1: list[Episode]) -> None:
    assert len({t for e in episodes_5_1 for t in e.types}) == 17


def test_same_seed_same_and_other_seed_different(
    big_test: list[Sentence], sampler: EpisodeSampler, episodes_5_1: list[Episode]
) -> None:
    again = sample_episodes(big_test, 5, 1, 1, 20, seed=0, sampler=sampler)
    assert again == episodes_5_1[:20]
    other = sample_episodes(big_test, 5, 1, 1, 20, seed=1, sampler=sampler)
    assert all(a != b for a, b in zip(again, other, strict=True))


def test_10_way_5_shot_obeys_5_to_10(sampler: EpisodeSampler) -> None:
    rng = random.Random(3)
    for _ in range(5):
        episode = sampler.sample(10, 5, 5, rng)
        support, query = mention_counts(episode.support), mention_counts(episode.query)
        assert all(5 <= support[t] <= 10 and 5 <= query[t] <= 10 for t in episode.types)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n_way=st.integers(1, 10),
    k_shot=st.sampled_from([1, 5]),
    n_query=st.integers(0, 5),
)
def test_property_real_episodes_are_valid(
    sampler: EpisodeSampler, seed: int, n_way: int, k_shot: int, n_query: int
) -> None:
    episode = sampler.sample(n_way, k_shot, n_query, random.Random(seed))
    support, query = mention_counts(episode.support), mention_counts(episode.query)
    assert set(support) == set(episode.types) and len(episode.types) == n_way
    assert set(query) <= set(episode.types)
    for t in episode.types:
        assert k_shot <= support[t] <= 2 * k_shot
        assert n_query <= query[t] <= 2 * n_query
    assert not {s.id for s in episode.support} & {s.id for s in episode.query}
