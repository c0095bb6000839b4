"""DPO on extraction preference pairs: encoding, batches, reference log-probs, the objective.

The loss (OBP-LLM's third stage; Rafailov et al.'s sigmoid DPO plus an SFT anchor)::

    m    = beta * ((log pi(c|x) - log ref(c|x)) - (log pi(r|x) - log ref(r|x)))
    loss = mean_pairs(-log sigmoid(m)) + alpha * mean_pairs(NLL of the chosen answer)

``log pi(y|x)`` is the sum of the token log-probabilities of the answer and its EOS (the tokens
SFT supervised); the NLL term is the per-token mean over the same tokens, as the ``nll`` loss
term computes it, so ``alpha`` means what it means in SFT. Defaults: beta 0.1, alpha 0.2.

**The reference is the SFT model, frozen**, not the base model. Because it is frozen, its log-probabilities of every pair are constants: they are computed
once, before the first DPO step, from the adapter the stage starts from (eval mode, no dropout,
the training precision) and stored with the pairs. This is exactly a frozen copy's output and
costs one forward pass per pair instead of one per pair per epoch, with no second model in memory.
A resumed stage reuses the stored values (``pairs.jsonl`` in the stage folder), which also keeps
the reference right although the model then holds later weights.

Batches: ``B`` pairs become ``2B`` rows (the chosen answers first, then the rejected ones, same
prompt order), right-padded, so one forward pass scores both sides.

:class:`DPOObjective` is the registered objective ``dpo``
(:data:`fewner.train.losses.OBJECTIVES`), so the gradient contract test covers it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fewner.prompts import ExtractionFormat
from fewner.train.collate import encode_answer, encode_prompt
from fewner.train.losses import register_objective
from fewner.train.pairs import PreferencePair

__all__ = [
    "DPOObjective",
    "EncodedPair",
    "collate_pairs",
    "dpo_loss",
    "encode_pair",
    "read_pairs_file",
    "reference_logps",
    "sequence_logps",
    "write_pairs_file",
]


@dataclass(frozen=True)
class EncodedPair:
    """Token ids of one pair; ``ref_*``: the reference model's log-probs (None until computed)."""

    prompt_ids: tuple[int, ...]
    chosen_ids: tuple[int, ...]
    rejected_ids: tuple[int, ...]
    ref_chosen: float | None = None
    ref_rejected: float | None = None
    weight: float = 1.0

    def __len__(self) -> int:
        return len(self.prompt_ids) + max(len(self.chosen_ids), len(self.rejected_ids))


def encode_pair(fmt: ExtractionFormat, tokenizer: Any, pair: PreferencePair) -> EncodedPair:
    """Prompt ids exactly as at inference; each answer followed by EOS (both supervised)."""
    prompt = fmt.prompt(pair.sentence, pair.entity_type)
    return EncodedPair(
        prompt_ids=tuple(encode_prompt(tokenizer, prompt)["input_ids"]),
        chosen_ids=tuple(encode_answer(tokenizer, pair.chosen)),
        rejected_ids=tuple(encode_answer(tokenizer, pair.rejected)),
    )


