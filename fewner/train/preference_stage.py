"""Running a ``kind: dpo`` stage: the work that needs the model as the stage starts.

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
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

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
from fewner.train.pairs import PairSet, PreferencePair, feedback_pairs

__all__ = ["PreparedPairs", "prepare"]

PAIRS_FILE = "pairs.jsonl"


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
    spec, pref = stage.spec, stage.spec.preference
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
            batch_size=spec.batch_size,
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
