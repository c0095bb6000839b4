"""Predictors: every method fewner has, behind one protocol (:class:`Predictor`).

:data:`PREDICTORS` maps a kind to its class; each class saves a self-describing folder
(:mod:`fewner.predictors.manifest`) and :func:`load_folder` reads any of them back. Add a
predictor by subclassing :class:`Predictor` in a module of its own and registering it (``lazy``
below, or ``@PREDICTORS.register`` / the ``fewner.predictors`` entry-point group for a plugin);
tests/contract/test_predictor_contract.py then checks it.

Importing this package does not import torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fewner.predictors.base import Entity, Predictions, Predictor
from fewner.predictors.manifest import MANIFEST_FILE, Manifest
from fewner.registry import Registry

__all__ = ["MANIFEST_FILE", "PREDICTORS", "Entity", "Manifest", "Predictions", "Predictor", "load_folder"]

PREDICTORS: Registry[type[Predictor]] = Registry(
    "predictor",
    lazy={
        "extractor": "fewner.predictors.extractor",
        "icl": "fewner.predictors.icl",
        "student": "fewner.predictors.student",
        "dictionary": "fewner.predictors.dictionary",
        "annotator": "fewner.predictors.annotator",
        "span": "fewner.spanmodel.predictor",
    },
)


def load_folder(folder: str | Path, **overrides: Any) -> Predictor:
    """The predictor saved in ``folder`` (its manifest says which kind); ``overrides`` replace
    saved settings that do not change what the model is (``cache``, ``batch_size``, ...).

    A distillation student folder from before manifests (``student.json``) loads too.
    """
    folder = Path(folder).expanduser()
    if not (folder / MANIFEST_FILE).is_file() and (folder / "student.json").is_file():
        from fewner.predictors.student import StudentPredictor

        return StudentPredictor.from_student_folder(folder, **overrides)
    manifest = Manifest.read(folder)
    return PREDICTORS[manifest.kind]._from_folder(folder, manifest, **overrides)
