"""Training run configs: YAML files (``configs/*.yaml``) validated into dataclasses.

A config is one YAML mapping (every key and its default: ``configs/README.md``). Command-line
``--set a.b.c=VALUE`` overrides are applied to the mapping before validation; ``VALUE`` is read
as YAML (``3``, ``1e-4``, ``false``, ``null``, ``[a, b]``). Validation names the offending key
and what was expected, and rejects unknown keys (a misspelt key would otherwise silently keep
its default).

Stages are a mapping ``name -> settings`` run in the file's order, each continuing the adapter
of the one before; ``enabled: false`` skips one. The resolved config (defaults filled in, LoRA
preset expanded, ``data_root`` made absolute) is what :func:`config_to_dict` returns and what a
run writes to its folder.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fewner.config_schema import apply_overrides, build_dataclass, read_yaml_mapping
from fewner.errors import ConfigError
from fewner.train.lora import PRESETS, LoraSettings

__all__ = [
    "STAGE_KINDS",
    "DataSpec",
    "EvalSpec",
    "LoraSpec",
    "PreferenceSpec",
    "RefusalSpec",
    "StageSpec",
    "TrainConfig",
    "apply_overrides",
    "config_to_dict",
    "default_data_root",
    "load_config",
    "parse_config",
]

_STAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_DEVICES = ("auto", "cpu", "cuda")
_PRECISIONS = ("auto", "bf16", "fp32")


def default_data_root() -> str:
    """``$FEWNER_SHARED_DATA`` when set, else ``../shared/data`` (beside the checkout)."""
    return os.environ.get("FEWNER_SHARED_DATA") or "../shared/data"


@dataclass
class DataSpec:
    """A data file (relative to ``data_root`` unless absolute) and which part of it to use.

    ``skip``: drop the first N sentences, then ``limit``: keep the first N of the rest (all when
    null); so two stages can take disjoint parts of one file (``limit: 100`` and ``skip: 100``).
    ``types``: the entity types to prompt for (null: every label found in the sentences used,
    sorted).
    """

    path: str
    format: str = "auto"
    limit: int | None = None
    types: list[str] | None = None
    skip: int = 0

    def check(self, where: str) -> None:
        _positive(self.limit, f"{where}.limit", allow_none=True)
        if self.skip < 0:
            raise ConfigError(f"{where}.skip must be >= 0 (sentences to drop first), got {self.skip}")
        if self.types is not None and not self.types:
            raise ConfigError(f"{where}.types: give at least one type, or null for all labels")


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


#: Stage kinds and their default learning rates (the OBP-LLM paper's DPO uses 5e-6).
STAGE_KINDS: dict[str, float] = {"sft": 2e-4, "dpo": 5e-6, "grait": 2e-4}

_WEIGHTINGS = ("adaptive", "uniform")
_UNSELECTED = ("drop", "gold")


@dataclass
class PreferenceSpec:
    """Settings of a ``kind: dpo`` stage (pairs: :mod:`fewner.train.pairs`; loss:
    :mod:`fewner.train.dpo`).

    ``beta``: DPO temperature; ``alpha``: weight of the SFT (NLL) loss on the chosen answers;
    ``boundary_pairs``: boundary-shifted pairs per prompt with a gold mention (0: none);
    ``error_feedback``: add pairs from the stage-start model's wrong answers to its training
    prompts, generated with ``feedback_*`` settings (greedy).
    """

    beta: float = 0.1
    alpha: float = 0.2
    boundary_pairs: int = 2
    error_feedback: bool = True
    feedback_batch_size: int = 16
    feedback_max_new_tokens: int = 64
    feedback_constrained: bool = True

    def check(self, where: str) -> None:
        if self.beta <= 0:
            raise ConfigError(f"{where}.beta must be > 0, got {self.beta}")
        if self.alpha < 0:
            raise ConfigError(f"{where}.alpha must be >= 0, got {self.alpha}")
        if self.boundary_pairs < 0:
            raise ConfigError(f"{where}.boundary_pairs must be >= 0, got {self.boundary_pairs}")
        if self.boundary_pairs == 0 and not self.error_feedback:
            raise ConfigError(
                f"{where}: no pairs (boundary_pairs is 0 and error_feedback is false)"
            )
        _positive(self.feedback_batch_size, f"{where}.feedback_batch_size")
        _positive(self.feedback_max_new_tokens, f"{where}.feedback_max_new_tokens")


@dataclass
class RefusalSpec:
    """Settings of a ``kind: grait`` stage (refusal-aware SFT, :mod:`fewner.grait`).

    Knowledge query: the model as the stage starts answers each training prompt greedily and
    ``samples`` times at ``temperature``; ``threshold``: a prompt whose share of answers equal to
    gold is at least this is *known* (keeps its gold answer), else *unknown* (refusal answer).
    ``select``: how many unknown prompts get the refusal answer, chosen by GRAIT's gradient
    criterion: a count (>= 1), a fraction of the unknown prompts (0 < x < 1), 0 for none, or null
    for all (no gradients needed). ``weights``: ``adaptive`` (GRAIT's influence softmax with
    ``weight_temperature``) or ``uniform`` (1). ``select: null`` + ``weights: uniform`` is plain
    refusal-aware tuning (RAIT). ``warmup_steps`` / ``warmup_lr`` / ``warmup_batch_size``: the
    short training on the split data before gradient features (undone afterwards);
    ``projection_dim`` / ``projection_seed``: the random projection of the LoRA gradients;
    ``query_*``: generation settings of the knowledge query. ``unselected``: what the unknown
    prompts that were *not* chosen train on: ``drop`` (nothing, as in GRAIT) or ``gold`` (their
    gold answer, weight 1). On NER the unknown prompts are nearly all the ones with entities, so
    dropping them teaches the model that entities are rare.
    """

    samples: int = 4
    temperature: float = 0.7
    threshold: float = 0.5
    select: float | None = None
    weights: str = "uniform"
    weight_temperature: float = 0.05
    warmup_steps: int = 20
    warmup_lr: float = 2e-4
    warmup_batch_size: int = 8
    projection_dim: int = 8192
    projection_seed: int = 0
    query_batch_size: int = 16
    query_max_new_tokens: int = 64
    query_constrained: bool = True
    unselected: str = "drop"

    def check(self, where: str) -> None:
        if self.samples < 0:
            raise ConfigError(f"{where}.samples must be >= 0 (sampled answers besides greedy)")
        if self.samples > 0 and self.temperature <= 0:
            raise ConfigError(f"{where}.temperature must be > 0 when samples > 0")
        if not 0 < self.threshold <= 1:
            raise ConfigError(f"{where}.threshold must be in (0, 1], got {self.threshold}")
        if self.select is not None and (isinstance(self.select, bool) or self.select < 0):
            raise ConfigError(
                f"{where}.select: a count >= 1, a fraction in (0, 1), 0, or null for all; "
                f"got {self.select!r}"
            )
        if self.select is not None and self.select >= 1 and self.select != int(self.select):
            raise ConfigError(f"{where}.select: a count must be a whole number, got {self.select}")
        if self.weights not in _WEIGHTINGS:
            raise ConfigError(
                f"{where}.weights: {self.weights!r}; expected one of {', '.join(_WEIGHTINGS)}"
            )
        if self.weight_temperature <= 0:
            raise ConfigError(f"{where}.weight_temperature must be > 0")
        if self.unselected not in _UNSELECTED:
            raise ConfigError(
                f"{where}.unselected: {self.unselected!r}; expected one of {', '.join(_UNSELECTED)}"
            )
        if self.warmup_steps < 0:
            raise ConfigError(f"{where}.warmup_steps must be >= 0 (0: no warm-up)")
        if self.warmup_lr <= 0:
            raise ConfigError(f"{where}.warmup_lr must be > 0")
        for key in ("warmup_batch_size", "projection_dim", "query_batch_size", "query_max_new_tokens"):
            _positive(getattr(self, key), f"{where}.{key}")

    @property
    def needs_gradients(self) -> bool:
        """Gradient features are computed only for GRAIT's selection or adaptive weights."""
        return self.select is not None or self.weights == "adaptive"


