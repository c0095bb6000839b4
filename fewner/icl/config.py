"""The ``fewner icl`` run config: a YAML file (``configs/el4ner.yaml``) validated into dataclasses.

Command-line flags and ``--set a.b=VALUE`` overrides are applied to the mapping before
validation. Validation rejects unknown keys (a misspelt key would silently keep its default) and
names the key and what was expected. Every key and its default is documented in
``configs/el4ner.yaml`` itself.

A model entry is a mapping (``{model: NAME, backend: llamacpp, weight: 1.0, options: {...}}``)
or a string ``[BACKEND:]NAME`` (``llamacpp:gemma3-270m``, ``openai:Qwen/Qwen2.5-7B-Instruct``).
Several vLLM endpoints: one entry each, with ``options: {base_url: http://host:8000/v1}``.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fewner.errors import ConfigError
from fewner.icl.pipeline import PipelineSettings

__all__ = ["IclConfig", "ModelSpec", "apply_overrides", "load_icl_config", "parse_model_spec"]

KNOWN_BACKENDS = ("llamacpp", "hf", "openai", "scripted")


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
            batch_sentences=self.batch_sentences,
            parallel=self.parallel,
        )
        settings.check()
        return settings

    def check(self) -> None:
        if not self.models:
            raise ConfigError("models: at least one model is needed (config or --models)")
        for i, spec in enumerate(self.models):
            backend = spec.backend or self.backend
            if backend not in KNOWN_BACKENDS:
                raise ConfigError(
                    f"models[{i}].backend: unknown backend {backend!r}; known: {', '.join(KNOWN_BACKENDS)}"
                )
            if spec.weight < 0:
                raise ConfigError(f"models[{i}].weight must be >= 0, got {spec.weight}")
        if self.retrieval.encoder_threads is not None and self.retrieval.encoder_threads < 1:
            raise ConfigError("retrieval.encoder_threads must be >= 1 or null")
        self.pipeline_settings()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_model_spec(text: str) -> ModelSpec:
    """``[BACKEND:]MODEL`` -> :class:`ModelSpec` (a prefix that is not a backend name stays)."""
    head, sep, tail = text.strip().partition(":")
    if sep and head in KNOWN_BACKENDS and tail:
        return ModelSpec(model=tail, backend=head)
    if not text.strip():
        raise ConfigError("empty model name")
    return ModelSpec(model=text.strip())


def apply_overrides(data: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """A copy of ``data`` with each ``a.b.c=VALUE`` set (VALUE read as YAML)."""
    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. retrieval.k=3")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as err:
            raise ConfigError(f"--set {item!r}: value is not valid YAML: {err}") from None
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {part} is not a mapping")
            node = child
        node[parts[-1]] = value
    return data


def read_config_file(path: str | Path | None) -> dict[str, Any]:
    """The YAML mapping of ``path`` ({} for None)."""
    if path is None:
        return {}
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read config {path}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a YAML mapping")
    return data


def load_icl_config(data: dict[str, Any], source: str = "<config>") -> IclConfig:
    """Validate a mapping (after overrides) into an :class:`IclConfig`."""
    data = dict(data)
    models = data.get("models")
    if isinstance(models, list):
        data["models"] = [
            dataclasses.asdict(parse_model_spec(m)) if isinstance(m, str) else m for m in models
        ]
    try:
        config = _build(IclConfig, data, "")
        config.check()
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    return config


def _build(cls: type, data: Any, where: str) -> Any:
    label = where or "config"
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{label}: unknown key(s) {unknown}; expected some of {sorted(names)}")
    kwargs = {
        name: _coerce(hints[name], value, f"{where}.{name}" if where else name)
        for name, value in data.items()
    }
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _coerce(next(a for a in args if a is not type(None)), value, key)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)  # type: ignore[arg-type]
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        return [_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        return {str(k): v for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if tp is Any:
        return value
    raise ConfigError(f"{key}: unsupported type {tp}")  # pragma: no cover
