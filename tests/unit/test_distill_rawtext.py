"""Raw text folders to sentences for the teacher (fewner.distill.rawtext)."""

from __future__ import annotations

import pytest

from fewner.distill.rawtext import read_raw_folder, split_sentences
from fewner.errors import DataFormatError


def test_split_sentences():
    text = 'Profits rose 2% to $11.1bn. "It was a good year," he said. Is it? Yes! 3 more.'
    assert split_sentences(text) == [
        "Profits rose 2% to $11.1bn.",
        '"It was a good year," he said.',
        "Is it?",
        "Yes!",
        "3 more.",
    ]
    assert split_sentences("  spread\nover   lines.  ") == ["spread over lines."]
    assert split_sentences("") == []


def test_read_folder_counts_bad_bytes_and_short_sentences(tmp_path):
    (tmp_path / "sport").mkdir()
    (tmp_path / "sport" / "001.txt").write_bytes(
        b"Headline here\n\nIt cost \xa3600m in total. Short one.\n\nA last full sentence here."
    )
    (tmp_path / "tech").mkdir()
    (tmp_path / "tech" / "001.txt").write_text("Another article with enough words.\n")
    corpus = read_raw_folder(tmp_path, min_words=3)
    texts = [s.text for s in corpus.sentences]
    assert texts == [
        "It cost \ufffd600m in total.",
        "A last full sentence here.",
        "Another article with enough words.",
    ]
    assert corpus.repaired["undecodable byte replaced by U+FFFD"] == 1
    assert corpus.skipped["sentence under 3 words"] == 2  # "Headline here", "Short one."
    assert corpus.sentences[0].id == "sport/001.txt:1:0"
    assert all(s.tokens and s.spans == () for s in corpus.sentences)
    assert [s.text for s in read_raw_folder(tmp_path, min_words=3, limit=2).sentences] == texts[:2]
    sample = read_raw_folder(tmp_path, min_words=3, limit=2, seed=0).sentences
    assert len(sample) == 2 and [s.text for s in sample] == [
        t for t in texts if t in {s.text for s in sample}
    ]
    assert sample == read_raw_folder(tmp_path, min_words=3, limit=2, seed=0).sentences


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(DataFormatError):
        read_raw_folder(tmp_path)


def test_real_bbc_folder(shared_data):
    corpus = read_raw_folder(shared_data / "bbc_news", limit=50, seed=0)
    assert len(corpus.sentences) == 50
    assert len({s.meta[0][1].split("/")[0] for s in corpus.sentences}) == 5  # all five categories