@dataclass
class StageSpec:
    """One training stage; see ``configs/README.md`` for each key.

    ``definitions``: type definitions for this stage's prompts (null: the run's); a source stage
    on CoNLL-2003 needs ``conll2003`` while the run's definitions are the target dataset's.
    """

    data: DataSpec
    enabled: bool = True
    kind: str = "sft"
    definitions: str | None = None
    epochs: int = 1
    batch_size: int = 8
    grad_accum: int = 1
    lr: float | None = None
    weight_decay: float = 0.0
    schedule: str = "linear"
    warmup_ratio: float = 0.1
    warmup_steps: int | None = None
    min_lr_ratio: float = 0.0
    max_grad_norm: float = 1.0
    max_length: int = 512
    loss: list[dict[str, Any]] | None = None
    preference: PreferenceSpec | None = None
    refusal: RefusalSpec | None = None
    eval_every: int = 0
    eval_at_end: bool = True
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    log_every: int = 1
    seed: int | None = None

    def check(self, where: str) -> None:
        """Validate, and fill the defaults that depend on ``kind`` (lr, loss, preference)."""
        from fewner.train.schedule import DECAYS

        self.data.check(f"{where}.data")
        if self.kind not in STAGE_KINDS:
            raise ConfigError(
                f"{where}.kind: {self.kind!r}; expected one of {', '.join(STAGE_KINDS)}"
            )
        if self.lr is None:
            self.lr = STAGE_KINDS[self.kind]
        if self.kind == "dpo":
            if self.loss is not None:
                raise ConfigError(
                    f"{where}.loss: a dpo stage's loss is DPO + alpha x NLL on the chosen "
                    "answers; set preference.beta / preference.alpha instead"
                )
            if self.preference is None:
                self.preference = PreferenceSpec()
            self.preference.check(f"{where}.preference")
        else:
            if self.preference is not None:
                raise ConfigError(f"{where}.preference: only a kind: dpo stage takes preference")
            if self.loss is None:
                self.loss = _default_losses()
        if self.kind == "grait":
            if self.refusal is None:
                self.refusal = RefusalSpec()
            self.refusal.check(f"{where}.refusal")
        elif self.refusal is not None:
            raise ConfigError(f"{where}.refusal: only a kind: grait stage takes refusal")
        for key in (
            "epochs",
            "batch_size",
            "grad_accum",
            "max_length",
            "keep_checkpoints",
            "log_every",
        ):
            _positive(getattr(self, key), f"{where}.{key}")
        for key in ("eval_every", "checkpoint_every"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{where}.{key} must be >= 0 (0 = off), got {getattr(self, key)}")
        if self.lr <= 0:
            raise ConfigError(f"{where}.lr must be > 0, got {self.lr}")
        if self.weight_decay < 0 or self.max_grad_norm < 0:
            raise ConfigError(f"{where}: weight_decay and max_grad_norm must be >= 0 (0 = off)")
        if self.schedule not in DECAYS:
            raise ConfigError(
                f"{where}.schedule: {self.schedule!r}; expected one of {', '.join(DECAYS)}"
            )
        if not 0 <= self.warmup_ratio <= 1 or not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f"{where}: warmup_ratio and min_lr_ratio must be in [0, 1]")
        if self.warmup_steps is not None and self.warmup_steps < 0:
            raise ConfigError(f"{where}.warmup_steps must be >= 0")
        if self.kind == "dpo":
            return
        if not self.loss:
            raise ConfigError(f"{where}.loss: give at least one loss term, e.g. [{{name: nll}}]")
        for i, spec in enumerate(self.loss):
            if not isinstance(spec.get("name"), str):
                raise ConfigError(f"{where}.loss[{i}]: each term needs a 'name' (e.g. nll)")
            weight = spec.get("weight", 1.0)
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                raise ConfigError(f"{where}.loss[{i}].weight must be a number, got {weight!r}")


