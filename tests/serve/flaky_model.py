"""A test-only predictor kind, ``test-flaky`` (never shipped): the dictionary predictor, plus

* every call takes ``CALL_SECONDS``, so concurrent requests pile up and get batched;
* a text containing ``BOOM`` raises an error with a "secret" in its message (must not leak);
* a text containing ``SLEEP`` takes ``SLEEP_SECONDS`` (longer than the test server's timeout).

:func:`register` adds the kind; the server tests call it in the server process only
(``ServerProcess(..., preamble="import tests.serve.flaky_model as m; m.register()")``), so the
test process's registry holds fewner's own kinds (tests/unit/test_registry.py checks them).
"""

from __future__ import annotations

import time

from fewner.predictors import PREDICTORS
from fewner.predictors.base import Predictions
from fewner.predictors.dictionary import DictionaryPredictor
from fewner.types import Sentence

CALL_SECONDS = 0.2
SLEEP_SECONDS = 2.5
SECRET = "secret-internal-detail-42"


class FlakyPredictor(DictionaryPredictor):
    kind = "test-flaky"

    def _predict_batch(self, sentences: list[Sentence], labels: list[str]) -> Predictions:
        time.sleep(CALL_SECONDS)
        for sentence in sentences:
            if "BOOM" in sentence.text:
                raise RuntimeError(f"predictor exploded: {SECRET}")
            if "SLEEP" in sentence.text:
                time.sleep(SLEEP_SECONDS)
        return super()._predict_batch(sentences, labels)


def register() -> None:
    """Register the test-only kind: in the server process only (the preamble calls this), so the
    test process's registry keeps fewner's own kinds."""
    if FlakyPredictor.kind not in PREDICTORS:
        PREDICTORS.register(FlakyPredictor.kind, FlakyPredictor)
