"""The few-shot examples as prompt text: definitions_with_mentions (pure) and recipe="describe"
(a saved extractor asked zero-shot with those definitions, on a tiny random model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fewner.errors import ConfigError
from fewner.predictors.extractor import ExtractorPredictor
from fewner.prompts import MissingDefinitionError, definitions_with_mentions
from fewner.types import Sentence
from tests.tiny_models import tiny_causal_lm

LABELS = ["PER", "LOC", "MISC"]


def _support() -> list[Sentence]:
    return [
        Sentence.from_words("Peter met Anna in Paris .".split(), [(0, 1, "PER"), (2, 3, "PER"), (4, 5, "LOC")], id="s0"),
        Sentence.from_words("Anna flew to paris and Rome .".split(), [(0, 1, "PER"), (3, 4, "LOC"), (5, 6, "LOC")], id="s1"),
        Sentence.from_words("Rain fell on Berlin .".split(), [(3, 4, "LOC")], id="s2"),
    ]


def test_definitions_list_the_most_frequent_mentions_first() -> None:
    base = {"PER": "a person", "LOC": "a place", "MISC": "anything else"}
    described = definitions_with_mentions(base, _support(), LABELS, per_label=3)
    assert described["PER"] == 'a person, for example "Anna" or "Peter"'
    # "Paris" and "paris" are one mention (case-insensitive), the first spelling kept
    assert described["LOC"] == 'a place, for example "Paris", "Rome" or "Berlin"'
    assert described["MISC"] == "anything else"  # no mention: the definition alone
    one = definitions_with_mentions(base, _support(), ["LOC"], per_label=1)
    assert one == {"LOC": 'a place, for example "Paris"'}


def test_definitions_with_mentions_refuses_what_it_cannot_use() -> None:
    with pytest.raises(MissingDefinitionError):
        definitions_with_mentions({"PER": "a person"}, _support(), ["PER", "LOC"])
    with pytest.raises(ConfigError, match="per_label"):
        definitions_with_mentions({"PER": "a person"}, _support(), ["PER"], per_label=0)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("describe") / "lm")


def test_recipe_describe_prompts_with_the_examples_and_saves_them(model: Path, tmp_path: Path) -> None:
    import fewner

    ExtractorPredictor(str(model), ["PER"], max_new_tokens=16, none_bias=-0.5,
                       backend_options={"device": "cpu"}).save(tmp_path / "source")
    predictor = fewner.fit(_support(), LABELS, recipe="describe", model=tmp_path / "source",
                           definitions={"PER": "a person"}, per_label=2, out=tmp_path / "run")
    assert predictor.none_bias == -0.5  # the saved model's decoding is kept
    prompt = predictor._extractor_for(LABELS).fmt.prompt(_support()[2], "PER")
    assert 'a person, for example "Anna" or "Peter"' in prompt
    loaded = fewner.load(tmp_path / "run" / "model")
    assert loaded.definitions_for(["LOC", "MISC"]) == {
        "LOC": 'any LOC mentioned, for example "Paris" or "Rome"',
        "MISC": "any MISC mentioned",
    }
    assert loaded.training["recipe"] == "describe"
    assert len(loaded.predict_sentences(_support()[:1]).sentences) == 1
