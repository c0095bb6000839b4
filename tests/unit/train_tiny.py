"""Test support for the training tests: the mini CoNLL data and a training-config writer.

The tiny random Llama (:func:`tiny_causal_lm`) and :func:`mini_sentences` live in
:mod:`tests.tiny_models` with the other tiny-model builders; they are re-exported here for the
tests that import them from this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.tiny_models import mini_sentences, tiny_causal_lm

__all__ = ["MINI_CONLL", "mini_sentences", "tiny_causal_lm", "write_train_config"]

# mini_sentences() as a CoNLL file: what the training-run tests train and test on
MINI_CONLL = """EU B-ORG
rejects O
German B-MISC
call O
. O

Peter B-PER
Blackburn I-PER

Zürich B-LOC
vs O
São B-LOC
Paulo I-LOC
in O
Brazil B-LOC

The O
talks O
ended O
. O
"""


def write_train_config(
    tmp_path: Path, model_dir: Path, stages: dict[str, Any], **top: Any
) -> Path:
    """``tmp_path/config.yaml``: a training run of the tiny model at ``model_dir`` over
    :data:`MINI_CONLL` (written to ``tmp_path/data/mini.conll``, the ``data_root``) with these
    ``stages`` and any other top-level keys (``test``, ``lora``, ...)."""
    import yaml

    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "mini.conll").write_text(MINI_CONLL, encoding="utf-8")
    config = {
        "model": str(model_dir),
        "template": "obp-llm",
        "definitions": "conll2003",
        "data_root": str(data),
        "seed": 1,
        "stages": stages,
        **top,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")  # stage order
    return path
