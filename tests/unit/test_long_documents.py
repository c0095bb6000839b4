"""Long documents through real predictors: a ~3,000-word document of BBC News articles, a
5,000-word line with no sentence boundary, and the counters that say what was split."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fewner.predictors.dictionary import DictionaryPredictor
from fewner.text.sentences import sentence_spans
from fewner.types import Sentence

LABELS = ["PER", "LOC", "ORG"]


def _support() -> list[Sentence]:
    """Names that occur in the BBC News business articles."""
    return [
        Sentence.from_words("Time Warner and Google and AOL .".split(),
                            [(0, 2, "ORG"), (3, 4, "ORG"), (5, 6, "ORG")], id="s0"),
        Sentence.from_words("the US and the UK and Europe and London and China .".split(),
                            [(1, 2, "LOC"), (4, 5, "LOC"), (6, 7, "LOC"), (8, 9, "LOC"),
                             (10, 11, "LOC")], id="s1"),
        Sentence.from_words("Gordon Brown met Alan Greenspan at the Federal Reserve .".split(),
                            [(0, 2, "PER"), (3, 5, "PER"), (7, 9, "ORG")], id="s2"),
    ]


def _bbc_document(shared_data: Path, words: int = 3000) -> str:
    folder = shared_data / "bbc_news" / "business"
    if not folder.is_dir():
        pytest.skip(f"BBC News articles not found under {folder}")
    parts, count = [], 0
    for path in sorted(folder.glob("*.txt")):
        text = path.read_bytes().decode("utf-8", errors="replace").strip()
        parts.append(text)
        count += len(text.split())
        if count >= words:
            break
    return "\n\n".join(parts)


def _shifted(predictor, text: str) -> list[tuple[int, int, str, str]]:
    """Entities of ``text`` predicted sentence by sentence, at document offsets."""
    spans = sentence_spans(text)
    found = predictor.predict([text[a:b] for a, b in spans], LABELS)
    return [(e.start + a, e.end + a, e.label, e.text) for (a, _), es in zip(spans, found, strict=True) for e in es]


def _tuples(entities) -> list[tuple[int, int, str, str]]:
    return [(e.start, e.end, e.label, e.text) for e in entities]


def test_a_real_3000_word_document_with_the_dictionary(shared_data: Path) -> None:
    text = _bbc_document(shared_data)
    assert len(text.split()) >= 3000
    predictor = DictionaryPredictor(_support(), LABELS)
    result = predictor.predict_documents([text], LABELS)
    entities = result.entities(0)
    assert len(entities) > 30
    assert all(text[e.start : e.end] == e.text for e in entities)
    assert _tuples(entities) == _shifted(predictor, text)
    assert result.stats["sentences"] == len(sentence_spans(text)) > 100
    assert result.stats["long_sentences_split"] == 0
    predictor.window_words, predictor.window_overlap = 12, 4  # cut every sentence: same entities
    cut = predictor.predict_documents([text], LABELS)
    assert cut.stats["long_sentences_split"] > 50 and _tuples(cut.entities(0)) == _tuples(entities)


def test_a_real_3000_word_document_with_the_tiny_student(shared_data: Path, tmp_path: Path) -> None:
    from fewner.distill.student import Student
    from fewner.predictors.student import StudentPredictor
    from tests.unit.distill_tiny import tiny_encoder

    text = _bbc_document(shared_data)
    student = Student.build(str(tiny_encoder(tmp_path / "encoder")), LABELS, max_length=48, seed=0)
    predictor = StudentPredictor(student)
    window = predictor.window()
    assert window is not None and window.unit == "subwords" and window.size == 45
    result = predictor.predict_documents([text], LABELS)
    assert all(text[e.start : e.end] == e.text for e in result.entities(0))
    assert result.stats["long_sentences_split"] > 10
    assert result.stats["chunks"] > 2 * result.stats["long_sentences_split"]
    # sentences that fit the window are predicted as they would be alone
    alone = {(s, e, lab) for s, e, lab, _ in _shifted(predictor, text)}
    fits = [(a, b) for a, b in sentence_spans(text) if len(text[a:b].split()) < 10]
    assert fits
    for a, b in fits:
        inside = {(e.start, e.end, e.label) for e in result.entities(0) if a <= e.start < b}
        assert inside == {x for x in alone if a <= x[0] < b}


def test_a_5000_word_line_without_a_boundary() -> None:
    names = ["Gordon", "Brown", "met", "Alan", "Greenspan", "in", "London", "for", "Google"]
    text = " ".join(names[i % len(names)] for i in range(5000))
    predictor = DictionaryPredictor(_support(), LABELS)
    whole = predictor.predict(text, LABELS)
    assert len(whole) == 5000 // len(names) * 4 + 2  # the last partial cycle: Gordon Brown, Alan Greenspan
    predictor.window_words, predictor.window_overlap = 96, 16
    result = predictor.predict_documents([text], LABELS)
    assert result.stats["long_sentences_split"] == 1 and result.stats["chunks"] > 5000 // 96
    assert result.entities(0) == whole
    assert all(text[e.start : e.end] == e.text for e in whole)


def test_sentences_given_whole_are_counted_when_over_the_window() -> None:
    predictor = DictionaryPredictor(_support(), LABELS)
    predictor.window_words = 5
    sentences = _support()
    stats = predictor.predict_sentences(sentences, LABELS).stats
    assert stats["sentences_over_window"] == 3 and stats["sentences"] == 3
    predictor.window_words = None
    assert "sentences_over_window" not in predictor.predict_sentences(sentences, LABELS).stats


_WORDS = ["Peter", "Blackburn", "Brussels", "Reuters", "São", "Paulo", "said", "the", "a", "Mr.",
          "U.S.", "it", "Then", "x"]
_SEPS = [" ", " ", " ", ". ", "! ", "? ", "\n", "\n\n", "  ", ", ", "\t", "\u200b "]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(_WORDS), st.sampled_from(_SEPS)), max_size=120),
    st.integers(4, 30),
)
def test_any_document_gives_exact_offsets_and_the_same_entities_cut_or_whole(
    pieces: list[tuple[str, str]], window: int
) -> None:
    """Entities point at their text in the document, and a local predictor (a dictionary whose
    entries share no word) finds the same entities whatever the window."""
    text = "".join(w + s for w, s in pieces)
    support = [Sentence.from_words("Peter Blackburn of Reuters in Brussels and São Paulo".split(),
                                   [(0, 2, "PER"), (3, 4, "ORG"), (5, 6, "LOC"), (7, 9, "LOC")],
                                   id="s")]
    predictor = DictionaryPredictor(support, LABELS)
    whole = predictor.predict(text, LABELS)
    assert all(text[e.start : e.end] == e.text for e in whole)
    predictor.window_words, predictor.window_overlap = window, 2
    assert predictor.predict(text, LABELS) == whole
