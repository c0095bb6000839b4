"""The ``dpo`` stage kind: its settings (``preference:``) and the work that needs the model as
the stage starts.

Order (all before the first DPO step, so the reference is the adapter the stage starts from —
the target-SFT adapter in ``configs/obp-llm.yaml``):

1. error feedback (``preference.error_feedback``): the model answers every (sentence, type)
   prompt of the stage's data, greedy, with the inference settings (constrained by default);
   wrong answers become pairs (:func:`fewner.train.pairs.feedback_pairs`);
2. boundary-shifted pairs were built when the run was prepared (they need no model);
3. every pair is tokenized; pairs longer than the stage's ``max_length`` are skipped and counted;
4. reference log-probs of both answers of each pair (:func:`fewner.train.dpo.reference_logps`);
5. ``pairs.jsonl`` in the stage folder records each pair and its reference values; a resumed
   stage (``--resume``) reads it back instead of repeating 1-4.

Registered as the stage kind ``dpo`` (:mod:`fewner.train.kinds`).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from fewner.config_schema import require_positive
from fewner.errors import ConfigError
from fewner.train.dpo import (
    DPOObjective,
    EncodedPair,
    collate_pairs,
    encode_pair,
    read_pairs_file,
    reference_logps,
    write_pairs_file,
)
from fewner.train.kinds import STAGE_KINDS, PreparedStage, RunContext, StageKind, TrainingItems
from fewner.train.pairs import PairSet, PreferencePair, boundary_pairs, feedback_pairs

__all__ = ["DPO", "PreferenceSpec", "PreparedPairs", "prepare"]

PAIRS_FILE = "pairs.jsonl"


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
        require_positive(self.feedback_batch_size, f"{where}.feedback_batch_size")
        require_positive(self.feedback_max_new_tokens, f"{where}.feedback_max_new_tokens")


@dataclass
class PreparedPairs:
    """What the Trainer needs for a DPO stage, and what the stage summary reports."""

    items: list[EncodedPair]
    trainer_options: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)


def model_answers(
    model: Any,
    tokenizer: Any,
    model_id: str,
    stage: Any,
    *,
    batch_size: int,
    max_new_tokens: int,
    constrained: bool,
) -> dict[tuple[str, str], list[Any]]:
    """``(sentence id, type) -> spans`` the model's greedy answer to each prompt names."""
    from fewner.predict.extractor import extractor_for_model

    extractor = extractor_for_model(
        model,
        tokenizer,
        f"{model_id}+lora:training",
        stage.fmt,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        constrained=constrained,
    )
    result = extractor.extract(stage.data, stage.types)
    by_id = {s.id: s for s in stage.data}
    answers: dict[tuple[str, str], list[Any]] = {}
    for record in result.answers:
        sentence = by_id[record["sentence_id"]]
        parsed = stage.fmt.parse(record["answer"], sentence, record["type"])
        answers[(sentence.id, record["type"])] = list(parsed.spans)
    return answers


def _autocast(precision: str, device: Any) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    import torch

    from fewner.train.loop import resolve_precision

    dtype = resolve_precision(precision, device)
    if dtype is None:
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


def _from_file(path: Path, stage: Any, tokenizer: Any) -> tuple[PairSet, list[EncodedPair]]:
    by_id = {s.id: s for s in stage.data}
    pairs = PairSet()
    encoded: list[EncodedPair] = []
    for i, record in enumerate(read_pairs_file(path)):
        sentence = by_id.get(record["sentence_id"])
        if sentence is None or record.get("ref_chosen") is None:
            raise ConfigError(
                f"{path}: line {i + 1} does not belong to this stage's data; remove the file "
                "to rebuild the pairs"
            )
        pair = PreferencePair(
            sentence,
            record["type"],
            record["chosen"],
            record["rejected"],
            record["source"],
            record.get("detail", ""),
        )
        pairs.pairs.append(pair)
        encoded.append(
            replace(
                encode_pair(stage.fmt, tokenizer, pair),
                ref_chosen=float(record["ref_chosen"]),
                ref_rejected=float(record["ref_rejected"]),
            )
        )
    return pairs, encoded


