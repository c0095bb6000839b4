"""The ICL recipes of ``fewner.fit`` resolve their shipped presets (``recipe: el4ner`` layering)."""

from __future__ import annotations

import pytest

import fewner
from fewner.predictors.icl import IclPredictor
from tests.unit.icl_fakes import WordEncoder, sent

SUPPORT = [sent("Ann visited Paris", [(0, 1, "PER"), (2, 3, "LOC")]),
           sent("Bob met Carl", [(0, 1, "PER"), (2, 3, "PER")])]


@pytest.mark.parametrize(("recipe", "options", "method", "parallel"), [
    ("icl", {}, "span", False),
    ("icl", {"preset": "el4ner-pool"}, "span", True),
    ("icl-fast", {}, "fixed", True),
])
def test_icl_recipes_layer_their_preset_over_el4ner(recipe: str, options: dict, method: str,
                                                     parallel: bool) -> None:
    predictor = fewner.fit(SUPPORT, recipe=recipe, encoder=WordEncoder(), **options)
    assert isinstance(predictor, IclPredictor)
    config = predictor.config
    assert config.retrieval.method == method
    assert config.parallel is parallel
    assert len(config.models) == 3  # el4ner's ensemble, inherited by the layered presets
