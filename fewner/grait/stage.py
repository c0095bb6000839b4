"""The ``grait`` stage kind: refusal-aware SFT, and the work that needs the model as the stage
starts. Importing this module registers the kind (:data:`fewner.train.kinds.STAGE_KINDS` names
it lazily), so ``fewner.train`` needs no import of ``fewner.grait``; its settings (``refusal:``)
are :class:`fewner.grait.settings.RefusalSpec`.

Order (all before the first training step of the stage, like a ``kind: dpo`` stage's pairs):

1. knowledge query (:mod:`fewner.grait.knowledge`) -> ``knowledge.jsonl``;
2. split into known / unknown prompts (:mod:`fewner.grait.split`);
3. when GRAIT's selection or adaptive weights are asked for (``refusal.select`` not null or
   ``refusal.weights: adaptive``): a warm-up of ``warmup_steps`` optimizer steps on the split
   data (known prompts with gold, unknown with the refusal answer; its log in ``warmup/``), then
   the projected gradient of every known prompt (gold answer) and unknown prompt (refusal
   answer) -> ``features.pt``; then the adapter is put back exactly as the stage started
   (GRAIT's rehearsal model only measures; the stage trains from the stage-start weights);
4. selection of the unknown prompts (:mod:`fewner.grait.selection`; all of them when
   ``select`` is null) and their weights (:mod:`fewner.grait.weights`);
5. the training examples: every known prompt with its gold answer (weight 1) and every chosen
   unknown prompt with the refusal answer (its weight); unknown prompts not chosen are left out
   (neither a gold answer the model cannot give nor a refusal), or keep their gold answer with
   ``refusal.unselected: gold`` (weight 1). The ordinary training loop then
   trains on them with the per-example weights on the response loss (``losses.NLL``).

``grait.json`` in the stage folder sums it up (counts, correctness, weights) and
``selection.jsonl`` lists each chosen prompt with its influence, conflict, score and weight.
``knowledge.jsonl`` and ``features.pt`` are read back when they match the stage's prompts and
settings (a resumed stage, or a variant that shares the same stage-start adapter), so the
expensive parts are not repeated; delete them to recompute.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fewner.errors import ConfigError
from fewner.grait.features import FEATURES_FILE, stage_features
from fewner.grait.knowledge import (
    KNOWLEDGE_FILE,
    query_knowledge,
    read_knowledge,
    write_knowledge,
)
from fewner.grait.selection import influences, resolve_count, select_unknown
from fewner.grait.settings import RefusalSpec
from fewner.grait.split import split_prompts
from fewner.grait.weights import adaptive_weights, uniform_weights
from fewner.train.kinds import (
    STAGE_KINDS,
    PreparedStage,
    RunContext,
    StageKind,
    TrainingItems,
    sft_facts,
)

__all__ = ["FEATURES_FILE", "GRAIT", "PreparedRefusal", "prepare", "refusal_example"]

SUMMARY_FILE = "grait.json"
SELECTION_FILE = "selection.jsonl"


@dataclass
class PreparedRefusal:
    """The weighted training examples of a grait stage and what its summary reports."""

    items: list[Any]
    summary: dict[str, Any] = field(default_factory=dict)


def refusal_example(example: Any, refusal_ids: list[int], weight: float = 1.0) -> Any:
    """``example`` (an EncodedExample) with its answer replaced by the refusal answer's ids
    (EOS included): the prompt and its masks are unchanged."""
    return replace(
        example,
        input_ids=tuple(example.input_ids[: example.prompt_length]) + tuple(refusal_ids),
        weight=float(weight),
    )


def prepare(
    stage: Any,
    model: Any,
    tokenizer: Any,
    model_id: str,
    folder: Path,
    *,
    precision: str,
    seed: int,
    log: Callable[[str], None],
) -> PreparedRefusal:
    """The weighted examples of a grait stage; see the module docstring."""
    from fewner.train.collate import encode_answer

    spec = stage.spec.settings
    fmt, sentences, types = stage.fmt, stage.data, stage.types
    prompts = [(s.id, t) for s in sentences for t in types]

    # 1. knowledge query
    path = folder / KNOWLEDGE_FILE
    knowledge = read_knowledge(path, prompts, samples=spec.samples, temperature=spec.temperature)
    if knowledge is not None:
        log(f"{stage.name}: knowledge of {len(prompts)} prompts read from {path}")
    else:
        log(
            f"{stage.name}: knowledge query: {len(sentences)} x {len(types)} prompts, greedy + "
            f"{spec.samples} samples at temperature {spec.temperature}"
        )
        tick = time.perf_counter()
        knowledge = query_knowledge(
            model,
            tokenizer,
            model_id,
            fmt,
            sentences,
            types,
            samples=spec.samples,
            temperature=spec.temperature,
            seed=seed,
            batch_size=spec.query_batch_size,
            max_new_tokens=spec.query_max_new_tokens,
            constrained=spec.query_constrained,
        )
        model.train()
        write_knowledge(path, knowledge)
        log(f"{stage.name}: knowledge query in {time.perf_counter() - tick:.1f}s")

    # 2. split; prompts too long for max_length have no example and drop out here
    encoded = {(e.sentence_id, e.entity_type): e for e in stage.examples.examples}
    split = split_prompts([k.correctness for k in knowledge], spec.threshold)
    known_keys = [prompts[i] for i in split.known if prompts[i] in encoded]
    unknown_keys = [prompts[i] for i in split.unknown if prompts[i] in encoded]
    refusal_ids = encode_answer(tokenizer, fmt.refusal_target())
    known = [encoded[k] for k in known_keys]
    unknown = [refusal_example(encoded[k], refusal_ids) for k in unknown_keys]
    too_long = [i for i, e in enumerate(unknown) if len(e) > stage.spec.max_length]
    if too_long:  # a refusal longer than the gold answer can pass max_length
        unknown_keys = [k for i, k in enumerate(unknown_keys) if i not in set(too_long)]
        unknown = [e for i, e in enumerate(unknown) if i not in set(too_long)]
    log(
        f"{stage.name}: {len(known)} known and {len(unknown)} unknown prompts "
        f"(threshold {spec.threshold})"
    )

    # 3-4. selection and weights
    count = resolve_count(spec.select, len(unknown))
    infl_u = conflict_k = None
    scores: list[float | None]
    if spec.needs_gradients and unknown:
        keys = {"known": [list(k) for k in known_keys], "unknown": [list(k) for k in unknown_keys]}
        known_f, unknown_f = stage_features(
            model,
            known,
            unknown,
            keys,
            stage,
            folder,
            pad_id=tokenizer.pad_token_id,
            precision=precision,
            seed=seed,
            log=log,
        )
        infl_u, conflict_k = influences(unknown_f, known_f)
        if spec.select is None:
            chosen, scores = list(range(len(unknown))), [None] * len(unknown)
        else:
            chosen, got = select_unknown(unknown_f, known_f, count)
            scores = list(got)
    else:
        chosen, scores = list(range(count)), [None] * count
    if spec.weights == "adaptive" and chosen:
        assert infl_u is not None and conflict_k is not None
        weights = adaptive_weights(
            infl_u[chosen], conflict_k[chosen], spec.weight_temperature
        ).tolist()
    else:
        weights = uniform_weights(len(chosen)).tolist()

    # 5. the examples, in prompt order
    weight_of = dict(zip(chosen, weights, strict=True))
    chosen_set = set(chosen)
    items = list(known) + [
        replace(unknown[j], weight=weight_of[j]) for j in range(len(unknown)) if j in chosen_set
    ]
    unselected_gold = []
    if spec.unselected == "gold":
        unselected_gold = [
            encoded[unknown_keys[j]] for j in range(len(unknown)) if j not in chosen_set
        ]
        items += unselected_gold
    order = {p: i for i, p in enumerate(prompts)}
    items.sort(key=lambda e: order[(e.sentence_id, e.entity_type)])
    if not items:
        raise ConfigError(
            f"stages.{stage.name}: no training examples (no known prompt and no unknown prompt "
            "chosen); lower refusal.threshold or raise refusal.select"
        )
    rows = []
    for rank, j in enumerate(chosen):
        rows.append(
            {
                "sentence_id": unknown_keys[j][0],
                "type": unknown_keys[j][1],
                "rank": rank,
                "score": scores[rank],
                "influence_unknown": None if infl_u is None else float(infl_u[j]),
                "conflict_known": None if conflict_k is None else float(conflict_k[j]),
                "weight": weight_of[j],
            }
        )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SELECTION_FILE).write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    correctness = [k.correctness for k in knowledge]
    summary = {
        "prompts": len(prompts),
        "known": len(known),
        "unknown": len(unknown),
        "selected": len(chosen),
        "refusal_too_long": len(too_long),
        "greedy_correct": sum(1 for k in knowledge if k.greedy_correct),
        "mean_correctness": sum(correctness) / len(correctness) if correctness else 0.0,
        "mean_entropy": (sum(k.entropy for k in knowledge) / len(knowledge) if knowledge else 0.0),
        "weights": {
            "mode": spec.weights,
            "min": min(weights) if weights else None,
            "max": max(weights) if weights else None,
            "mean": sum(weights) / len(weights) if weights else None,
            "effective_n": (
                sum(weights) ** 2 / sum(w * w for w in weights)
                if weights and any(weights)
                else None
            ),
        },
        "gradients": bool(spec.needs_gradients and unknown),
        "unselected": spec.unselected,
        "unselected_gold": len(unselected_gold),
        "examples": len(items),
    }
    (folder / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    log(
        f"{stage.name}: training on {len(known)} known (gold) + {len(chosen)} refusal examples "
        + (f"+ {len(unselected_gold)} unchosen unknown (gold) " if unselected_gold else "")
        + f"(select {spec.select}, weights {spec.weights}"
        + (
            f", {min(weights):.3f}..{max(weights):.3f}"
            if weights and spec.weights == "adaptive"
            else ""
        )
        + ")"
    )
    if any(math.isnan(w) for w in weights):  # pragma: no cover - guards the softmax
        raise RuntimeError("GRAIT weights are NaN")
    return PreparedRefusal(items, {"grait": summary})


# ----- the stage kind ------------------------------------------------------------------------


def _prepare(ctx: RunContext, stage: PreparedStage, folder: Path) -> TrainingItems:
    """Under several processes rank 0 queries and computes (knowledge.jsonl, features.pt) and
    the others read the files back once it is done."""
    from fewner.train.distributed import main_first

    with main_first(ctx.dist):
        refusal = prepare(
            stage,
            ctx.model,
            ctx.tokenizer,
            ctx.model_id,
            folder,
            seed=ctx.config.stage_seed(stage.name),
            precision=ctx.config.precision,
            log=ctx.log,
        )
    return TrainingItems(refusal.items, {}, {**refusal.summary, **sft_facts(stage)})


GRAIT = STAGE_KINDS.register(
    "grait",
    StageKind(
        "grait",
        default_lr=2e-4,
        prepare=_prepare,
        settings=RefusalSpec,
        settings_key="refusal",
        abstains=True,
        description="refusal-aware SFT: prompts the model cannot answer get the refusal answer",
    ),
)
