"""Shared test fixtures.

Tests run offline (HF_HUB_OFFLINE=1) and with one torch thread: measured 5-60x steadier than two
threads on the 2-core CI machines.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _shared_data_dir() -> Path | None:
    env = os.environ.get("FEWNER_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    return next((p for p in candidates if p.is_dir()), None)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The benchmark data folder (../shared/data beside the checkout, or $FEWNER_SHARED_DATA)."""
    path = _shared_data_dir()
    if path is None:
        pytest.skip("benchmark data not found: set FEWNER_SHARED_DATA or put shared/data beside the repo")
    return path


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def gguf() -> Path:
    """The verified SmolLM2-135M-Instruct GGUF file (skips when the model is not installed)."""
    from fewner.errors import ModelNotAvailableError
    from fewner.models import gguf_path

    try:
        return gguf_path("smollm2-135m-instruct")
    except ModelNotAvailableError as err:
        pytest.skip(str(err))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """One torch thread, set only once torch is imported, so data-only runs never load torch."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)