def prepare(
    stage: Any,
    model: Any,
    tokenizer: Any,
    model_id: str,
    folder: Path,
    *,
    precision: str,
    reuse: bool,
    log: Callable[[str], None],
) -> PreparedPairs:
    """Pairs (boundary + feedback), tokenized, with reference log-probs; see the module doc."""
    spec, pref = stage.spec, stage.spec.settings
    path = folder / PAIRS_FILE
    skipped: Counter[str] = Counter(stage.examples.skipped)
    if reuse and path.is_file():
        pairs, encoded = _from_file(path, stage, tokenizer)
        log(f"{stage.name}: {len(pairs)} pairs and their reference log-probs read from {path}")
    else:
        pairs = PairSet(list(stage.examples.pairs))
        if pref.error_feedback:
            log(
                f"{stage.name}: error feedback: the model answers its {len(stage.data)} x "
                f"{len(stage.types)} training prompts"
            )
            answers = model_answers(
                model,
                tokenizer,
                model_id,
                stage,
                batch_size=pref.feedback_batch_size,
                max_new_tokens=pref.feedback_max_new_tokens,
                constrained=pref.feedback_constrained,
            )
            model.train()
            feedback = feedback_pairs(stage.data, stage.types, stage.fmt, answers)
            pairs.pairs.extend(feedback.pairs)
            skipped.update(feedback.skipped)
        kept_pairs, encoded = [], []
        for pair in pairs.pairs:
            enc = encode_pair(stage.fmt, tokenizer, pair)
            if len(enc) > spec.max_length:
                skipped["longer than max_length"] += 1
                continue
            kept_pairs.append(pair)
            encoded.append(enc)
        pairs = PairSet(kept_pairs)
        if not encoded:
            raise ConfigError(
                f"stages.{stage.name}: no preference pairs (the model answered every training "
                "prompt like the gold answer and no boundary pairs were asked for, or all were "
                "too long)"
            )
        device = next(model.parameters()).device
        log(f"{stage.name}: reference log-probs of {len(encoded)} pairs")
        encoded = reference_logps(
            model,
            encoded,
            tokenizer.pad_token_id,
            batch_size=spec.loop.batch_size,
            autocast=_autocast(precision, device),
        )
        folder.mkdir(parents=True, exist_ok=True)
        write_pairs_file(path, pairs.pairs, encoded)
    counts = pairs.counts()
    log(
        f"{stage.name}: {len(encoded)} preference pairs "
        f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}); "
        f"beta {pref.beta}, alpha {pref.alpha}"
    )
    return PreparedPairs(
        items=encoded,
        trainer_options={
            "collate_fn": partial(collate_pairs, pad_id=tokenizer.pad_token_id),
            "objective": DPOObjective(pref.beta, pref.alpha),
        },
        summary={
            "pairs": counts,
            "pairs_skipped": dict(skipped),
            "preference": {"beta": pref.beta, "alpha": pref.alpha},
        },
    )


# ----- the stage kind ------------------------------------------------------------------------


def _setup(
    ctx: RunContext, name: str, spec: Any, sentences: list[Any], types: list[str], fmt: Any
) -> PreparedStage:
    """Boundary-shifted pairs need no model: built before the run starts."""
    fmt.definitions.require(types)
    pairs = boundary_pairs(
        sentences,
        types,
        fmt,
        per_example=spec.settings.boundary_pairs,
        seed=ctx.config.stage_seed(name),
    )
    return PreparedStage(name, spec, types, len(sentences), pairs, [], fmt, sentences)


def _prepare(ctx: RunContext, stage: PreparedStage, folder: Path) -> TrainingItems:
    """Under several processes rank 0 makes the pairs (pairs.jsonl) and the others read them."""
    from fewner.train.distributed import main_first

    with main_first(ctx.dist) as first:
        pairs = prepare(
            stage,
            ctx.model,
            ctx.tokenizer,
            ctx.model_id,
            folder,
            reuse=ctx.resume or not first,
            precision=ctx.config.precision,
            log=ctx.log,
        )
    return TrainingItems(pairs.items, pairs.trainer_options, pairs.summary)


DPO = STAGE_KINDS.register(
    "dpo",
    StageKind(
        "dpo",
        default_lr=5e-6,  # the OBP-LLM paper's DPO learning rate
        setup=_setup,
        prepare=_prepare,
        settings=PreferenceSpec,
        settings_key="preference",
        fixed_loss=(
            "a dpo stage's loss is DPO + alpha x NLL on the chosen answers; set "
            "preference.beta / preference.alpha instead"
        ),
        description="DPO on boundary-shifted and error-feedback preference pairs",
    ),
)
