"""Packed training sequences: one sentence, several type questions, one forward pass.

Under the ``sentence_first`` layout every prompt of a sentence starts with the same tokens (the
preamble and the sentence). Packing writes that shared prefix once and then each question with
its answer as a *turn*; a block attention mask lets every turn see the prefix and itself only,
and each turn's positions restart where the prefix ends. So a packed sequence computes exactly
what the separate per-type examples compute (same logits up to float rounding, tested), while
the prefix is encoded once instead of once per type.

Why not UniNER's plain multi-turn sequence (each turn also sees the earlier turns' answers):
then an answer depends on which types were asked before it, so serving would have to ask types
one after another; with independent turns, serving is the existing per-type prompts with the
sentence prefix shared (the HF backend's ``prefix_sharing``), in parallel and batched.

:class:`PackedNLL` averages each turn's token NLL, then the turns (weighted), which is the
per-example mean of :class:`fewner.train.losses.NLL` over the unpacked examples. It computes
the vocabulary projection at the supervised positions only (:func:`supervised_logits`): the
answers are a small share of a packed sequence, and on a 135M model with a 49k vocabulary that
projection is about a third of a forward pass's matrix products.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from fewner.train.collate import EncodedExample

__all__ = [
    "PackedExample",
    "PackedNLL",
    "collate_packed",
    "pack",
    "packed_trainer_options",
    "supervised_logits",
]

#: model types whose causal-LM logits are exactly ``lm_head(model(...).last_hidden_state)``
#: (no soft-capping or logit scale), so the head may run on chosen positions only
_PLAIN_HEAD_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3"})


@dataclass(frozen=True)
class PackedExample:
    """A shared prefix and several turns; ``turns[k]`` = (ids, labels, weight).

    ``labels`` are -100 where a token is not supervised (the question), else the token's id.
    """

    prefix: tuple[int, ...]
    turns: tuple[tuple[tuple[int, ...], tuple[int, ...], float], ...]

    def __len__(self) -> int:
        return len(self.prefix) + sum(len(ids) for ids, _, _ in self.turns)


def _common_prefix(rows: Sequence[Sequence[int]], limit: int) -> int:
    n = min(limit, *(len(r) for r in rows))
    first = rows[0]
    for i in range(n):
        if any(r[i] != first[i] for r in rows[1:]):
            return i
    return n


def pack(examples: Sequence[EncodedExample]) -> PackedExample:
    """The examples of one sentence as one packed sequence.

    The prefix is their longest common token prefix within the prompts (never an answer token),
    so a tokenizer that merges across the sentence/question boundary costs a token, not
    correctness.
    """
    if not examples:
        raise ValueError("nothing to pack")
    ids = [e.input_ids for e in examples]
    length = _common_prefix(ids, min(e.prompt_length for e in examples)) if len(ids) > 1 else (
        examples[0].prompt_length
    )
    turns = []
    for e in examples:
        tail = e.input_ids[length:]
        answer_from = e.prompt_length - length
        labels = tuple(-100 if i < answer_from else t for i, t in enumerate(tail))
        turns.append((tuple(tail), labels, float(e.weight)))
    return PackedExample(tuple(ids[0][:length]), tuple(turns))


def collate_packed(items: Sequence[PackedExample], pad_id: int) -> dict[str, torch.Tensor]:
    """Batch of packed sequences, right-padded.

    Keys: ``input_ids``, ``position_ids``, ``labels`` ``[B, T]``; ``turn`` ``[B, T]`` (0 on the
    prefix, k on turn k, -1 on padding); ``turn_weight`` ``[B, K+1]``; ``attention_mask``
    ``[B, 1, T, T]`` bool (True = may attend): causal, and a turn sees the prefix and itself.
    """
    if not items:
        raise ValueError("cannot collate an empty batch")
    width = max(len(p) for p in items)
    turns = max(len(p.turns) for p in items)
    shape = (len(items), width)
    input_ids = torch.full(shape, int(pad_id), dtype=torch.long)
    positions = torch.zeros(shape, dtype=torch.long)
    labels = torch.full(shape, -100, dtype=torch.long)
    turn = torch.full(shape, -1, dtype=torch.long)
    weight = torch.zeros(len(items), turns + 1)
    for b, item in enumerate(items):
        p = len(item.prefix)
        input_ids[b, :p] = torch.tensor(item.prefix, dtype=torch.long)
        positions[b, :p] = torch.arange(p)
        turn[b, :p] = 0
        at = p
        for k, (ids, labs, w) in enumerate(item.turns, start=1):
            n = len(ids)
            input_ids[b, at : at + n] = torch.tensor(ids, dtype=torch.long)
            labels[b, at : at + n] = torch.tensor(labs, dtype=torch.long)
            positions[b, at : at + n] = torch.arange(p, p + n)
            turn[b, at : at + n] = k
            weight[b, k] = w
            at += n
    causal = torch.ones(width, width, dtype=torch.bool).tril()
    query, key = turn[:, :, None], turn[:, None, :]
    visible = (key >= 0) & (query >= 0) & ((key == 0) | (key == query))
    mask = (causal[None] & visible)[:, None]
    # a padding row must see something (itself), or softmax over nothing gives NaN
    mask |= torch.eye(width, dtype=torch.bool)[None, None] & (turn < 0)[:, None, :, None]
    return {
        "input_ids": input_ids,
        "position_ids": positions,
        "labels": labels,
        "turn": turn,
        "turn_weight": weight,
        "attention_mask": mask,
    }


class PackedNLL:
    """``objective(model, batch) -> (loss, logs)`` for packed batches (module docstring)."""

    def __repr__(self) -> str:
        return "PackedNLL()"

    def __call__(self, model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        target = batch["labels"][:, 1:]
        # the token after position t belongs to the same turn when it is supervised
        rows, cols = (target != -100).nonzero(as_tuple=True)
        logits = supervised_logits(model, batch, rows, cols)
        token_nll = F.cross_entropy(logits.float(), target[rows, cols], reduction="none")
        turns = batch["turn_weight"].shape[1]
        slot = rows * turns + batch["turn"][:, 1:][rows, cols]
        total = token_nll.new_zeros(batch["turn_weight"].numel()).index_add(0, slot, token_nll)
        count = token_nll.new_zeros(total.shape).index_add(0, slot, torch.ones_like(token_nll))
        weight = batch["turn_weight"].reshape(-1).to(total) * (count > 0)
        per_turn = total / count.clamp(min=1)
        loss = (per_turn * weight).sum() / weight.sum().clamp(min=1e-9)
        if rows.numel() == 0:
            loss = loss + logits.sum() * 0.0  # keeps the graph (and DDP's gradient hooks) whole
        return loss, {"nll": float(loss.detach()), "nll/tokens": float(rows.numel()),
                      "loss": float(loss.detach())}


def _causal_lm(model: Any) -> Any:
    """The transformers causal LM inside ``model`` (a peft model or the LM itself)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def supervised_logits(
    model: Any, batch: dict[str, torch.Tensor], rows: torch.Tensor, cols: torch.Tensor
) -> torch.Tensor:
    """The logits at positions ``(rows, cols)`` of ``batch``: ``[len(rows), vocab]``.

    For a model type in :data:`_PLAIN_HEAD_TYPES` the decoder runs alone and the head only on
    those positions; any other model computes every position's logits and picks (exact either
    way; tested against the full logits).
    """
    inputs = {
        "input_ids": batch["input_ids"],
        "attention_mask": batch["attention_mask"],
        "position_ids": batch["position_ids"],
        "use_cache": False,
    }
    lm = _causal_lm(model)
    decoder, head = getattr(lm, "model", None), getattr(lm, "lm_head", None)
    model_type = getattr(getattr(lm, "config", None), "model_type", None)
    if model_type in _PLAIN_HEAD_TYPES and decoder is not None and type(head) is torch.nn.Linear:
        hidden = decoder(**inputs).last_hidden_state
        return head(hidden[rows, cols])
    return model(**inputs).logits[rows, cols]


def packed_trainer_options(pad_id: int) -> dict[str, Any]:
    """The :class:`~fewner.train.loop.Trainer` options that train on packed sequences."""
    from functools import partial

    return {"collate_fn": partial(collate_packed, pad_id=pad_id), "objective": PackedNLL()}
