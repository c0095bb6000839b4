"""Stage kinds: what a ``kind:`` of a training stage means, one registry entry per kind.

A :class:`StageKind` carries everything that differs between kinds, so the config validation
and the run (:mod:`fewner.train.stages`) have no if-chain over kind names:

* ``default_lr``: the stage's ``lr`` when the config gives none;
* ``settings`` / ``settings_key``: the dataclass of the kind's own settings and the stage key
  that holds them (``preference:`` of a ``dpo`` stage, ``refusal:`` of a ``grait`` stage);
  validated with the stage, defaults filled in when the key is absent;
* ``fixed_loss``: set when the kind computes its own loss (``dpo``); the stage then takes no
  ``loss`` list and the text says what to set instead;
* ``setup(ctx, name, spec, sentences, types, fmt) -> PreparedStage``: what can be prepared before
  the run writes anything (encoded examples, loss terms, DPO's boundary pairs), so that a
  mistake in a late stage fails before the first step of an early one;
* ``prepare(ctx, stage, folder) -> TrainingItems``: what needs the model as the stage starts
  (DPO's error-feedback pairs and reference log-probs, GRAIT's knowledge query), right before
  the stage trains;
* ``abstains``: the stage teaches the model to answer "not sure" (evaluation then allows it).

``sft`` is defined here; ``dpo`` in :mod:`fewner.train.preference_stage`; ``grait`` in
:mod:`fewner.grait.stage`, which registers itself (so ``fewner.train`` never imports
``fewner.grait``). A new kind is one module that calls ``STAGE_KINDS.register``; third-party
kinds use the entry-point group ``fewner.stage_kinds``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fewner.errors import ConfigError
from fewner.registry import Registry

if TYPE_CHECKING:  # (the config module imports this one: its classes are typed Any here)
    from fewner.prompts import ExtractionFormat
    from fewner.types import Sentence

__all__ = [
    "STAGE_KINDS",
    "PreparedStage",
    "RunContext",
    "StageKind",
    "TrainingItems",
    "sft_setup",
]

Log = Callable[[str], None]


@dataclass
class RunContext:
    """What a stage kind's hooks may use: the run's config, the model being trained (a peft
    model, continued by every stage), its tokenizer and id, the process group, ``resume``."""

    config: Any  # TrainConfig
    model: Any
    tokenizer: Any
    model_id: str
    dist: Any
    resume: bool = False
    log: Log = lambda _m: None


@dataclass
class PreparedStage:
    """A stage ready to run. SFT-like kinds: ``examples`` is an ExampleSet and ``terms`` its
    loss terms. DPO: ``examples`` is the PairSet of boundary-shifted pairs."""

    name: str
    spec: Any  # StageSpec
    types: list[str]
    sentences: int
    examples: Any  # ExampleSet | PairSet
    terms: list[Any]
    fmt: ExtractionFormat | None = None
    data: list[Sentence] | None = None


@dataclass
class TrainingItems:
    """What the training loop gets for one stage: its items (examples, pairs or weighted
    examples), extra Trainer options (DPO's collate function and objective) and facts for the
    stage's metrics.json."""

    items: list[Any]
    trainer_options: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


Setup = Callable[
    ["RunContext", str, Any, "list[Sentence]", "list[str]", "ExtractionFormat"], PreparedStage
]
Prepare = Callable[["RunContext", PreparedStage, Path], TrainingItems]


def sft_setup(
    ctx: RunContext,
    name: str,
    spec: Any,
    sentences: list[Sentence],
    types: list[str],
    fmt: ExtractionFormat,
) -> PreparedStage:
    """Every (sentence, type) prompt encoded with its gold answer, and the stage's loss terms."""
    from fewner.train.collate import SKIP_TOO_LONG, build_examples
    from fewner.train.losses import build_loss_terms

    seed = ctx.config.stage_seed(name)
    examples = build_examples(sentences, types, fmt, ctx.tokenizer, max_length=spec.max_length,
                              negatives=getattr(spec, "negatives", None), seed=seed)
    replay = getattr(spec, "replay", None)
    if replay is not None and replay.sentences:
        from fewner.train.replay import replay_examples

        replayed, counts = replay_examples(
            replay, template=ctx.config.template, layout=ctx.config.layout, tokenizer=ctx.tokenizer,
            data_root=ctx.config.data_root, seed=seed, max_length=spec.max_length,
        )
        examples.examples.extend(replayed)
        examples.replayed = len(replayed)
        too_long = counts["questions longer than max_length (skipped)"]
        if too_long:
            examples.skipped[f"replayed {SKIP_TOO_LONG}"] += too_long
        ctx.log(f"{name}: replaying {counts['sentences']} source sentences ({len(replayed)} questions, "
                f"{counts['questions with mentions']} with mentions)")
    if not examples.examples:
        raise ConfigError(
            f"stages.{name}: every example is longer than max_length={spec.max_length}"
        )
    for reason, count in examples.skipped.items():
        detail = f" ({spec.max_length} tokens)" if reason == SKIP_TOO_LONG else ""
        ctx.log(f"{name}: skipped {count} example(s) {reason}{detail}")
    terms = build_loss_terms(spec.loss or [], ctx.model)
    return PreparedStage(name, spec, types, len(sentences), examples, terms, fmt, sentences)


def sft_facts(stage: PreparedStage) -> dict[str, Any]:
    """The stage summary's ``skipped`` examples, resolved ``loss`` terms and replayed questions."""
    facts = {"skipped": dict(stage.examples.skipped), "loss": [t.spec() for t in stage.terms]}
    if stage.examples.replayed:
        facts["replayed_questions"] = stage.examples.replayed
    return facts


def _sft_prepare(ctx: RunContext, stage: PreparedStage, folder: Path) -> TrainingItems:
    facts = sft_facts(stage)
    asked = stage.sentences * len(stage.types)
    own = len(stage.examples) - stage.examples.replayed
    ctx.log(
        f"{stage.name}: {stage.sentences} sentences x {len(stage.types)} types = "
        + (f"{own} examples" if own == asked else f"{own} of {asked} questions asked")
        + (f" + {stage.examples.replayed} replayed" if stage.examples.replayed else "")
        + f"; loss {facts['loss']}"
        + ("; packed one sequence per sentence" if getattr(stage.spec, "packing", False) else "")
    )
    if getattr(stage.spec, "packing", False):
        return packed_items(stage.examples.examples, ctx.tokenizer.pad_token_id, facts)
    return TrainingItems(stage.examples.examples, {}, facts)


def packed_items(examples: list[Any], pad_id: int, facts: dict[str, Any]) -> TrainingItems:
    """The examples of each sentence packed into one sequence (:mod:`fewner.train.packing`),
    with the collate function and objective that train on them."""
    from itertools import groupby

    from fewner.train.packing import pack, packed_trainer_options

    def prefix(e: Any) -> tuple[int, ...]:  # the ids up to the sentence's end: the shared part
        return e.input_ids[: (e.sentence_positions[-1] + 1) if e.sentence_positions else 0]

    packed = [pack(list(group)) for _, group in groupby(examples, key=prefix)]
    return TrainingItems(packed, packed_trainer_options(pad_id), {**facts, "packed_sequences": len(packed)})


@dataclass(frozen=True)
class StageKind:
    """One ``kind:`` of training stage (see the module docstring for each field)."""

    name: str
    default_lr: float
    prepare: Prepare
    setup: Setup = sft_setup
    settings: type | None = None
    settings_key: str | None = None
    fixed_loss: str | None = None
    abstains: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if (self.settings is None) != (self.settings_key is None):
            raise ValueError(f"stage kind {self.name!r}: give settings and settings_key together")


#: Stage kinds by name; ``grait`` registers itself when :mod:`fewner.grait.stage` is imported.
STAGE_KINDS: Registry[StageKind] = Registry(
    "stage kind",
    lazy={"dpo": "fewner.train.preference_stage", "grait": "fewner.grait.stage"},
    group="fewner.stage_kinds",
)

STAGE_KINDS.register(
    "sft",
    StageKind(
        "sft",
        default_lr=2e-4,
        prepare=_sft_prepare,
        description="supervised fine-tuning on the gold answers with the stage's loss terms",
    ),
)


def kind_taking(key: str) -> str | None:
    """The kind whose settings live under stage key ``key`` (None: no kind's)."""
    for name, kind in STAGE_KINDS.load_all().items():
        if kind.settings_key == key:
            return name
    return None


def settings_keys() -> list[str]:
    """Every kind's settings key (a resolved stage lists them all, null but its own)."""
    keys = [k.settings_key for k in STAGE_KINDS.load_all().values() if k.settings_key]
    return sorted(set(keys), key=keys.index)
