"""Training run configs: YAML files validated into dataclasses.

A config is one YAML mapping (every key and its default: ``configs/README.md``). It may start
from a recipe shipped in the package (``recipe: obp-llm``: ``fewner/resources/recipes/``; the
file's keys are deep-merged over it); command-line ``--set a.b.c=VALUE`` overrides are applied
to the mapping before validation; ``VALUE`` is read as YAML (``3``, ``1e-4``, ``false``, ``null``,
``[a, b]``). Layering is :func:`fewner.config_schema.load_layered_config`, shared with the other
commands. Validation names the offending key and what was expected, and rejects unknown keys
(a misspelt key would otherwise silently keep its default).

Stages are a mapping ``name -> settings`` run in the file's order, each continuing the adapter
of the one before; ``enabled: false`` skips one. A stage's ``kind`` (:mod:`fewner.train.kinds`)
decides its default ``lr``, whether it takes ``loss`` terms and which kind-specific settings
key it takes (``preference:``, ``refusal:``). A stage's ``data:`` is the shared
:class:`fewner.data.spec.DataSpec`: a file, or ``inline`` examples (how ``fewner.fit`` trains on
examples in memory). The resolved config (defaults filled in, LoRA preset expanded,
``data_root`` made absolute) is what :func:`config_to_dict` returns and what a run writes to
its folder.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fewner.config_schema import (
    apply_overrides,
    build_config,
    build_dataclass,
    load_layered_config,
    require_positive,
)
from fewner.data.spec import DataSpec, default_data_root
from fewner.errors import ConfigError
from fewner.text.noun_phrases import check_extension
from fewner.train.kinds import STAGE_KINDS, kind_taking, settings_keys
from fewner.train.lora import PRESETS, LoraSettings
from fewner.train.replay import ReplaySpec
from fewner.train.settings import STAGE_LOOP_KEYS, LoopSettings
from fewner.train.span_style import check_train_spans

__all__ = [
    "RECIPES",
    "STAGE_KINDS",
    "DataSpec",
    "EvalSpec",
    "LoraSpec",
    "StageSpec",
    "TrainConfig",
    "apply_overrides",
    "config_to_dict",
    "default_data_root",
    "load_config",
    "parse_config",
]

#: The folder of packaged recipes under ``fewner/resources`` (``recipe: NAME`` in a config).
RECIPES = "recipes"

_STAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_DEVICES = ("auto", "cpu", "cuda")
_PRECISIONS = ("auto", "bf16", "fp32")


@dataclass
class LoraSpec:
    """A LoRA preset (``obp-llm``, ``cllmfs``) and overrides of its fields (null keeps the preset's)."""

    preset: str = "obp-llm"
    r: int | None = None
    alpha: int | None = None
    dropout: float | None = None
    target_modules: list[str] | None = None

    def settings(self) -> LoraSettings:
        return LoraSettings.from_preset(
            self.preset,
            r=self.r,
            alpha=self.alpha,
            dropout=self.dropout,
            target_modules=None if self.target_modules is None else tuple(self.target_modules),
        )


def _default_losses() -> list[dict[str, Any]]:
    return [{"name": "nll"}]


_NOT_CONFIG = {"config": False}


@dataclass
class StageSpec:
    """One training stage; see ``configs/README.md`` for each key.

    In YAML a stage is one flat mapping: its own keys (the fields below), the optimization keys
    of :class:`~fewner.train.settings.LoopSettings` (``epochs``, ``lr``, ...: held in ``loop``),
    and the settings of its kind under the kind's key (``preference:``, ``refusal:``: held in
    ``settings``). :meth:`from_config` splits the mapping, :meth:`to_config` writes it back.

    ``definitions``: type definitions for this stage's prompts (null: the run's); a source stage
    on CoNLL-2003 needs ``conll2003`` while the run's definitions are the target dataset's.
    """

    data: DataSpec
    enabled: bool = True
    kind: str = "sft"
    definitions: str | dict[str, str] | None = None
    max_length: int = 512
    loss: list[dict[str, Any]] | None = None
    packing: bool = False
    negatives: int | None = None
    replay: ReplaySpec | None = None
    seed: int | None = None
    loop: LoopSettings = field(default_factory=LoopSettings, metadata=_NOT_CONFIG)
    settings: Any = field(default=None, metadata=_NOT_CONFIG)

    @classmethod
    def from_config(cls, data: Any, where: str) -> StageSpec:
        """The stage in ``data`` (a flat YAML mapping); errors name ``where.<key>``."""
        if not isinstance(data, dict):
            got = "null" if data is None else type(data).__name__
            raise ConfigError(f"{where}: expected a mapping, got {got}")
        kind_name = data.get("kind", "sft")
        if not isinstance(kind_name, str) or kind_name not in STAGE_KINDS:
            raise ConfigError(
                f"{where}.kind: {kind_name!r}; expected one of {', '.join(STAGE_KINDS.names())}"
            )
        kind = STAGE_KINDS[kind_name]
        own = [f.name for f in dataclasses.fields(cls) if f.metadata.get("config", True)]
        allowed = {*own, *STAGE_LOOP_KEYS} | ({kind.settings_key} if kind.settings_key else set())
        unknown = sorted(set(data) - allowed)
        for key in unknown:
            other = kind_taking(key)
            if other is not None and data[key] is not None:
                raise ConfigError(f"{where}.{key}: only a kind: {other} stage takes {key}")
        unknown = [k for k in unknown if kind_taking(k) is None]
        if unknown:
            raise ConfigError(
                f"{where}: unknown key(s) {unknown}; expected some of {sorted(allowed)}"
            )
        spec = build_dataclass(cls, {k: data[k] for k in own if k in data}, where)
        loop = {k: data[k] for k in STAGE_LOOP_KEYS if k in data}
        if loop.get("lr") is None:
            loop["lr"] = kind.default_lr
        spec.loop = build_dataclass(LoopSettings, loop, where)
        if kind.settings is not None and data.get(kind.settings_key) is not None:
            spec.settings = build_dataclass(
                kind.settings, data[kind.settings_key], f"{where}.{kind.settings_key}"
            )
        return spec

    def check(self, where: str) -> None:
        """Validate, and fill the defaults that depend on ``kind`` (loss, the kind's settings)."""
        kind = STAGE_KINDS[self.kind]
        self.data.check(f"{where}.data")
        if kind.fixed_loss is not None:
            if self.loss is not None:
                raise ConfigError(f"{where}.loss: {kind.fixed_loss}")
        elif self.loss is None:
            self.loss = _default_losses()
        if kind.settings is not None:
            if self.settings is None:
                self.settings = kind.settings()
            self.settings.check(f"{where}.{kind.settings_key}")
        elif self.settings is not None:
            raise ConfigError(f"{where}: a kind: {self.kind} stage takes no kind settings")
        self.loop.check(where)
        require_positive(self.max_length, f"{where}.max_length")
        if self.negatives is not None and (isinstance(self.negatives, bool) or not isinstance(self.negatives, int)
                                           or self.negatives < 0):
            raise ConfigError(
                f"{where}.negatives: {self.negatives!r}; expected an integer >= 0 (absent types asked per "
                "sentence) or null (every type)"
            )
        if self.replay is not None:
            self.replay.check(f"{where}.replay")
            if self.replay.sentences and self.kind != "sft":
                raise ConfigError(f"{where}.replay: only a kind: sft stage replays source sentences")
        if self.packing and (self.kind != "sft" or any(t.get("name") != "nll" for t in self.loss or [])):
            raise ConfigError(
                f"{where}.packing: packed sequences (fewner/train/packing.py) train a kind: sft "
                "stage with loss [{name: nll}] only; the contrastive terms read per-example "
                "positions: set packing: false"
            )
        if kind.fixed_loss is not None:
            return
        if not self.loss:
            raise ConfigError(f"{where}.loss: give at least one loss term, e.g. [{{name: nll}}]")
        for i, spec in enumerate(self.loss):
            if not isinstance(spec.get("name"), str):
                raise ConfigError(f"{where}.loss[{i}]: each term needs a 'name' (e.g. nll)")
            weight = spec.get("weight", 1.0)
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                raise ConfigError(f"{where}.loss[{i}].weight must be a number, got {weight!r}")

    def loop_settings(self, *, seed: int, precision: str) -> LoopSettings:
        """The loop's settings for this stage in a run (its seed, the run's precision)."""
        return dataclasses.replace(self.loop, seed=seed, precision=precision)

    def to_config(self) -> dict[str, Any]:
        """The stage as its flat YAML mapping (every kind's settings key: null but its own)."""
        loop = dataclasses.asdict(self.loop)
        out: dict[str, Any] = {
            "data": self.data.to_dict(),
            "enabled": self.enabled,
            "kind": self.kind,
            "definitions": copy.deepcopy(self.definitions),
            **{k: loop[k] for k in STAGE_LOOP_KEYS},
            "max_length": self.max_length,
            "loss": copy.deepcopy(self.loss),
            "packing": self.packing,
            "negatives": self.negatives,
            "replay": None if self.replay is None else dataclasses.asdict(self.replay),
        }
        key = STAGE_KINDS[self.kind].settings_key
        for other in settings_keys():
            out[other] = None
        if key is not None and self.settings is not None:
            out[key] = dataclasses.asdict(self.settings)
        out["seed"] = self.seed
        return out


@dataclass
class EvalSpec:
    """Evaluation data and decoding settings (span F1 with :class:`fewner.predict.Extractor`).

    ``abstain``: let constrained decoding write the refusal answer (null: when the run has an
    enabled stage of a kind that teaches abstaining, ``kind: grait``).
    """

    data: DataSpec
    definitions: str | dict[str, str] | None = None
    batch_size: int = 16
    max_new_tokens: int = 64
    constrained: bool = True
    abstain: bool | None = None

    def check(self, where: str) -> None:
        self.data.check(f"{where}.data")
        require_positive(self.batch_size, f"{where}.batch_size")
        require_positive(self.max_new_tokens, f"{where}.max_new_tokens")

    def to_config(self) -> dict[str, Any]:
        out = {f.name: copy.deepcopy(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {**out, "data": self.data.to_dict()}


@dataclass
class TrainConfig:
    """A whole run: model, prompt format, LoRA, stages in order, optional dev and test evaluation.

    ``definitions``: a name or YAML path, or a mapping ``type -> definition``.
    ``target_stages``: the stages that train on the target data; ``fewner.fit`` puts the user's
    examples there (a recipe names them; no effect on how a run trains).
    ``span_extension``: what the saved model does with its answers' spans: ``none``,
    ``noun_chunk`` / ``noun_phrase`` (widened to their noun phrase) or ``auto`` (chosen from the
    target examples' gold spans before training; :mod:`fewner.text.noun_phrases`).
    ``train_spans``: what the target stages learn to answer: ``mentions`` as annotated, their
    head words (``heads``, with a widening ``span_extension``) or ``auto`` (heads when the
    answers are widened; :mod:`fewner.train.span_style`).
    """

    stages: dict[str, StageSpec]
    model: str = "smollm2-135m-instruct"
    template: str = "obp-llm"
    layout: str | None = None
    definitions: str | dict[str, str] = "wnut17"
    data_root: str = field(default_factory=default_data_root)
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    lora: LoraSpec = field(default_factory=LoraSpec)
    init_adapter: str | None = None
    dev: EvalSpec | None = None
    test: EvalSpec | None = None
    target_stages: list[str] | None = None
    span_extension: str = "none"
    train_spans: str = "mentions"

    def check(self) -> None:
        if not self.stages:
            raise ConfigError(
                "stages: define at least one stage (e.g. target: {data: {path: ...}})"
            )
        for name, stage in self.stages.items():
            if not _STAGE_NAME.match(name):
                raise ConfigError(
                    f"stages: {name!r} is not a valid stage name (letters, digits, _ and -)"
                )
            stage.check(f"stages.{name}")
            if stage.packing and stage.enabled and self.layout != "sentence_first":
                raise ConfigError(
                    f"stages.{name}.packing: packing shares the sentence prefix of a sentence's "
                    "questions; it needs layout: sentence_first"
                )
        check_extension(self.span_extension)
        check_train_spans(self.train_spans, self.span_extension)
        if self.device not in _DEVICES and not self.device.startswith("cuda:"):
            raise ConfigError(
                f"device: {self.device!r}; expected one of {', '.join(_DEVICES)} or cuda:N"
            )
        if self.precision not in _PRECISIONS:
            raise ConfigError(
                f"precision: {self.precision!r}; expected one of {', '.join(_PRECISIONS)} "
                "(fp16 is not offered: it needs loss scaling; use bf16)"
            )
        if self.lora.preset not in PRESETS:
            raise ConfigError(
                f"lora.preset: {self.lora.preset!r}; expected one of {', '.join(PRESETS)}"
            )
        for spec, where in ((self.dev, "dev"), (self.test, "test")):
            if spec is not None:
                spec.check(where)
        for name in self.target_stages or []:
            if name not in self.stages:
                raise ConfigError(
                    f"target_stages: {name!r} is not a stage; stages: {', '.join(self.stages)}"
                )

    # ----- derived values ----------------------------------------------------------------
    def data_path(self, spec: DataSpec) -> Path:
        """``spec.path`` resolved against ``data_root`` (absolute paths stay as they are)."""
        return spec.resolve_path(self.data_root)

    def stages_without_data(self) -> list[str]:
        """Enabled stages whose data file is not there (``fewner.fit`` turns such a recipe
        stage off, e.g. the source stage when the CoNLL-2003 files are not installed)."""
        return [
            name
            for name in self.enabled_stages()
            if self.stages[name].data.path is not None
            and not self.data_path(self.stages[name].data).is_file()
        ]

    def enabled_stages(self) -> list[str]:
        return [name for name, stage in self.stages.items() if stage.enabled]

    def enabled_target_stages(self) -> list[str]:
        """The enabled stages among ``target_stages``; without any, the last enabled stage (a
        config written by hand names none)."""
        enabled = self.enabled_stages()
        named = [n for n in enabled if n in (self.target_stages or [])]
        return named or enabled[-1:]

    def stage_seed(self, name: str) -> int:
        """The stage's ``seed``, else the run seed plus the stage's position (0, 1, ...)."""
        stage = self.stages[name]
        return stage.seed if stage.seed is not None else self.seed + list(self.stages).index(name)


# ----- loading ------------------------------------------------------------------------------


def load_config(
    path: str | Path | None,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    *,
    recipe: str | None = None,
) -> TrainConfig:
    """Read a YAML config (over the packaged recipe it names, or ``recipe``), apply overrides
    (``KEY=VALUE`` strings or a mapping of dotted keys), validate, and resolve."""
    if path is None and recipe is None:
        raise ConfigError("give a config file or a recipe (fewner train --list-recipes)")
    data = load_layered_config(path, preset_kind=RECIPES, preset=recipe, overrides=overrides)
    return parse_config(data, source=str(path) if path is not None else f"recipe {recipe}")


def init_adapter_path(value: str) -> Path:
    """The adapter folder ``init_adapter`` names: a shipped model's ``adapter/`` (the name stays
    in the resolved config, so it is the same on every machine), else the path itself."""
    from fewner.spanmodel.shipped import shipped_path

    shipped = shipped_path(value)
    return ((shipped / "adapter") if shipped else Path(value).expanduser()).resolve()


def parse_config(data: dict[str, Any], source: str = "<config>") -> TrainConfig:
    """Validate a config mapping into a :class:`TrainConfig` (errors name ``source`` and the key)."""
    config = build_config(TrainConfig, data, source)
    config.data_root = str(Path(config.data_root).expanduser().resolve())
    if config.init_adapter is not None:
        adapter = init_adapter_path(config.init_adapter)
        if not (adapter / "adapter_config.json").is_file():
            raise ConfigError(
                f"{source}: init_adapter: {adapter} is not a LoRA adapter folder "
                "(no adapter_config.json); give e.g. RUN/source/adapter"
            )
        from fewner.errors import ModelNotAvailableError
        from fewner.models.adapters import check_adapter

        try:
            check_adapter(adapter)  # a damaged folder: now, not after the model has loaded
        except ModelNotAvailableError as err:
            raise ConfigError(f"{source}: init_adapter: {err}") from None
        from fewner.spanmodel.shipped import shipped_path

        if shipped_path(config.init_adapter) is None:  # a shipped name stays a name
            config.init_adapter = str(adapter)
    settings = config.lora.settings()
    config.lora = LoraSpec(
        preset=config.lora.preset,
        r=settings.r,
        alpha=settings.alpha,
        dropout=settings.dropout,
        target_modules=list(settings.target_modules),
    )
    return config


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """The resolved config as plain data (what a run writes to ``config.json``); it reads back
    as the same config with :func:`parse_config`. Inline examples are written as JSONL records."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name == "stages":
            value = {name: stage.to_config() for name, stage in value.items()}
        elif isinstance(value, EvalSpec):
            value = value.to_config()
        elif dataclasses.is_dataclass(value):
            value = dataclasses.asdict(value)
        else:
            value = copy.deepcopy(value)
        out[f.name] = value
    return out