@dataclass
class EvalSpec:
    """Evaluation data and decoding settings (span F1 with :class:`fewner.predict.Extractor`).

    ``abstain``: let constrained decoding write the refusal answer (null: when the run has an
    enabled ``kind: grait`` stage).
    """

    data: DataSpec
    definitions: str | None = None
    batch_size: int = 16
    max_new_tokens: int = 64
    constrained: bool = True
    abstain: bool | None = None

    def check(self, where: str) -> None:
        self.data.check(f"{where}.data")
        _positive(self.batch_size, f"{where}.batch_size")
        _positive(self.max_new_tokens, f"{where}.max_new_tokens")


@dataclass
class TrainConfig:
    """A whole run: model, prompt format, LoRA, stages in order, optional dev and test evaluation."""

    stages: dict[str, StageSpec]
    model: str = "smollm2-135m-instruct"
    template: str = "obp-llm"
    layout: str | None = None
    definitions: str = "wnut17"
    data_root: str = field(default_factory=default_data_root)
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    lora: LoraSpec = field(default_factory=LoraSpec)
    init_adapter: str | None = None
    dev: EvalSpec | None = None
    test: EvalSpec | None = None

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

    # ----- derived values ----------------------------------------------------------------
    def data_path(self, spec: DataSpec) -> Path:
        """``spec.path`` resolved against ``data_root`` (absolute paths stay as they are)."""
        path = Path(spec.path).expanduser()
        return path if path.is_absolute() else Path(self.data_root) / path

    def enabled_stages(self) -> list[str]:
        return [name for name, stage in self.stages.items() if stage.enabled]

    def stage_seed(self, name: str) -> int:
        """The stage's ``seed``, else the run seed plus the stage's position (0, 1, ...)."""
        stage = self.stages[name]
        return stage.seed if stage.seed is not None else self.seed + list(self.stages).index(name)


# ----- loading ------------------------------------------------------------------------------


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read a YAML config, apply ``KEY=VALUE`` overrides, validate, and resolve."""
    data = read_yaml_mapping(path)
    return parse_config(apply_overrides(data, overrides), source=str(path))


def parse_config(data: dict[str, Any], source: str = "<config>") -> TrainConfig:
    """Validate a config mapping into a :class:`TrainConfig` (errors name ``source`` and the key)."""
    try:
        config = build_dataclass(TrainConfig, data)
        config.check()
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    config.data_root = str(Path(config.data_root).expanduser().resolve())
    if config.init_adapter is not None:
        adapter = Path(config.init_adapter).expanduser().resolve()
        if not (adapter / "adapter_config.json").is_file():
            raise ConfigError(
                f"{source}: init_adapter: {adapter} is not a LoRA adapter folder "
                "(no adapter_config.json); give e.g. RUN/source/adapter"
            )
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
    """The resolved config as plain data (what a run writes to ``config.json``)."""
    return dataclasses.asdict(config)


def _positive(value: int | None, where: str, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if value is None or value < 1:
        raise ConfigError(f"{where} must be >= 1, got {value!r}")
