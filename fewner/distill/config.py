"""Distillation run configs: a packaged preset, a YAML file, a group and overrides, validated
into dataclasses.

Layers (:func:`fewner.config_schema.load_layered_config`): a preset shipped in the package
(``fewner/resources/distill/NAME.yaml``, chosen by ``--recipe NAME`` or the file's
``recipe: NAME``; ``distill`` when no file is given), the file's keys deep-merged over it, then
the chosen group (``groups:`` holds named presets, the study's groups A-E: ``group: B`` in the
file or ``--group B``), whose keys *replace* top-level keys, then ``--set a.b=VALUE`` overrides.
Validation reuses the shared rules (:func:`fewner.config_schema.build_dataclass`): unknown keys
and wrong types are errors naming the key.

Data: ``original``, ``dev`` and ``test`` are the shared data spec
(:class:`fewner.data.spec.DataSpec`: ``path`` relative to ``data_root`` or ``inline`` examples,
``format``, ``skip``, ``limit``, ``types``); ``distilled`` files are outputs of
``fewner annotate``, relative to the working directory, filtered by status.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fewner.config_schema import (
    apply_overrides,
    build_config,
    list_presets,
    load_layered_config,
    preset_description,
    read_preset,
)
from fewner.data.spec import DataSpec, default_data_root
from fewner.distill.answers import STATUSES
from fewner.distill.schedules import Schedule, make_schedule
from fewner.errors import ConfigError

__all__ = [
    "DEFAULT_RECIPE",
    "DEFAULT_STUDENT_MODELS",
    "STUDENT_KINDS",
    "DistillConfig",
    "DistilledFile",
    "StudentSpec",
    "config_dict",
    "distill_recipe_description",
    "distill_recipe_groups",
    "distill_recipes",
    "load_distill_config",
]

MIXES = ("sample", "loss")
#: Presets live in ``fewner/resources/distill/``; a config file names one with ``recipe: NAME``.
PRESETS = "distill"
PRESET_KEY = "recipe"
#: The preset ``fewner distill`` uses when it is given no config file.
DEFAULT_RECIPE = "distill"


@dataclass
class DistilledFile:
    """A ``fewner annotate`` output; only sentences whose status is in ``statuses`` are used."""

    path: str
    limit: int | None = None
    statuses: list[str] = field(default_factory=lambda: ["ok", "repaired", "partial"])


STUDENT_KINDS = ("token", "span")
#: The model a student starts from when ``student.model`` is not given, by kind.
DEFAULT_STUDENT_MODELS = {"token": "minilm-l6", "span": "fewner-span-minilm"}


@dataclass
class StudentSpec:
    """Which student learns, and from what it starts.

    ``kind``: ``token`` (a token classifier with a BIO head on ``model``, an encoder: catalogue
    name, local folder or hub id; the study's student) or ``span`` (fewner's span model,
    :mod:`fewner.distill.span_student`: ``model`` is a span model, shipped name or folder, or
    an encoder that gets fresh span heads). ``model`` defaults to :data:`DEFAULT_STUDENT_MODELS`.
    ``layers`` keeps the first N encoder layers (fewer layers: a faster, usually weaker
    student; both kinds). Token only: ``max_length`` subwords per
    sentence. Span only: ``label_names`` (the text each type is read as, ``{PER: person}``;
    default the base model's, else the type's name), ``lr_head`` (the span and label heads'
    learning rate; default 10 x ``lr``, which the encoder gets), ``freeze_layers`` (lowest
    encoder layers not trained), ``threshold`` (the saved model's; default the base's) and
    ``device`` (where it trains: ``auto``, a GPU when torch sees one, else ``cpu``; or ``cuda:N``).
    """

    kind: str = "token"
    model: str | None = None
    layers: int | None = None
    max_length: int = 128
    label_names: dict[str, str] = field(default_factory=dict)
    lr_head: float | None = None
    freeze_layers: int = 0
    threshold: float | None = None
    device: str = "auto"

    def check(self) -> None:
        if self.kind not in STUDENT_KINDS:
            raise ConfigError(
                f"student.kind: {self.kind!r}; expected {' or '.join(STUDENT_KINDS)}"
            )
        if self.model is None:
            self.model = DEFAULT_STUDENT_MODELS[self.kind]
        if self.max_length < 8:
            raise ConfigError(f"student.max_length must be >= 8, got {self.max_length}")
        if self.kind == "token":
            span_only = {
                "label_names": bool(self.label_names),
                "lr_head": self.lr_head is not None,
                "freeze_layers": self.freeze_layers != 0,
                "threshold": self.threshold is not None,
                "device": self.device != "auto",
            }
            given = [key for key, set_ in span_only.items() if set_]
            if given:
                raise ConfigError(
                    f"student.{given[0]} applies to the span student only (student.kind: span)"
                )
            return
        if self.lr_head is not None and self.lr_head <= 0:
            raise ConfigError(f"student.lr_head must be > 0, got {self.lr_head}")
        if self.freeze_layers < 0:
            raise ConfigError(f"student.freeze_layers must be >= 0, got {self.freeze_layers}")
        if self.threshold is not None and not 0 < self.threshold < 1:
            raise ConfigError(f"student.threshold must be in (0, 1), got {self.threshold}")
        from fewner.devices import resolve_device

        resolve_device(self.device)  # a bad name or a missing GPU fails before any work


@dataclass
class DistillConfig:
    """A whole distillation run; every key and its default: the ``distill`` preset."""

    student: StudentSpec = field(default_factory=StudentSpec)
    types: list[str] = field(default_factory=lambda: ["PER", "LOC", "ORG", "MISC"])
    data_root: str = field(default_factory=default_data_root)
    original: DataSpec | None = None
    distilled: list[DistilledFile] = field(default_factory=list)
    schedule: Any = "distilled"
    mix: str = "sample"
    epochs: int = 10
    batch_size: int = 32
    lr: float = 5e-5
    lr_decay: float | None = None
    weight_decay: float = 0.01
    seed: int = 0
    threads: int | None = None
    checkpoint: bool = True
    dev: DataSpec | None = None
    test: DataSpec | None = None
    predict_batch_size: int = 16
    group: str | None = None

    def resolved_schedule(self) -> Schedule:
        return make_schedule(self.schedule)

    def data_path(self, spec: DataSpec) -> Path:
        """Where a path spec's file is (relative paths: under ``data_root``)."""
        return spec.resolve_path(self.data_root)

    def labelled_specs(self) -> dict[str, DataSpec]:
        """The labelled data specs that are set: ``original``, ``dev``, ``test``."""
        specs = {"original": self.original, "dev": self.dev, "test": self.test}
        return {key: spec for key, spec in specs.items() if spec is not None}

    def check(self) -> None:
        schedule = self.resolved_schedule()
        self.schedule = {"name": schedule.name, **schedule.params}
        if self.mix not in MIXES:
            raise ConfigError(f"mix: {self.mix!r}; expected {' or '.join(MIXES)}")
        for key in ("epochs", "batch_size", "predict_batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.lr_decay is not None and not 0 < self.lr_decay <= 1:
            raise ConfigError(f"lr_decay must be in (0, 1] (e.g. 0.95), got {self.lr_decay}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads}")
        if not self.types:
            raise ConfigError("types: give at least one entity type")
        for key, spec in self.labelled_specs().items():
            _check_spec(spec, key, self.types)
        self.student.check()
        unnamed = sorted(set(self.student.label_names) - set(self.types))
        if unnamed:
            raise ConfigError(f"student.label_names: {unnamed} are not among the run's types")
        for i, d in enumerate(self.distilled):
            bad = sorted(set(d.statuses) - set(STATUSES))
            if bad:
                raise ConfigError(
                    f"distilled[{i}].statuses: unknown {bad}; expected some of {list(STATUSES)}"
                )
        weights = [schedule(t, self.epochs) for t in range(self.epochs)]
        if any(wd > 0 for wd, _ in weights) and not self.distilled:
            raise ConfigError(
                f"schedule {schedule.label} uses distilled data but `distilled` is empty"
            )
        if any(wo > 0 for _, wo in weights) and self.original is None:
            raise ConfigError(
                f"schedule {schedule.label} uses original data but `original` is null"
            )


def load_distill_config(
    path: str | Path | None,
    group: str | None = None,
    overrides: tuple[str, ...] | list[str] = (),
    *,
    recipe: str | None = None,
) -> DistillConfig:
    """Layer the preset (``recipe``, else the file's ``recipe:``, else :data:`DEFAULT_RECIPE`
    when ``path`` is None), the YAML at ``path``, the group and the ``--set`` overrides (module
    docstring), validate, and resolve ``data_root``."""
    overrides = list(overrides)
    # `--set recipe=NAME` chooses the preset like --recipe; every other override comes last
    chosen_recipe = [o for o in overrides if o.partition("=")[0].strip() == PRESET_KEY]
    overrides = [o for o in overrides if o not in chosen_recipe]
    if path is None and recipe is None and not chosen_recipe:
        recipe = DEFAULT_RECIPE
    data = load_layered_config(
        path,
        preset_kind=PRESETS,
        preset=recipe,
        overrides=chosen_recipe,
        key=PRESET_KEY,
        example="epochs=3",
    )
    source = str(path) if path is not None else f"recipe {recipe}" if recipe else "<defaults>"
    groups = data.pop("groups", None) or {}
    if not isinstance(groups, dict):
        raise ConfigError(f"{source}: groups: expected a mapping of name -> overrides")
    chosen = group if group is not None else data.get("group")
    if chosen is not None:
        if chosen not in groups:
            known = ", ".join(map(str, groups)) or "none defined"
            raise ConfigError(f"{source}: unknown group {chosen!r} (groups: {known})")
        preset = groups[chosen]
        if not isinstance(preset, dict):
            raise ConfigError(f"{source}: groups.{chosen}: expected a mapping of overrides")
        data = {**copy.deepcopy(data), **copy.deepcopy(preset), "group": str(chosen)}
    data = apply_overrides(data, overrides, example="epochs=3")
    config = build_config(DistillConfig, data, source)
    config.data_root = str(Path(config.data_root).expanduser().resolve())
    return config


def distill_recipes() -> list[str]:
    """Names of the packaged distillation presets (sorted)."""
    return list_presets(PRESETS)


def distill_recipe_description(name: str) -> str:
    """A preset's one-line description (the first comment line of its file)."""
    return preset_description(PRESETS, name)


def distill_recipe_groups(name: str) -> list[str]:
    """The group names a packaged preset defines."""
    groups = read_preset(PRESETS, name, key=PRESET_KEY).get("groups") or {}
    return [str(g) for g in groups] if isinstance(groups, dict) else []


def _check_spec(spec: DataSpec, key: str, types: list[str]) -> None:
    from fewner.data.formats import FORMATS

    spec.check(key)
    if spec.format != "auto" and spec.format not in FORMATS:
        raise ConfigError(
            f"{key}.format: unknown format {spec.format!r}; expected auto, "
            f"{', '.join(FORMATS.names())}"
        )
    if spec.types is not None:
        extra = sorted(set(spec.types) - set(types))
        if extra:
            raise ConfigError(f"{key}.types: {extra} not among the run's types {types}")


def config_dict(config: DistillConfig) -> dict[str, Any]:
    """The resolved config as plain data (what a run writes to ``config.json``)."""
    return dataclasses.asdict(config)