def collate_pairs(pairs: Sequence[EncodedPair], pad_id: int) -> dict[str, Tensor]:
    """``input_ids``, ``attention_mask``, ``labels`` ``[2B, T]`` (chosen rows, then rejected),
    ``ref_logps`` ``[2B]`` (NaN where not computed yet) and ``weight`` ``[B]``."""
    if not pairs:
        raise ValueError("cannot collate an empty batch")
    rows = [(p.prompt_ids, p.chosen_ids) for p in pairs] + [
        (p.prompt_ids, p.rejected_ids) for p in pairs
    ]
    width = max(len(a) + len(b) for a, b in rows)
    input_ids = torch.full((len(rows), width), int(pad_id), dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    labels = torch.full_like(input_ids, -100)
    for i, (prompt, answer) in enumerate(rows):
        ids = torch.tensor(prompt + answer, dtype=torch.long)
        input_ids[i, : len(ids)] = ids
        attention[i, : len(ids)] = 1
        labels[i, len(prompt) : len(ids)] = ids[len(prompt) :]
    nan = float("nan")
    refs = [nan if p.ref_chosen is None else p.ref_chosen for p in pairs] + [
        nan if p.ref_rejected is None else p.ref_rejected for p in pairs
    ]
    return {
        "input_ids": input_ids,
        "attention_mask": attention,
        "labels": labels,
        "ref_logps": torch.tensor(refs, dtype=torch.float32),
        "weight": torch.tensor([p.weight for p in pairs], dtype=torch.float32),
    }


def sequence_logps(logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Per row: the summed log-probability of the supervised tokens, and their mean NLL.

    Position ``t`` predicts ``labels[t + 1]``; only supervised positions go through the
    softmax (float32), as in the ``nll`` loss term.
    """
    target = labels[:, 1:]
    supervised = target != -100
    rows, cols = supervised.nonzero(as_tuple=True)
    token_nll = F.cross_entropy(logits[rows, cols].float(), target[rows, cols], reduction="none")
    summed = token_nll.new_zeros(labels.shape[0]).index_add(0, rows, token_nll)
    count = supervised.sum(1).clamp(min=1)
    return -summed, summed / count


def dpo_loss(
    policy_chosen: Tensor,
    policy_rejected: Tensor,
    ref_chosen: Tensor,
    ref_rejected: Tensor,
    beta: float,
) -> tuple[Tensor, Tensor]:
    """Per-pair sigmoid DPO loss ``-log sigmoid(beta * margin)`` and the margins (log-ratios)."""
    margin = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    return -F.logsigmoid(beta * margin), margin


@register_objective
class DPOObjective:
    """``objective(model, batch) -> (loss, logs)`` for :class:`fewner.train.loop.Trainer`.

    Logs: ``dpo``, ``sft_chosen`` (the NLL term before ``alpha``), ``loss``, ``reward_margin``
    (mean ``beta * margin``), ``reward_accuracy`` (share of pairs with a positive margin),
    ``chosen_reward`` and ``rejected_reward`` (mean ``beta * (log pi - log ref)``).
    Pair weights scale each pair's DPO and NLL terms (mean over pairs, not renormalised).
    """

    name = "dpo"
    #: batches of :class:`EncodedPair` items
    collate = staticmethod(collate_pairs)

    def __init__(self, beta: float = 0.1, alpha: float = 0.2) -> None:
        self.beta = float(beta)
        self.alpha = float(alpha)

    def __call__(
        self, model: nn.Module, batch: dict[str, Tensor]
    ) -> tuple[Tensor, dict[str, float]]:
        refs = batch["ref_logps"]
        if torch.isnan(refs).any():
            raise ValueError("reference log-probs missing: call reference_logps() first")
        outputs = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            use_cache=False,
        )
        logps, mean_nll = sequence_logps(outputs.logits, batch["labels"])
        n = logps.shape[0] // 2
        refs = refs.to(logps)
        per_pair, margin = dpo_loss(logps[:n], logps[n:], refs[:n], refs[n:], self.beta)
        weight = batch["weight"].to(logps)
        dpo = (per_pair * weight).mean()
        sft = (mean_nll[:n] * weight).mean()
        loss = dpo + self.alpha * sft
        with torch.no_grad():
            logs = torch.stack(
                [
                    dpo,
                    sft,
                    loss,
                    (self.beta * margin).mean(),
                    (margin > 0).float().mean(),
                    (self.beta * (logps[:n] - refs[:n])).mean(),
                    (self.beta * (logps[n:] - refs[n:])).mean(),
                ]
            ).tolist()
        keys = (
            "dpo",
            "sft_chosen",
            "loss",
            "reward_margin",
            "reward_accuracy",
            "chosen_reward",
            "rejected_reward",
        )
        return loss, dict(zip(keys, logs, strict=True))

    def __repr__(self) -> str:
        return f"DPOObjective(beta={self.beta}, alpha={self.alpha})"


@torch.no_grad()
def reference_logps(
    model: nn.Module,
    pairs: Sequence[EncodedPair],
    pad_id: int,
    *,
    batch_size: int = 8,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> list[EncodedPair]:
    """``pairs`` with ``ref_chosen`` / ``ref_rejected`` from ``model`` as it is now (eval mode,
    so no dropout); the model is put back in its previous mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out: list[EncodedPair] = []
    try:
        for start in range(0, len(pairs), batch_size):
            chunk = list(pairs[start : start + batch_size])
            batch = collate_pairs(chunk, pad_id)
            with autocast():
                logits = model(
                    input_ids=batch["input_ids"].to(device),
                    attention_mask=batch["attention_mask"].to(device),
                    use_cache=False,
                ).logits
            logps, _ = sequence_logps(logits, batch["labels"].to(device))
            values = logps.float().tolist()
            n = len(chunk)
            out.extend(
                replace(p, ref_chosen=values[i], ref_rejected=values[n + i])
                for i, p in enumerate(chunk)
            )
    finally:
        model.train(was_training)
    return out


def write_pairs_file(
    path: Path, pairs: Sequence[PreferencePair], encoded: Sequence[EncodedPair]
) -> None:
    """One JSON line per pair: its text (for people) and reference log-probs (for a resume)."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for pair, enc in zip(pairs, encoded, strict=True):
            record = {
                **pair.to_json(),
                "ref_chosen": enc.ref_chosen,
                "ref_rejected": enc.ref_rejected,
            }
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp.replace(path)


def read_pairs_file(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
