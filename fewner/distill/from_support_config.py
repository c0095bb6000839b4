"""The config of one pipeline run: support set + unlabeled pool -> teacher labels -> student.

Layers as every fewner config (:func:`fewner.config_schema.load_layered_config`): the packaged
preset ``fewner/resources/distill/from_support/from-support.yaml`` (every key with its default),
a YAML file's keys merged over it (a file may name another preset with ``recipe: NAME``), then
``--set a.b=VALUE`` overrides; unknown keys and wrong types are errors naming the key.

* ``support`` and ``test`` are the shared data spec (:class:`fewner.data.spec.DataSpec`), paths
  relative to ``data_root`` (default: the working directory);
* ``pool`` (:class:`PoolSpec`) is unlabeled text read by :mod:`fewner.distill.pool`;
* ``teacher`` (:class:`TeacherSpec`) names the predictor that labels the pool
  (:mod:`fewner.distill.teacher_labels`);
* ``student`` is the distillation student (:class:`fewner.distill.config.StudentSpec`); the
  training keys are those of ``fewner distill`` (:class:`fewner.distill.config.DistillConfig`),
  with ``null`` meaning the student kind's default (:data:`KIND_DEFAULTS`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fewner.config_schema import apply_overrides, build_config, build_dataclass, load_layered_config
from fewner.data.spec import DataSpec
from fewner.distill.answers import STATUSES
from fewner.distill.config import MIXES, StudentSpec
from fewner.distill.schedules import make_schedule
from fewner.errors import ConfigError

__all__ = [
    "KIND_DEFAULTS",
    "POOL_FORMATS",
    "PRESET",
    "PRESETS",
    "FromSupportConfig",
    "PoolSpec",
    "TeacherSpec",
    "VerifySpec",
    "load_from_support_config",
]

#: Presets of this pipeline live in ``fewner/resources/distill/from_support/``.
PRESETS = "distill/from_support"
PRESET = "from-support"
#: How the pool is read (besides any data format name, whose labels are dropped).
POOL_FORMATS = ("auto", "lines", "files", "text-jsonl")
#: Training settings by student kind where the config says ``null``.
KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    "span": {"epochs": 4, "batch_size": 16, "lr": 2e-5, "lr_head": 2e-4, "support_epochs": None,
             "predict_batch_size": 1024},  # the span predictor sorts a call's sentences by length
    "token": {"epochs": 10, "batch_size": 32, "lr": 2e-4, "lr_head": None, "support_epochs": 40,
              "predict_batch_size": 32},
}


def _check_source(where: str, path: str | None, fmt: str, limit: int | None) -> None:
    if not path:
        raise ConfigError(f"{where}.path: give the unlabeled text (a file or a folder of .txt)")
    if limit is not None and limit < 1:
        raise ConfigError(f"{where}.limit must be >= 1 (or null for all), got {limit}")
    if fmt not in POOL_FORMATS:
        from fewner.data.formats import FORMATS

        if fmt not in FORMATS:
            known = ", ".join([*POOL_FORMATS, *FORMATS.names()])
            raise ConfigError(f"{where}.format: unknown {fmt!r}; expected one of {known}")


@dataclass
class PoolSource:
    """One more source of unlabeled text in ``pool.also``, read like the pool's own ``path``
    with its own ``format``, ``limit`` and ``seed`` (e.g. a news corpus next to in-domain text)."""

    path: str | None = None
    format: str = "auto"
    limit: int | None = None
    seed: int | None = None


@dataclass
class PoolSpec:
    """Unlabeled in-domain text (never the test text): ``path`` (relative to ``data_root``),
    ``format`` (:data:`POOL_FORMATS` or a data format), at most ``limit`` sentences (the first,
    or with ``seed`` a seeded random sample), sentences under ``min_words`` words skipped;
    ``also``: more sources (:class:`PoolSource`) appended after it, repeats across them kept once."""

    path: str | None = None
    format: str = "auto"
    limit: int | None = 2000
    seed: int | None = None
    min_words: int = 3
    also: list[PoolSource] = field(default_factory=list)

    def check(self) -> None:
        _check_source("pool", self.path, self.format, self.limit)
        for i, source in enumerate(self.also):
            _check_source(f"pool.also[{i}]", source.path, source.format, source.limit)
        if self.min_words < 1:
            raise ConfigError(f"pool.min_words must be >= 1, got {self.min_words}")

    def sources(self) -> list[PoolSource]:
        """The pool's own text, then ``also``: each source read on its own."""
        return [PoolSource(self.path, self.format, self.limit, self.seed), *self.also]


