"""fewner's public face: :func:`load` a predictor, :func:`fit` one on a few examples.

::

    import fewner
    ner = fewner.load("smollm2-135m-ner")                        # zero-shot, any labels
    ner.predict("Apple hired Tim in Cupertino.", labels=["company", "person", "city"])
    ner = fewner.fit(examples, labels=["person", "city"], recipe="ner-sft")
    ner.save("my-ner/"); fewner.load("my-ner/").predict(texts)

Everything here delegates to :mod:`fewner.predictors` (the protocol and the saved-folder
format) and :mod:`fewner.recipes` (how each method learns from examples); the CLI calls the
same functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fewner.predictors import MANIFEST_FILE, Predictor, load_folder

__all__ = ["fit", "load"]


def load(model: str | Path, *, labels: list[str] | None = None, **options: Any) -> Predictor:
    """A ready predictor from a saved fewner folder, or a language model used zero-shot.

    ``model``: a model shipped with fewner (``fewner-span-minilm``: the span model, any
    labels, fast on a CPU), a folder written by ``Predictor.save`` (or ``fewner train`` /
    ``fit``) — its
    manifest says everything, and ``options`` may only change how it runs (``cache``,
    ``batch_size``, ``backend_options``...); otherwise a catalogue name
    (``smollm2-135m-instruct``), a local transformers folder, a hub id or a ``.gguf`` file,
    which becomes an :class:`~fewner.predictors.extractor.ExtractorPredictor` with ``options``
    (``adapter``, ``template``, ``definitions``, ``chat``, ``backend``, ...). ``labels``: the
    default label set for ``predict``.
    """
    path = _model_path(model)
    if path.is_dir() and (
        (path / MANIFEST_FILE).is_file()
        or (path / "student.json").is_file()
        or (path / "adapter_config.json").is_file()  # a bare adapter: load_folder explains
    ):
        predictor = load_folder(path, **options)
        if labels is not None:
            predictor.labels = predictor.resolve_labels(labels)
        return predictor
    from fewner.models import check_model_reference
    from fewner.predictors.extractor import ExtractorPredictor

    check_model_reference(model)  # a missing path is an error, not a hub id
    if "backend" not in options and str(model).endswith(".gguf"):
        options["backend"] = "llamacpp"
    return ExtractorPredictor(str(model), labels or (), **options)


def _model_path(model: str | Path) -> Path:
    """A shipped model's folder, else ``model`` as a path (it may not exist)."""
    from fewner.spanmodel.shipped import shipped_path

    return shipped_path(str(model)) or Path(str(model)).expanduser()


def saved_kind(model: str | Path) -> str | None:
    """The predictor kind of a shipped model or saved folder, read without loading it (a legacy
    student folder is ``student``); None for anything else (a language model used zero-shot)."""
    import json

    path = _model_path(model)
    if (path / MANIFEST_FILE).is_file():
        try:
            kind = json.loads((path / MANIFEST_FILE).read_text(encoding="utf-8")).get("kind")
        except (OSError, ValueError, AttributeError):
            return None  # load_folder explains a broken manifest
        return kind if isinstance(kind, str) else None
    if (path / "student.json").is_file() or (path / "student" / "student.json").is_file():
        return "student"
    return None


#: the recipe :func:`fit` and ``fewner fit`` use when none is named: the span model, seconds on a CPU
DEFAULT_RECIPE = "span"


def fit(
    examples: Any,
    labels: list[str] | None = None,
    *,
    recipe: str = DEFAULT_RECIPE,
    **options: Any,
) -> Predictor:
    """A predictor learned from labeled ``examples`` with ``recipe``.

    ``examples``: a data file path, or a list of Sentences, ``(text, [(start, end, label)])``
    pairs or JSONL-style records (:func:`fewner.data.examples.as_examples`), held in memory —
    nothing is written but the run folder of a training recipe. ``labels``: the entity types
    to learn (default: every label in the examples); labels absent from the examples are
    allowed and train "none" answers. ``recipe``: a :data:`fewner.recipes.RECIPES` name
    (``span``, the default as in ``fewner fit``: the shipped span model adapted in seconds;
    ``ner-sft``: the LLM extractor from its broad source stage; ``calibrate``, ``obp-llm``,
    ``cllmfs``, ``grait``, ``icl``, ``dictionary``, ...); ``options`` go to it
    (e.g. ``model``, ``definitions``, ``out``, ``overrides`` for the training recipes).
    """
    from fewner.data.examples import as_examples
    from fewner.errors import ConfigError
    from fewner.recipes import RECIPES

    sentences = as_examples(examples)
    found = sorted({s.label for x in sentences for s in x.spans})
    wanted = list(dict.fromkeys(labels)) if labels is not None else found
    if not wanted:
        raise ConfigError("fit: no labels given and none found in the examples")
    unknown = sorted(set(found) - set(wanted))
    if unknown:  # spans of labels not asked for would be trained as "none": say so, drop them
        import warnings

        warnings.warn(
            f"fit: the examples' spans of {unknown} are left out (not in labels=)", stacklevel=2
        )
        keep = set(wanted)
        sentences = [s.with_spans(sp for sp in s.spans if sp.label in keep) for s in sentences]
    return RECIPES[recipe](sentences, wanted, **options)
