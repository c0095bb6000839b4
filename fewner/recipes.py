"""Recipes: how ``fewner.fit`` turns labeled examples into a ready predictor, by name.

:data:`RECIPES` maps a recipe name to a function ``(sentences, labels, **options) ->
Predictor``. The training recipes (``obp-llm``, ``cllmfs``, ``grait``) run the staged LoRA
trainer on a packaged recipe config (``fewner/resources/recipes/``) with the examples inline;
``icl`` builds an in-context ensemble over the examples (no training; ``icl-fast``: the same
with the examples as one shared prompt prefix); ``calibrate`` asks the shipped source-stage
extractor zero-shot with its "none" decision tuned on the examples; ``dictionary`` is the
support-set lookup baseline; ``span`` adapts the span model to the examples and
``span-distill`` (:mod:`fewner.distill.span_recipe`) trains it on them plus a teacher's
annotations; ``distill-from`` (:mod:`fewner.distill.from_support`) runs the whole pipeline:
a teacher fitted on the examples labels unlabeled text (``pool=``) and a fast student learns
it. A new recipe registers itself here (or through the
``fewner.recipes`` entry-point group) and ``fewner.fit(..., recipe=NAME)`` runs it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fewner.errors import ConfigError
from fewner.predictors.base import Predictor
from fewner.registry import Registry
from fewner.types import Sentence

__all__ = ["RECIPES", "TRAINING_RECIPES"]

Recipe = Callable[..., Predictor]
#: ``span-distill`` (the span model learning a teacher's annotations) and ``distill-from`` (the
#: teacher -> student pipeline) live with distillation.
RECIPES: Registry[Recipe] = Registry("recipe", lazy={
    "span-distill": "fewner.distill.span_recipe",
    "distill-from": "fewner.distill.from_support",
})


def _training_recipes() -> tuple[str, ...]:
    """Every recipe config shipped in ``fewner/resources/recipes/`` (obp-llm, cllmfs, grait,
    demo, ...): each is a LoRA fine-tuning recipe of fewner.train."""
    from fewner.config_schema import list_presets

    return tuple(list_presets("recipes"))  # fewner.train.config.RECIPES, without importing torch


#: Recipes that fine-tune a causal LM with LoRA through fewner.train (packaged recipe configs).
TRAINING_RECIPES = _training_recipes()


@RECIPES.register("dictionary")
def fit_dictionary(sentences: list[Sentence], labels: list[str], **options: Any) -> Predictor:
    """The support-set dictionary: instant, a floor for every other method."""
    from fewner.predictors.dictionary import DictionaryPredictor

    _no_options("dictionary", options)
    return DictionaryPredictor(sentences, labels)


@RECIPES.register("icl")
def fit_icl(
    sentences: list[Sentence],
    labels: list[str],
    *,
    definitions: Any = None,
    preset: str = "el4ner",
    overrides: Mapping[str, Any] | None = None,
    cache: str | Path | None = None,
    **options: Any,
) -> Predictor:
    """An EL4NER in-context ensemble whose demonstrations are the examples (no training).

    ``preset``: a packaged ICL config (``fewner/resources/icl/``); ``overrides``: config keys
    (``{"models": [...], "validate": {"enabled": False}}``); other keyword arguments go to
    :class:`~fewner.predictors.icl.IclPredictor` (``make``, ``encoder``).
    """
    from fewner.config_schema import deep_merge, read_preset
    from fewner.predictors.icl import IclPredictor

    config = deep_merge(read_preset("icl", preset, key="recipe"), dict(overrides or {}))
    return IclPredictor(config, sentences, labels, definitions=definitions, cache=cache, **options)


@RECIPES.register("icl-fast")
def fit_icl_fast(sentences: list[Sentence], labels: list[str], **options: Any) -> Predictor:
    """The same ensemble with the examples as one fixed prompt prefix (preset ``el4ner-fast``:
    every sentence shares the demonstrations, so each model evaluates them once; the models run
    side by side): the teacher for labelling a pool (``fewner distill-from``)."""
    options.setdefault("preset", "el4ner-fast")
    return fit_icl(sentences, labels, **options)


@RECIPES.register("span")
def fit_span(
    sentences: list[Sentence],
    labels: list[str],
    *,
    model: str | Path | None = None,
    label_names: Mapping[str, str] | None = None,
    out: str | Path | None = None,
    progress: bool = True,
    **settings: Any,
) -> Predictor:
    """The span model (``model``: a span model folder or shipped name, default the shipped
    ``fewner-span-minilm``) adapted to the examples in seconds to minutes on a CPU.
    ``label_names``: the text each label is read as (``{"PER": "person"}``); other keyword
    arguments are training settings (``steps``, ``lr_head``, ``freeze_layers``, ...; defaults
    :data:`fewner.spanmodel.adapt.ADAPT_SETTINGS`). ``out``: save the adapted model there."""
    from dataclasses import replace

    from fewner.predictors import load_folder
    from fewner.spanmodel.adapt import ADAPT_SETTINGS, adapt
    from fewner.spanmodel.shipped import DEFAULT_SPAN_MODEL, shipped_path

    name = str(model or DEFAULT_SPAN_MODEL)
    folder = shipped_path(name) or Path(name).expanduser()
    if not folder.is_dir():
        raise ConfigError(
            f"recipe span: no span model {name!r} (a span model folder, or a shipped name: "
            f"{DEFAULT_SPAN_MODEL}; is fewner installed with its model data?)"
        )
    base = load_folder(folder)
    if base.kind != "span":
        raise ConfigError(f"recipe span adapts a span model; {model} is a {base.kind} model")
    try:
        train_settings = replace(ADAPT_SETTINGS, **settings)
    except TypeError as err:
        raise ConfigError(f"recipe span: {err}") from err
    run = Path(out) / "run" if out is not None else None
    predictor, _ = adapt(
        base, sentences, labels, label_names=dict(label_names or {}), settings=train_settings,
        run_dir=run, progress=progress,
    )
    if out is not None:
        predictor.save(Path(out) / "model")
    return predictor


@RECIPES.register("calibrate")
def fit_calibrate(
    sentences: list[Sentence],
    labels: list[str],
    *,
    model: str | Path = "smollm2-135m-ner",
    definitions: Any = None,
    grid: Any = None,
    out: str | Path | None = None,
    progress: bool = True,
    **options: Any,
) -> Predictor:
    """A saved extractor (``model``: a folder or shipped name, default the source-stage
    ``smollm2-135m-ner``) asked zero-shot for the labels, with only its ``none_bias`` chosen on
    the examples (:func:`fewner.predict.calibration.calibrate_none_bias`; ``grid`` default
    :data:`~fewner.predict.calibration.DEFAULT_GRID`): no training, a few minutes on a CPU.
    ``definitions``: the labels' definitions (default: generic ones); other keyword arguments
    are :class:`~fewner.predictors.extractor.ExtractorPredictor` options (``batch_size``, ...).
    The calibration grid is kept in the predictor's ``metrics``; ``out``: save the model in
    ``OUT/model`` and the grid as a table in ``OUT/calibration.txt``."""
    from fewner.predict.calibration import DEFAULT_GRID, calibrate_none_bias
    from fewner.progress import progress_reporter

    predictor = _saved_extractor("calibrate", model, labels, definitions, options)
    biases = tuple(grid or DEFAULT_GRID)
    with progress_reporter(progress, len(biases), "calibrating none_bias") as advance:
        result = calibrate_none_bias(
            predictor, sentences, labels, grid=biases, progress=lambda _done, _total: advance(1)
        )
    predictor.training = {"recipe": "calibrate", "source": str(model), "examples": len(sentences)}
    predictor.metrics = {"calibration": result.as_dict()}
    if out is not None:  # as fewner fit lays a run out: the model in OUT/model
        predictor.save(Path(out) / "model")
        (Path(out) / "calibration.txt").write_text(result.table() + "\n", encoding="utf-8")
    return predictor


def _saved_extractor(recipe: str, model: str | Path, labels: list[str], definitions: Any,
                     options: Mapping[str, Any]) -> Any:
    """A new extractor for ``labels`` on a saved extractor's model, adapter, prompt and decoding
    (``model``: a folder or shipped name); what a zero-shot recipe such as ``calibrate`` starts
    from."""
    from fewner.predictors import load_folder
    from fewner.predictors.extractor import ExtractorPredictor
    from fewner.spanmodel.shipped import shipped_path

    folder = shipped_path(str(model)) or Path(model).expanduser()  # as fewner.api resolves it
    if not (folder / "fewner.json").is_file():
        raise ConfigError(
            f"recipe {recipe}: no saved model {str(model)!r} (a model folder, or a shipped name "
            "such as smollm2-135m-ner)"
        )
    saved = load_folder(folder)
    if not isinstance(saved, ExtractorPredictor):
        raise ConfigError(f"recipe {recipe} needs an extractor model; {model} is a {saved.kind} model")
    return ExtractorPredictor(
        saved.model, labels, adapter=saved.adapter, backend=saved.backend_name,
        template=saved.template_name, layout=saved.template.layout, definitions=definitions,
        chat=saved.options["chat"], system=saved.options["system"],
        base_model=saved.base_model, **{"none_bias": saved.none_bias, **options},
    )


def _fit_training(recipe: str) -> Recipe:
    def fit(
        sentences: list[Sentence],
        labels: list[str],
        *,
        model: str | None = None,
        definitions: Any = None,
        out: str | Path | None = None,
        overrides: Mapping[str, Any] | None = None,
        progress: bool = True,
        log: Callable[[str], object] | None = None,
        **options: Any,
    ) -> Predictor:
        return _train(
            recipe, sentences, labels, model=model, definitions=definitions, out=out,
            overrides=overrides, progress=progress, log=log, **options,
        )

    fit.__doc__ = (
        f"LoRA fine-tuning with the packaged ``{recipe}`` recipe on the examples; returns the "
        "trained extractor (saved in ``out``, a temporary folder when not given)."
    )
    return fit


for _name in TRAINING_RECIPES:
    RECIPES.register(_name, _fit_training(_name))


def _train(
    recipe: str,
    sentences: list[Sentence],
    labels: list[str],
    *,
    model: str | None,
    definitions: Any,
    out: str | Path | None,
    overrides: Mapping[str, Any] | None,
    progress: bool,
    log: Callable[[str], object] | None,
    **options: Any,
) -> Predictor:
    """Train ``recipe`` with the examples as its target stage's inline data, then wrap the
    adapter in an :class:`~fewner.predictors.extractor.ExtractorPredictor` with the exact
    prompt settings of training."""
    from fewner.config_schema import read_preset
    from fewner.predictors.extractor import ExtractorPredictor
    from fewner.predictors.manifest import Manifest
    from fewner.train.config import RECIPES as RECIPE_KIND
    from fewner.train.recipes import fit_config
    from fewner.train.stages import run_training

    preset = read_preset(RECIPE_KIND, recipe)
    targets = preset.get("target_stages") or []
    values = flatten(dict(overrides or {}))
    for name in preset.get("stages", {}):  # other stages (a source stage) only when asked for
        if name not in targets and f"stages.{name}.enabled" not in values:
            values[f"stages.{name}.enabled"] = False
    config = fit_config(
        recipe,
        sentences,
        labels,
        model=model,
        definitions=_definitions_for(labels, definitions, preset.get("definitions")),
        overrides=values,
        **options,
    )
    folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix=f"fewner-{recipe}-"))
    metrics = run_training(config, folder / "run", progress=progress, log=log or (lambda _m: None))
    model = save_trained_model(
        config, folder / "run", metrics, recipe=recipe, labels=labels, examples=sentences,
        generic_definitions=definitions is None, model_folder=folder / "model",
    )
    return ExtractorPredictor._from_folder(model, Manifest.read(model))


def save_trained_model(
    config: Any,
    run: Path,
    metrics: Mapping[str, Any],
    *,
    recipe: str | None = None,
    labels: list[str] | None = None,
    examples: list[Sentence] | None = None,
    generic_definitions: bool = False,
    model_folder: Path | None = None,
) -> Path:
    """Save the adapter a training run left in ``RUN/adapter`` as a self-describing model folder
    (``RUN/model`` by default) with the exact prompt settings of training, and return it.

    ``labels``: the label set (default: the types of the last enabled target stage);
    ``examples``: the sentences it learned from, for the manifest's data summary and for
    ``span_extension: auto`` (decided from their gold spans as the run decided it before
    training, :func:`fewner.train.span_style.decide_span_style`, and recorded in ``training``).
    """
    from fewner.predictors.extractor import ExtractorPredictor
    from fewner.train.span_style import decide_span_style

    adapter = run / "adapter"
    if not adapter.is_dir():
        raise ConfigError(f"training produced no adapter in {adapter}")
    stage = _last_target_stage(config)
    if labels is None or examples is None:
        sentences, types = stage.data.sentences_and_types(config.data_root)
        labels = labels if labels is not None else types
        examples = examples if examples is not None else sentences
    definitions = stage.definitions or config.definitions
    style = decide_span_style(config, examples)
    extension = style.extension
    trained_on = (metrics.get("span_style") or {}).get("train_spans", style.train_spans)
    if trained_on == "heads" and not style.widens:
        raise ConfigError(
            f"the run in {run} trained on head words; its model must widen its answers back "
            f"(span_extension noun_chunk or noun_phrase, not {config.span_extension!r})"
        )
    predictor = ExtractorPredictor(
        config.model,
        labels,
        adapter=adapter,
        template=config.template,
        layout=config.layout,
        definitions=definitions,
        generic_definitions=generic_definitions,
        abstain=_abstains(config),
        span_extension=extension.chosen,
        training={
            "recipe": recipe or getattr(config, "recipe", None),
            "examples": len(examples),
            "mentions": sum(len(s.spans) for s in examples),
            "labels": labels,
            "run": str(run),
            "stages": [n for n, spec in config.stages.items() if spec.enabled],
            **({"span_extension": extension.as_dict()} if extension.asked == "auto" else {}),
            "train_spans": trained_on,
        },
        metrics={
            "stages": {k: _short(v) for k, v in metrics.get("stages", {}).items()},
            **({"test": metrics["test"]} if "test" in metrics else {}),
        },
    )
    return predictor.save(model_folder or run / "model")


def _last_target_stage(config: Any) -> Any:
    names = config.enabled_target_stages()
    if not names:
        raise ConfigError("the run has no enabled stage")
    return config.stages[names[-1]]


def _definitions_for(labels: list[str], definitions: Any, recipe_default: Any) -> dict[str, str]:
    """Every label's definition: the given ones (a mapping, a shipped name or a path), else the
    recipe's, else the generic one the extractor uses at prediction time, so training and
    serving prompt alike. Given definitions must cover every label (a typo fails here)."""
    from fewner.predictors.extractor import GENERIC_DEFINITION
    from fewner.prompts.definitions import load_definitions

    if definitions is not None:
        given = load_definitions(definitions)
        given.require(labels)
        return {lab: given[lab] for lab in labels}
    given = dict(load_definitions(recipe_default)) if recipe_default is not None else {}
    return {
        lab: given[lab] if lab in given else GENERIC_DEFINITION.format(label=lab) for lab in labels
    }


def flatten(overrides: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested overrides as dotted keys (``{"stages": {"target": {"epochs": 8}}}`` ->
    ``{"stages.target.epochs": 8}``), so an override changes one key and keeps its siblings."""
    flat: dict[str, Any] = {}
    for key, value in overrides.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _abstains(config: Any) -> bool:
    """Whether an enabled stage teaches the refusal answer (its kind says so)."""
    from fewner.train.kinds import STAGE_KINDS

    return any(
        getattr(STAGE_KINDS[spec.kind], "abstains", False)
        for spec in config.stages.values()
        if spec.enabled
    )


def _short(summary: Any) -> Any:
    if not isinstance(summary, dict):
        return summary
    keep = ("steps", "seconds", "sentences", "types", "last_logs")
    return {k: summary[k] for k in keep if k in summary}


def _no_options(recipe: str, options: Mapping[str, Any]) -> None:
    if options:
        raise ConfigError(f"recipe {recipe!r} takes no options; got {sorted(options)}")
