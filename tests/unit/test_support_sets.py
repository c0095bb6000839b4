"""Fixed support sets: ten episodes per (dataset, shots), checked against the data README."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from fewner.data.episodes import mention_counts
from fewner.data.io import read_corpus
from fewner.data.support_sets import (
    fixed_support_sets,
    load_fixed_support_sets,
    read_types,
    support_set_files,
)
from fewner.errors import ConfigError, DataFormatError
from fewner.types import Corpus, Episode

# Sentences per support set 0..9, from shared/data/domain_transfer_support_sets/README.md.
README_SENTENCES = {
    ("conll", 1): [4, 4, 2, 1, 2, 3, 2, 3, 3, 1],
    ("conll", 5): [11, 10, 8, 7, 7, 8, 8, 11, 7, 10],
    ("wnut", 1): [6, 5, 5, 4, 5, 5, 5, 5, 6, 5],
    ("wnut", 5): [23, 21, 20, 23, 25, 20, 24, 20, 22, 18],
    ("gum", 1): [5, 8, 4, 4, 6, 5, 6, 5, 5, 6],
    ("gum", 5): [21, 19, 16, 22, 21, 21, 17, 18, 22, 23],
}
# Test-set sentences (CoNLL excluding -DOCSTART-), from each dataset's README.
TEST_SENTENCES = {"conll": 3453, "wnut": 1287, "gum": 1000}
TYPES = {
    "conll": {"PER", "LOC", "ORG", "MISC"},
    "wnut": {"corporation", "creative-work", "group", "location", "person", "product"},
    "gum": {
        "abstract",
        "animal",
        "event",
        "object",
        "organization",
        "person",
        "place",
        "plant",
        "quantity",
        "substance",
        "time",
    },  # fmt: skip
}


@cache
def cached_read(path: Path) -> Corpus:
    """Each file is read once per test session: the test sets are the slow part."""
    return read_corpus(path, format="auto")


@cache
def cached_sets(root: Path, dataset: str, shots: int) -> list[Episode]:
    return fixed_support_sets(root, dataset, shots, reader=cached_read)


@pytest.mark.parametrize(("dataset", "shots"), sorted(README_SENTENCES))
def test_sets_match_the_readme(shared_data: Path, dataset: str, shots: int) -> None:
    episodes = cached_sets(shared_data, dataset, shots)
    assert [len(e.support) for e in episodes] == README_SENTENCES[dataset, shots]
    assert [e.id for e in episodes] == [f"{dataset}-{shots}shot-{i}" for i in range(10)]
    for episode in episodes:
        assert set(episode.types) == TYPES[dataset]
        counts = mention_counts(episode.support)
        # README: every set covers all types with at least K mentions (not capped at 2K)
        assert all(counts[t] >= shots for t in episode.types)
        assert episode.query is episodes[0].query  # one shared tuple, not ten copies
    assert len(episodes[0].query) == TEST_SENTENCES[dataset]


def test_conll_test_mentions_match_the_readme(shared_data: Path) -> None:
    query = cached_sets(shared_data, "conll", 1)[0].query
    assert mention_counts(query) == {"LOC": 1668, "ORG": 1661, "PER": 1617, "MISC": 702}


def test_known_first_tokens(shared_data: Path) -> None:
    # README quirks: conll 5-shot set 0 starts with BASKETBALLSOCCER; gum 5-shot set 0 has ".2 grams"
    conll = cached_sets(shared_data, "conll", 5)[0]
    assert conll.support[0].tokens[0].text == "BASKETBALLSOCCER"
    gum = cached_sets(shared_data, "gum", 5)[0]
    mentions = {(s.mention(x), x.label) for s in gum.support for x in s.spans}
    assert any(text.startswith(".2 grams ") and label == "substance" for text, label in mentions)


def test_load_reports_corpora(shared_data: Path) -> None:
    loaded = load_fixed_support_sets(shared_data, "wnut", 1)
    assert len(loaded.corpora) == 11  # test set + ten support files
    assert loaded.files.test.name == "emerging.test.annotated"


def test_read_types_strips_prefixes(tmp_path: Path) -> None:
    path = tmp_path / "labels-x.txt"
    path.write_text("O\nB-creative-work\nB-person\nI-creative-work\nI-person", encoding="utf-8")
    assert read_types(path) == ("creative-work", "person")


def test_read_types_rejects_an_unprefixed_tag(tmp_path: Path) -> None:
    path = tmp_path / "labels-x.txt"
    path.write_text("O\nperson\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=":2"):
        read_types(path)


def test_unknown_dataset_and_shots_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown dataset"):
        support_set_files(tmp_path, "i2b2", 1)
    with pytest.raises(ConfigError, match="1 or 5"):
        support_set_files(tmp_path, "conll", 2)


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="12 file"):
        support_set_files(tmp_path, "wnut", 5)


def _tiny_tree(root: Path, support_tag: str) -> None:
    folder = root / "domain_transfer_support_sets"
    (folder / "samples-wnut-1shot").mkdir(parents=True)
    (folder / "labels-wnut.txt").write_text("O\nB-person\nI-person\n", encoding="utf-8")
    for i in range(10):
        (folder / "samples-wnut-1shot" / f"{i}.txt").write_text(
            f"Ann\t{support_tag}\nsings\tO\n", encoding="utf-8"
        )
    (root / "wnut17").mkdir()
    (root / "wnut17" / "emerging.test.annotated").write_text(
        "Bob\tB-person\nruns\tO\n\nno\tO\n", encoding="utf-8"
    )


def test_tiny_tree_reads(tmp_path: Path) -> None:
    _tiny_tree(tmp_path, "B-person")
    episodes = fixed_support_sets(tmp_path, "wnut", 1)
    assert len(episodes) == 10
    assert episodes[3].types == ("person",)
    assert [s.mention(x) for s in episodes[3].support for x in s.spans] == ["Ann"]
    assert len(episodes[3].query) == 2


def test_a_label_outside_the_inventory_is_a_format_error(tmp_path: Path) -> None:
    _tiny_tree(tmp_path, "B-location")
    with pytest.raises(DataFormatError, match="location"):
        fixed_support_sets(tmp_path, "wnut", 1)
