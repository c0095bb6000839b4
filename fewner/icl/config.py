"""The ``fewner icl`` run config: a packaged preset, a YAML file and overrides, validated into
dataclasses.

Layers (:func:`fewner.config_schema.load_layered_config`): a preset shipped in the package
(``fewner/resources/icl/NAME.yaml``, chosen by ``--recipe NAME`` or the file's ``recipe: NAME``;
``el4ner`` when no file is given), the YAML file's keys deep-merged over it, then command-line
flags and ``--set a.b=VALUE`` overrides. :func:`resolve_icl_config` does all of it;
:func:`load_icl_config` validates a mapping. Validation rejects unknown keys (a misspelt key would
silently keep its default) and names the key and what was expected; backend, retrieval and voter
names are checked against their registries (:data:`fewner.backends.base.BACKENDS`,
:data:`fewner.icl.retrieval.RETRIEVERS`, :data:`fewner.icl.voting.VOTERS`), so a plugin's names
are accepted like the built-in ones. Every key and its default is documented in the ``el4ner``
preset itself.

A model entry is a mapping (``{model: NAME, backend: llamacpp, weight: 1.0, options: {...}}``)
or a string ``[BACKEND:]NAME`` (``llamacpp:gemma3-270m``, ``openai:Qwen/Qwen2.5-7B-Instruct``).
Several vLLM endpoints: one entry each, with ``options: {base_url: http://host:8000/v1}``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fewner.backends.factory import backend_names
from fewner.config_schema import apply_overrides as _apply_overrides
from fewner.config_schema import (
    build_config,
    list_presets,
    load_layered_config,
    preset_description,
    read_yaml_mapping,
)
from fewner.errors import ConfigError
from fewner.icl.pipeline import PipelineSettings
from fewner.icl.retrieval import RETRIEVERS
from fewner.icl.voting import VOTERS

__all__ = [
    "DEFAULT_RECIPE",
    "IclConfig",
    "ModelSpec",
    "apply_overrides",
    "icl_backend_names",
    "icl_recipe_description",
    "icl_recipes",
    "load_icl_config",
    "parse_model_spec",
    "resolve_icl_config",
]

#: Presets live in ``fewner/resources/icl/``; a config file names one with ``recipe: NAME``.
PRESETS = "icl"
PRESET_KEY = "recipe"
#: The preset ``fewner icl`` uses when it is given no config file.
DEFAULT_RECIPE = "el4ner"


def icl_backend_names() -> list[str]:
    """Every registered backend, the internal ``scripted`` (dry runs) included."""
    return backend_names(user_facing=False)


def _check_name(key: str, what: str, name: str, known: list[str]) -> None:
    if name not in known:
        raise ConfigError(f"{key}: unknown {what} {name!r}; known: {', '.join(known)}")


@dataclass
class ModelSpec:
    model: str
    backend: str | None = None  # None: the config's default ``backend``
    weight: float = 1.0
    name: str | None = None  # display name in tables; default: the model
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class RetrievalSpec:
    method: str = "span"
    k: int = 4
    encoder: str = "minilm-l6"
    encoder_threads: int | None = 1
    max_words: int = 4
    max_candidates: int = 12
    shared_pool: bool = False


@dataclass
class ExtractSpec:
    threshold: float = 0.5
    voter: str = "majority"
    constrained: bool = False
    max_words: int = 6
    max_mentions: int | None = 8
    max_new_tokens: int = 48


@dataclass
class ClassifySpec:
    voter: str = "majority"
    constrained: bool = False
    max_new_tokens: int = 6


@dataclass
class ValidateSpec:
    enabled: bool = True
    threshold: float = 0.5
    voter: str = "majority"


@dataclass
class IclConfig:
    models: list[ModelSpec] = field(default_factory=list)
    backend: str = "llamacpp"
    backend_options: dict[str, Any] = field(default_factory=dict)
    definitions: str | None = None
    seed: int = 0
    batch_sentences: int = 1
    parallel: bool = False
    retrieval: RetrievalSpec = field(default_factory=RetrievalSpec)
    extract: ExtractSpec = field(default_factory=ExtractSpec)
    classify: ClassifySpec = field(default_factory=ClassifySpec)
    validate: ValidateSpec = field(default_factory=ValidateSpec)

    def pipeline_settings(self) -> PipelineSettings:
        settings = PipelineSettings(
            k=self.retrieval.k,
            shared_pool=self.retrieval.shared_pool,
            span_threshold=self.extract.threshold,
            span_voter=self.extract.voter,
            type_voter=self.classify.voter,
            validate=self.validate.enabled,
            validate_threshold=self.validate.threshold,
            validate_voter=self.validate.voter,
            constrained=self.extract.constrained,
            max_words=self.extract.max_words,
            max_mentions=self.extract.max_mentions,
            extract_tokens=self.extract.max_new_tokens,
            answer_tokens=self.classify.max_new_tokens,
            classify_constrained=self.classify.constrained,
            batch_sentences=self.batch_sentences,
            parallel=self.parallel,
        )
        settings.check()
        return settings

    def check(self) -> None:
        if not self.models:
            raise ConfigError("models: at least one model is needed (config or --models)")
        backends = icl_backend_names()
        for i, spec in enumerate(self.models):
            backend = spec.backend or self.backend
            _check_name(f"models[{i}].backend", "backend", backend, backends)
            if spec.weight < 0:
                raise ConfigError(f"models[{i}].weight must be >= 0, got {spec.weight}")
        if self.retrieval.encoder_threads is not None and self.retrieval.encoder_threads < 1:
            raise ConfigError("retrieval.encoder_threads must be >= 1 or null")
        _check_name("retrieval.method", "retriever", self.retrieval.method, RETRIEVERS.names())
        if self.retrieval.shared_pool and self.retrieval.method == "fixed":
            raise ConfigError(
                "retrieval.shared_pool: the fixed method already shows the pool; use one of them"
            )
        stages = {"extract": self.extract, "classify": self.classify, "validate": self.validate}
        for key, stage in stages.items():
            _check_name(f"{key}.voter", "voter", stage.voter, VOTERS.names())
        self.pipeline_settings()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_model_spec(text: str) -> ModelSpec:
    """``[BACKEND:]MODEL`` -> :class:`ModelSpec` (a prefix that is not a backend name stays)."""
    head, sep, tail = text.strip().partition(":")
    if sep and head in icl_backend_names() and tail:
        return ModelSpec(model=tail, backend=head)
    if not text.strip():
        raise ConfigError("empty model name")
    return ModelSpec(model=text.strip())


def apply_overrides(data: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """A copy of ``data`` with each ``a.b.c=VALUE`` set (VALUE read as YAML)."""
    return _apply_overrides(data, overrides, example="retrieval.k=3")


def read_config_file(path: str | Path | None) -> dict[str, Any]:
    """The YAML mapping of ``path`` ({} for None)."""
    return read_yaml_mapping(path)


def load_icl_config(data: dict[str, Any], source: str = "<config>") -> IclConfig:
    """Validate a mapping (after overrides) into an :class:`IclConfig`."""
    data = dict(data)
    models = data.get("models")
    if isinstance(models, list):
        data["models"] = [
            dataclasses.asdict(parse_model_spec(m)) if isinstance(m, str) else m for m in models
        ]
    config = build_config(IclConfig, data, source)
    return config


def icl_recipes() -> list[str]:
    """Names of the packaged ICL presets (sorted)."""
    return list_presets(PRESETS)


def icl_recipe_description(name: str) -> str:
    """A preset's one-line description (the first comment line of its file)."""
    return preset_description(PRESETS, name)


