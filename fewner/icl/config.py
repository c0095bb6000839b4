"""The ``fewner icl`` run config: a YAML file (``configs/el4ner.yaml``) validated into dataclasses.

Command-line flags and ``--set a.b=VALUE`` overrides are applied to the mapping before
validation. Validation rejects unknown keys (a misspelt key would silently keep its default) and
names the key and what was expected; backend, retrieval and voter names are checked against
their registries (:data:`fewner.backends.base.BACKENDS`, :data:`fewner.icl.retrieval.RETRIEVERS`,
:data:`fewner.icl.voting.VOTERS`), so a plugin's names are accepted like the built-in ones. Every key and its default is documented in
``configs/el4ner.yaml`` itself.

A model entry is a mapping (``{model: NAME, backend: llamacpp, weight: 1.0, options: {...}}``)
or a string ``[BACKEND:]NAME`` (``llamacpp:gemma3-270m``, ``openai:Qwen/Qwen2.5-7B-Instruct``).
Several vLLM endpoints: one entry each, with ``options: {base_url: http://host:8000/v1}``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fewner.backends.factory import backend_names
from fewner.config_schema import apply_overrides as _apply_overrides
from fewner.config_schema import build_dataclass, read_yaml_mapping
from fewner.errors import ConfigError
from fewner.icl.pipeline import PipelineSettings
from fewner.icl.retrieval import RETRIEVERS
from fewner.icl.voting import VOTERS

__all__ = [
    "IclConfig",
    "ModelSpec",
    "apply_overrides",
    "icl_backend_names",
    "load_icl_config",
    "parse_model_spec",
]


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
    try:
        config = build_dataclass(IclConfig, data)
        config.check()
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    return config
