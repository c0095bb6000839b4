"""Fixtures of the bulk-job tests: a saved dictionary model (no torch)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bulk.corpora import LABELS, support


@pytest.fixture(scope="session")
def dictionary_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DictionaryPredictor saved to a folder, as ``fewner.load`` reads it on every worker."""
    from fewner.predictors.dictionary import DictionaryPredictor

    return DictionaryPredictor(support(), LABELS).save(tmp_path_factory.mktemp("bulk") / "model")