@dataclass
class TeacherSpec:
    """Who labels the pool. ``use``: a ``fewner.fit`` recipe fitted on the support set (``icl``:
    the EL4NER ensemble; ``span``: the shipped span model adapted in seconds; ``dictionary``;
    a LoRA recipe), ``openai:MODEL`` (the annotation prompt on an OpenAI-compatible server at
    ``base_url``, the support set as its demonstrations), or anything :func:`fewner.load` takes
    (a saved model folder, a shipped model, a language model name). ``options``: keyword
    arguments of the recipe / ``fewner.load`` / the annotator; ``definitions``: type
    definitions for prompting teachers (shipped name or YAML); ``batch_size``: sentences per
    teacher call and per append to the labels file; ``statuses``: which labelled sentences the
    student learns from (a prompting teacher's unparseable answers are left out)."""

    use: str = "icl-fast"
    base_url: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    definitions: str | None = None
    batch_size: int = 8
    statuses: list[str] = field(default_factory=lambda: ["ok", "repaired", "partial"])

    @classmethod
    def from_config(cls, value: Any, key: str) -> TeacherSpec:
        """``teacher: span`` is short for ``teacher: {use: span}``."""
        if isinstance(value, str):
            value = {"use": value}
        return build_dataclass(cls, value, key)

    def check(self) -> None:
        if not self.use or not self.use.strip():
            raise ConfigError("teacher.use: name the teacher (icl, span, openai:MODEL, a folder)")
        if self.batch_size < 1:
            raise ConfigError(f"teacher.batch_size must be >= 1, got {self.batch_size}")
        bad = sorted(set(self.statuses) - set(STATUSES))
        if bad:
            raise ConfigError(f"teacher.statuses: unknown {bad}; expected some of {list(STATUSES)}")
        if self.use.startswith("openai:") and not self.base_url:
            raise ConfigError("teacher.base_url: an openai:MODEL teacher needs the server's URL")


@dataclass
class EvaluateSpec:
    """With a ``test`` file: the teacher is scored on its first ``teacher_limit`` sentences
    (null: all; a prompting teacher is slow), and ``support_only`` also trains the student on
    the support set alone (the baseline row; ``support_epochs``: its epochs for the token
    student; the span student is adapted as ``fewner fit --recipe span`` does)."""

    teacher_limit: int | None = 200
    support_only: bool = True
    support_epochs: int | None = None


@dataclass
class VerifySpec:
    """Who checks the teacher's labels before the student learns them
    (:mod:`fewner.distill.verify`). ``by``: ``auto`` (``support-only`` for a span student,
    ``none`` for a token student), ``support-only`` (the span student adapted to the support
    set alone: it keeps a teacher span it scores above ``keep_above`` and adds its own spans
    scoring above ``add_above``), ``none`` (every teacher label is learned)."""

    by: str = "auto"
    keep_above: float = 0.05
    add_above: float = 0.5

    def check(self, student_kind: str) -> None:
        from fewner.distill.verify import VERIFY_BY, check_thresholds

        if self.by not in VERIFY_BY:
            raise ConfigError(f"verify.by: {self.by!r}; expected one of {list(VERIFY_BY)}")
        if self.by == "support-only" and student_kind != "span":
            raise ConfigError(
                "verify.by: support-only checks labels with the span student adapted to the "
                f"support set; the student is {student_kind} (use verify.by: none or auto)"
            )
        check_thresholds(self.keep_above, self.add_above)

    def resolved(self, student_kind: str, teacher_is_support_only: bool) -> str:
        """``by`` with ``auto`` decided; a span teacher that is the support-only student would
        only check itself, so ``auto`` is ``none`` there."""
        if self.by != "auto":
            return self.by
        return "support-only" if student_kind == "span" and not teacher_is_support_only else "none"