def resolve_icl_config(
    path: str | Path | None = None,
    *,
    recipe: str | None = None,
    overrides: Sequence[str] | Mapping[str, Any] = (),
) -> IclConfig:
    """The validated config of a run: preset, then the file at ``path``, then ``overrides``.

    ``recipe``: a packaged preset (:func:`icl_recipes`); default: the file's ``recipe:`` key,
    and :data:`DEFAULT_RECIPE` when there is no file (and no ``recipe`` override).
    ``overrides``: ``a.b=VALUE`` strings (as ``--set``) or a mapping of dotted keys to Python
    values; each replaces the value at its path.
    """
    if path is None and recipe is None and not _names_key(overrides, PRESET_KEY):
        recipe = DEFAULT_RECIPE
    data = load_layered_config(
        path,
        preset_kind=PRESETS,
        preset=recipe,
        overrides=overrides,
        key=PRESET_KEY,
        example="retrieval.k=3",
    )
    source = str(path) if path is not None else f"recipe {recipe}" if recipe else "<defaults>"
    return load_icl_config(data, source=source)


def _names_key(overrides: Sequence[str] | Mapping[str, Any], key: str) -> bool:
    if isinstance(overrides, Mapping):
        return key in overrides
    items = [overrides] if isinstance(overrides, str) else overrides
    return any(item.partition("=")[0].strip() == key for item in items)


def check_types_in_pool(
    types: Sequence[str], pool_labels: Sequence[str], pool: str, *, allow: bool = False
) -> list[str]:
    """The ``types`` no sentence of the demonstration pool is labeled with. An ICL ensemble
    learns a type only from its demonstrations, so such a type would be asked for with no
    example of it (and, unlike a typo, nothing would say so): :class:`ConfigError` naming them
    and the pool's own types, unless ``allow`` (then the caller warns)."""
    known = set(pool_labels)
    unseen = [t for t in types if t not in known]
    if unseen and not allow:
        raise ConfigError(
            f"{pool}: no demonstration of type(s) {', '.join(map(repr, unseen))} in the pool "
            f"(its types: {', '.join(sorted(known)) or 'none'}); add labeled examples of them "
            "to --pool, fix the name in --types, or pass --allow-unseen-types to ask for them "
            "without examples"
        )
    return unseen


def cut_answer_warnings(metrics: dict[str, Any], config: IclConfig) -> list[str]:
    """One plain sentence per model and stage whose answers were cut at their token budget
    (``<stage>_truncated`` in the per-model metrics), naming the config key that raises it."""
    budgets = {  # stage -> (config key, tokens): stages 2 and 3 share classify's budget
        "extract": ("extract.max_new_tokens", config.extract.max_new_tokens),
        "classify": ("classify.max_new_tokens", config.classify.max_new_tokens),
        "validate": ("classify.max_new_tokens", config.classify.max_new_tokens),
    }
    lines = []
    for model, counts in sorted(metrics.get("models", {}).items()):
        for stage, (key, tokens) in budgets.items():
            cut = counts.get(f"{stage}_truncated", 0)
            if cut:
                lines.append(
                    f"{model}: {cut} {stage} answer{'s' if cut != 1 else ''} ended "
                    f"mid-mention, cut at {key}={tokens} (mentions after the cut are lost); "
                    "pass --set "
                    f"{key}={tokens * 2} to let them finish"
                )
    return lines
