"""Distillation run configs: one YAML file (``configs/distill.yaml``) validated into dataclasses.

The file holds the defaults of a run and, under ``groups:``, named presets (the study's groups
A-E) that override top-level keys. ``group: B`` in the file or ``--group B`` on the command line
picks one; ``--set a.b=VALUE`` overrides are applied after the group. Validation reuses the
training configs' rules (:mod:`fewner.train.config`): unknown keys and wrong types are errors
naming the key.

Paths: ``original``, ``dev`` and ``test`` are data files relative to ``data_root`` (like the
training configs); ``distilled`` files are outputs of ``fewner annotate``, relative to the
working directory.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fewner.config_schema import apply_overrides, build_dataclass, read_yaml_mapping
from fewner.distill.answers import STATUSES
from fewner.distill.schedules import Schedule, make_schedule
from fewner.errors import ConfigError
from fewner.train.config import default_data_root

__all__ = ["DataFile", "DistillConfig", "DistilledFile", "StudentSpec", "load_distill_config"]

MIXES = ("sample", "loss")


@dataclass
class DataFile:
    """A labelled data file (relative to ``data_root``); ``limit``: its first N sentences."""

    path: str
    limit: int | None = None
    format: str = "auto"


@dataclass
class DistilledFile:
    """A ``fewner annotate`` output; only sentences whose status is in ``statuses`` are used."""

    path: str
    limit: int | None = None
    statuses: list[str] = field(default_factory=lambda: ["ok", "repaired", "partial"])


@dataclass
class StudentSpec:
    """The encoder: catalogue name, local folder or hub id; ``layers`` keeps the first N."""

    model: str = "minilm-l6"
    layers: int | None = None
    max_length: int = 128


@dataclass
class DistillConfig:
    """A whole distillation run; every key and its default is in ``configs/distill.yaml``."""

    student: StudentSpec = field(default_factory=StudentSpec)
    types: list[str] = field(default_factory=lambda: ["PER", "LOC", "ORG", "MISC"])
    data_root: str = field(default_factory=default_data_root)
    original: DataFile | None = None
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
    dev: DataFile | None = None
    test: DataFile | None = None
    predict_batch_size: int = 16
    group: str | None = None

    def resolved_schedule(self) -> Schedule:
        return make_schedule(self.schedule)

    def data_path(self, spec: DataFile) -> Path:
        path = Path(spec.path).expanduser()
        return path if path.is_absolute() else Path(self.data_root) / path

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
        if self.student.max_length < 8:
            raise ConfigError(f"student.max_length must be >= 8, got {self.student.max_length}")
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
    path: str | Path | None, group: str | None = None, overrides: tuple[str, ...] | list[str] = ()
) -> DistillConfig:
    """Read the YAML (or start from defaults when ``path`` is None), apply the group preset and
    the ``--set`` overrides, validate, and resolve ``data_root``."""
    data = read_yaml_mapping(path)
    source = "<defaults>" if path is None else str(path)
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
    data = apply_overrides(data, overrides)
    try:
        config = build_dataclass(DistillConfig, data)
        config.check()
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    config.data_root = str(Path(config.data_root).expanduser().resolve())
    return config


def config_dict(config: DistillConfig) -> dict[str, Any]:
    """The resolved config as plain data (what a run writes to ``config.json``)."""
    return dataclasses.asdict(config)