@dataclass
class FromSupportConfig:
    """A whole pipeline run; every key and its default: the ``from-support`` preset."""

    support: DataSpec | None = None
    pool: PoolSpec = field(default_factory=PoolSpec)
    teacher: TeacherSpec = field(default_factory=TeacherSpec)
    student: StudentSpec = field(default_factory=lambda: StudentSpec(kind="span"))
    types: list[str] | None = None
    data_root: str = "."
    schedule: Any = "simple_mix"
    mix: str = "sample"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    lr_decay: float | None = None
    weight_decay: float = 0.01
    seed: int = 0
    threads: int | None = None
    predict_batch_size: int | None = None
    test: DataSpec | None = None
    evaluate: EvaluateSpec = field(default_factory=EvaluateSpec)
    verify: VerifySpec = field(default_factory=VerifySpec)

    def check(self) -> None:
        if self.support is None:
            raise ConfigError("support: give the labelled support set (a data file)")
        self.support.check("support")
        if self.test is not None:
            self.test.check("test")
        self.pool.check()
        self.teacher.check()
        schedule = make_schedule(self.schedule)
        self.schedule = {"name": schedule.name, **schedule.params}
        if self.mix not in MIXES:
            raise ConfigError(f"mix: {self.mix!r}; expected {' or '.join(MIXES)}")
        self.student.check()
        defaults = KIND_DEFAULTS[self.student.kind]
        for key in ("epochs", "batch_size", "lr", "predict_batch_size"):
            if getattr(self, key) is None:
                setattr(self, key, defaults[key])
        if self.student.kind == "span" and self.student.lr_head is None:
            self.student.lr_head = defaults["lr_head"]
        if self.evaluate.support_epochs is None:
            self.evaluate.support_epochs = defaults["support_epochs"]
        for key in ("epochs", "batch_size", "predict_batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.lr is not None and self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.evaluate.teacher_limit is not None and self.evaluate.teacher_limit < 1:
            raise ConfigError("evaluate.teacher_limit must be >= 1 (or null for all)")
        if self.types is not None and not self.types:
            raise ConfigError("types: give at least one type, or null for the support set's")
        self.verify.check(self.student.kind)

    def resolve(self, path: str | None) -> Path:
        """A path of the config, relative to ``data_root``."""
        assert path is not None
        p = Path(path).expanduser()
        return p if p.is_absolute() else Path(self.data_root) / p


def load_from_support_config(
    path: str | Path | None = None,
    overrides: tuple[str, ...] | list[str] = (),
    *,
    recipe: str | None = None,
    values: dict[str, Any] | None = None,
) -> FromSupportConfig:
    """The preset (``recipe``, else the file's ``recipe:``, else :data:`PRESET`), the YAML at
    ``path``, ``values`` (a mapping of keys, from the Python API or CLI options), then the
    ``--set`` overrides; validated, ``data_root`` made absolute."""
    from fewner.config_schema import deep_merge

    preset = recipe if recipe is not None or path is not None else PRESET
    data = load_layered_config(path, preset_kind=PRESETS, preset=preset, key="recipe")

    data = deep_merge(data, values or {})
    data = apply_overrides(data, list(overrides), example="epochs=3")
    source = str(path) if path is not None else f"recipe {recipe or PRESET}"
    config = build_config(FromSupportConfig, data, source)
    config.data_root = str(Path(config.data_root).expanduser().resolve())
    return config


def config_dict(config: FromSupportConfig) -> dict[str, Any]:
    """The resolved config as plain data (``RUN/config.json``)."""
    data = dataclasses.asdict(config)
    for key in ("support", "test"):
        spec = getattr(config, key)
        if spec is not None:
            data[key] = spec.to_dict()
    return data
