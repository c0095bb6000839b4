"""The student's training loop, driven epoch by epoch by a blending schedule.

At epoch ``t`` of ``T`` the schedule gives ``(w_distilled, w_original)``
(:mod:`fewner.distill.schedules`). How the weights act (``mix``):

* ``sample`` (default): the epoch trains on ``round(w * N)`` examples drawn without replacement
  from each set of ``N`` (all of it at ``w >= 1``), each with loss weight 1. Compute per epoch
  stays about constant while the shares follow the schedule, and ``simple_mix`` means literally
  "distilled data first, then original data".
* ``loss``: every example of a set with ``w > 0`` is trained on and its loss is multiplied by
  ``w`` (:meth:`Student.loss` divides by the number of labelled subwords, not by the weights,
  so the weight scales the gradient). Sets at weight 0 are skipped, not computed at weight 0.

Draws and the shuffle are seeded by ``(seed, t)``, so an epoch's batches do not depend on how
the run got there: resuming after epoch ``t`` (``RUN/checkpoint.pt``: model, optimizer and the
epoch, written atomically after every epoch) continues exactly as an uninterrupted run would
(the step lines of an epoch that was interrupted appear twice in the log).
The learning rate is ``lr * lr_decay ** t`` in epoch ``t`` (``lr_decay: 0.95`` is the study's
optional decay; null keeps it constant). AdamW, gradient norm clipped at 1.

Any student kind trains here: it gives ``model`` (a torch module), ``encode(sentences)``,
``collate(items, weights)`` and ``loss(batch) -> (loss, count)``; a student with
``parameter_groups(lr)`` gets one optimizer group per entry (the span student's encoder and
heads learn at different rates), each decayed from its own starting rate.

Logs: ``RUN/log.jsonl`` gets one line per step (epoch, step, loss, lr, subwords, seconds) and
one per epoch (weights, examples drawn from each set, mean loss, seconds).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fewner.distill.schedules import Schedule
from fewner.distill.student import Student
from fewner.types import Sentence

__all__ = ["EpochPlan", "TrainSettings", "epoch_plan", "train_student"]

DISTILLED, ORIGINAL = 0, 1


@dataclass(frozen=True)
class TrainSettings:
    """The loop's knobs (see the module docstring); the config's keys of the same names."""

    epochs: int
    batch_size: int = 32
    lr: float = 5e-5
    lr_decay: float | None = None
    weight_decay: float = 0.01
    mix: str = "sample"
    seed: int = 0
    checkpoint: bool = True


@dataclass(frozen=True)
class EpochPlan:
    """What one epoch trains on: ``(set, index, weight)`` in training order, and the weights."""

    epoch: int
    weights: tuple[float, float]
    items: tuple[tuple[int, int, float], ...]

    def count(self, which: int) -> int:
        return sum(1 for s, _, _ in self.items if s == which)


def _draw(rng: random.Random, n: int, weight: float) -> list[int]:
    if weight >= 1:
        return list(range(n))
    return sorted(rng.sample(range(n), round(max(weight, 0.0) * n)))


def epoch_plan(
    schedule: Schedule,
    epoch: int,
    epochs: int,
    n_distilled: int,
    n_original: int,
    mix: str,
    seed: int,
) -> EpochPlan:
    """The examples of epoch ``epoch`` (deterministic in ``seed`` and ``epoch``)."""
    wd, wo = schedule(epoch, epochs)
    rng = random.Random(f"{seed}:{epoch}")
    items: list[tuple[int, int, float]] = []
    for which, n, w in ((DISTILLED, n_distilled, wd), (ORIGINAL, n_original, wo)):
        if n == 0 or w <= 0:
            continue
        if mix == "sample":
            items += [(which, i, 1.0) for i in _draw(rng, n, w)]
        elif mix == "loss":
            items += [(which, i, w) for i in range(n)]
        else:
            raise ValueError(f"unknown mix {mix!r}")
    rng.shuffle(items)
    return EpochPlan(epoch, (wd, wo), tuple(items))


def _save_checkpoint(path: Path, student: Any, optimizer: Any, epoch: int, step: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(
        {
            "model": student.model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": epoch,
            "step": step,
        },
        tmp,
    )
    os.replace(tmp, path)


def _earlier_epochs(log_path: Path, before: int) -> list[dict[str, Any]]:
    """The epoch records a resumed run already wrote (the last one per epoch)."""
    found: dict[int, dict[str, Any]] = {}
    if log_path.is_file():
        for line in log_path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line) if line.strip() else {}
            if record.get("event") == "epoch" and record["epoch"] < before:
                found[record["epoch"]] = record
    return [found[e] for e in sorted(found)]


def train_student(
    student: Student | Any,
    distilled: Sequence[Sentence],
    original: Sequence[Sentence],
    schedule: Schedule,
    settings: TrainSettings,
    run_path: Path,
    *,
    resume: bool = False,
    on_step: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train ``student`` in place; returns a summary (epochs, steps, per-epoch records).

    ``on_step(done, total)`` reports progress within an epoch; ``on_epoch(record)`` gets each
    epoch's record (the CLI prints it and may run a dev evaluation).
    """
    run_path.mkdir(parents=True, exist_ok=True)
    sets = (student.encode(distilled), student.encode(original))
    model = student.model
    groups = getattr(student, "parameter_groups", None)
    optimizer = torch.optim.AdamW(
        groups(settings.lr) if groups is not None else model.parameters(),
        lr=settings.lr,
        weight_decay=settings.weight_decay,
    )
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    checkpoint = run_path / "checkpoint.pt"
    first_epoch, step = 0, 0
    if resume and checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        first_epoch, step = int(state["epoch"]) + 1, int(state["step"])
    log_path = run_path / "log.jsonl"
    records = _earlier_epochs(log_path, first_epoch) if first_epoch else []
    with log_path.open("a", encoding="utf-8") as log:
        for epoch in range(first_epoch, settings.epochs):
            plan = epoch_plan(
                schedule,
                epoch,
                settings.epochs,
                len(sets[0]),
                len(sets[1]),
                settings.mix,
                settings.seed,
            )
            decay = (settings.lr_decay or 1.0) ** epoch
            lr = settings.lr * decay
            for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
                group["lr"] = base * decay
            model.train()
            torch.manual_seed(settings.seed * 100_003 + epoch)  # dropout masks, per epoch
            started, losses = time.perf_counter(), []
            batches = [
                plan.items[i : i + settings.batch_size]
                for i in range(0, len(plan.items), settings.batch_size)
            ]
            for b, chunk in enumerate(batches):
                batch = student.collate([sets[s][i] for s, i, _ in chunk], [w for _, _, w in chunk])
                loss, count = student.loss(batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                step += 1
                value = loss.detach().item()
                losses.append(value)
                log.write(
                    json.dumps(
                        {
                            "epoch": epoch,
                            "step": step,
                            "loss": round(value, 5),
                            "lr": lr,
                            "subwords": count,
                            "seconds": round(time.perf_counter() - started, 3),
                        }
                    )
                    + "\n"
                )
                if on_step is not None:
                    on_step(b + 1, len(batches))
            record = {
                "event": "epoch",
                "epoch": epoch,
                "w_distilled": round(plan.weights[0], 6),
                "w_original": round(plan.weights[1], 6),
                "distilled_examples": plan.count(DISTILLED),
                "original_examples": plan.count(ORIGINAL),
                "steps": len(batches),
                "lr": lr,
                "mean_loss": round(sum(losses) / len(losses), 5) if losses else None,
                "seconds": round(time.perf_counter() - started, 3),
            }
            log.write(json.dumps(record) + "\n")
            log.flush()
            if settings.checkpoint:
                _save_checkpoint(checkpoint, student, optimizer, epoch, step)
            records.append(record)
            if on_epoch is not None:
                on_epoch(record)
    return {
        "epochs": settings.epochs,
        "resumed_at_epoch": first_epoch,
        "steps": step,
        "epoch_records": records,
    }
