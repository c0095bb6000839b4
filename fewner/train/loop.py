"""The one training loop fewner owns (its settings: :mod:`fewner.train.settings`).

Per optimizer step: ``grad_accum`` micro-batches, each ONE forward pass through
:func:`fewner.train.losses.forward_with_terms` (hidden states only when a term needs them,
module outputs captured by hooks for that pass only), the weighted sum of the loss terms,
``backward``; then gradient clipping, AdamW on the trainable (LoRA) parameters only, and the
learning-rate schedule (:mod:`fewner.train.schedule`).

Choices, and why:

* **Micro-batch weighting.** Each micro-batch's loss is scaled by its share of the step's
  examples (``n_b / N``), so an accumulated step equals one step on the whole group for a
  per-example mean loss, also for a short last group of an epoch.
* **Mixed precision.** ``precision="auto"``: bf16 autocast on CUDA devices that support it,
  none elsewhere (CPU autocast changes results and is slower than float32 on CPUs without
  native bf16; on a CPU with native bf16, ``precision="bf16"`` is much faster; measurements:
  docs/design-notes.md, fewner/train/loop.py). LoRA weights, optimizer state and loss terms stay
  float32. fp16 is not offered (it needs loss scaling).
* **Data order.** Epoch ``e`` visits the examples in ``randperm(n)`` drawn from a generator
  seeded with ``(seed, e)``, independent of every other random draw: the order after a resume
  is the order of an uninterrupted run.
* **Length-grouped batches** (``group_by_length``): the epoch's order is cut into windows of
  :data:`LENGTH_WINDOW` batches, each window sorted by length and cut into batches, and the
  batches shuffled again; a batch then pads to a near-equal length (padding is computed, not
  free, on a CPU), and which examples meet in a batch still changes every epoch.
* **Exact resume.** Checkpoints (:mod:`fewner.train.checkpoint`) hold adapter, optimizer,
  scheduler, RNG states and position; dev evaluation runs under ``torch.random.fork_rng`` so it
  consumes no training randomness. On CPU a resumed run ends with bit-identical adapter weights
  (tested); on CUDA, non-deterministic kernels can make any two runs differ in the last bits.
* **Several processes** (``accelerate launch``): see :mod:`fewner.train.distributed`; a step
  is the same global step whatever the number of processes, rank 0 alone writes files and
  evaluates.
* **Logs.** One JSON line per logged step in ``log.jsonl`` (``event: step``: step, epoch as a
  fraction, each term's value, ``loss``, ``lr``, ``grad_norm``, ``seconds`` of the step,
  ``elapsed``) and one per evaluation (``event: eval``). A resumed run drops the lines written
  after its checkpoint, so the log reads as one run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fewner.train.checkpoint import CheckpointStore, LoopState, rng_state
from fewner.train.collate import EncodedExample, collate
from fewner.train.distributed import SingleProcess, shard
from fewner.train.lora import trainable_parameters
from fewner.train.schedule import make_scheduler, warmup_steps
from fewner.train.settings import LoopSettings

__all__ = [
    "LENGTH_WINDOW",
    "LoopSettings",
    "TrainResult",
    "Trainer",
    "epoch_batches",
    "epoch_order",
    "resolve_precision",
]

#: batches per window that ``group_by_length`` sorts by length (module docstring)
LENGTH_WINDOW = 50

Evaluate = Callable[[nn.Module], dict[str, Any]]
#: ``objective(model, batch) -> (loss, logs)``: a whole step's loss when it is not a sum of
#: loss terms over one forward pass (DPO: :class:`fewner.train.dpo.DPOObjective`).
Objective = Callable[[nn.Module, dict[str, torch.Tensor]], tuple[torch.Tensor, dict[str, float]]]


@dataclass
class TrainResult:
    """What a finished :meth:`Trainer.train` reports."""

    steps: int
    epochs: int
    examples: int
    seconds: float
    resumed_from: str | None = None
    last_logs: dict[str, float] = field(default_factory=dict)
    evals: list[dict[str, Any]] = field(default_factory=list)


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The order in which epoch ``epoch`` visits ``n`` examples (depends on nothing else)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).tolist()


def epoch_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, *, by_length: bool = False
) -> list[list[int]]:
    """The batches (example indices) of epoch ``epoch``: :func:`epoch_order` cut in order, or
    with ``by_length`` grouped by length within windows of :data:`LENGTH_WINDOW` batches and the
    batches shuffled (module docstring). Every example is in exactly one batch either way."""
    order = epoch_order(len(lengths), seed, epoch)
    if not by_length:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    window = batch_size * LENGTH_WINDOW
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: -lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    shuffle = epoch_order(len(batches), seed + 1, epoch)
    return [batches[i] for i in shuffle]


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device`` (None: no autocast)."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


class Trainer:
    """Trains ``model`` (a peft model) on ``examples`` with ``terms``; outputs go to ``folder``.

    ``evaluate(model) -> metrics`` (optional) runs every ``eval_every`` steps and at the end;
    ``on_step(step)`` is called after each optimizer step (tests use it to simulate a crash).
    ``dist``: the process context of a multi-process run (:mod:`fewner.train.distributed`).
    """

    def __init__(
        self,
        model: nn.Module,
        examples: Sequence[EncodedExample],
        terms: Sequence[Any],
        settings: LoopSettings,
        folder: str | Path,
        *,
        pad_id: int,
        evaluate: Evaluate | None = None,
        on_step: Callable[[int], None] | None = None,
        progress: bool = False,
        description: str = "train",
        collate_fn: Callable[[list[Any]], dict[str, torch.Tensor]] | None = None,
        objective: Objective | None = None,
        dist: SingleProcess | None = None,
    ) -> None:
        if not examples:
            raise ValueError("no training examples")
        if objective is None and not terms:
            raise ValueError("no loss terms and no objective")
        self.model = model
        self.examples = list(examples)
        self.terms = list(terms)
        self.settings = settings
        self.folder = Path(folder)
        self.pad_id = int(pad_id)
        self.evaluate = evaluate
        self.on_step = on_step
        self.progress = progress
        self.description = description
        self.collate_fn = collate_fn or (lambda items: collate(items, self.pad_id))
        self.objective = objective
        self.dist = dist or SingleProcess()
        self.device = next(model.parameters()).device
        self.autocast_dtype = resolve_precision(settings.precision, self.device)
        batches = math.ceil(len(self.examples) / settings.batch_size)
        self.groups_per_epoch = math.ceil(batches / settings.grad_accum)
        self.total_steps = settings.epochs * self.groups_per_epoch

    # ----- public ------------------------------------------------------------------------
    def fingerprint(self) -> dict[str, Any]:
        """What determines the trajectory; a checkpoint resumes only under the same values."""
        digest = hashlib.sha256()
        for e in self.examples:
            digest.update(repr(dataclasses.astuple(e)).encode())
        s = asdict(self.settings)
        for key in (
            "eval_every",
            "eval_at_end",
            "checkpoint_every",
            "keep_checkpoints",
            "log_every",
        ):
            s.pop(key)
        if not s["group_by_length"]:
            s.pop("group_by_length")  # runs from before the option resume as before
        loss = repr(self.objective) if self.objective is not None else repr(self.terms)
        return {**s, "examples": digest.hexdigest()[:16], "terms": loss}

    def train(self, resume: bool = False) -> TrainResult:
        """Run (or, with ``resume``, continue from the latest checkpoint) to the last epoch."""
        s = self.settings
        params = trainable_parameters(self.model)
        if not params:
            raise ValueError("the model has no trainable parameters (wrap it with LoRA first)")
        optimizer = torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay)
        warmup = warmup_steps(self.total_steps, s.warmup_ratio, s.warmup_steps)
        scheduler = make_scheduler(optimizer, s.schedule, self.total_steps, warmup, s.min_lr_ratio)
        store = CheckpointStore(self.folder / "checkpoints", s.keep_checkpoints)
        fingerprint = self.fingerprint()
        state, resumed = LoopState(), None
        latest = store.latest() if resume else None
        if latest is not None:
            state = store.load(
                latest, self.model, optimizer, scheduler, fingerprint, rank=self.dist.rank
            )
            resumed = latest.name
        else:
            # dropout and term noise; also seeds all CUDA devices; one stream per process
            torch.manual_seed(s.seed + self.dist.rank)
        self.forward_model = self.dist.wrap(self.model)
        main = self.dist.is_main
        log_path = self.folder / "log.jsonl"
        if main:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._trim_log(log_path, state.step)
        result = TrainResult(0, s.epochs, len(self.examples), 0.0, resumed)
        started = time.perf_counter()
        last_eval_step = -1
        self.model.train()
        opened = log_path.open("a", encoding="utf-8") if main else contextlib.nullcontext()
        with opened as log, self._bar(main) as bar:
            advance = bar(state.step)
            for epoch in range(state.epoch, s.epochs):
                groups = self._groups(epoch)
                for group in range(state.group, len(groups)):
                    tick = time.perf_counter()
                    logs = self._step(groups[group], params, optimizer)
                    logs["lr"] = optimizer.param_groups[0]["lr"]
                    scheduler.step()
                    logs["seconds"] = time.perf_counter() - tick
                    epoch_end = group + 1 == len(groups)
                    # the position of the NEXT step: what a checkpoint taken now resumes from
                    state = LoopState(
                        state.step + 1, epoch + epoch_end, 0 if epoch_end else group + 1
                    )
                    result.last_logs = logs
                    if main and (state.step % s.log_every == 0 or state.step == self.total_steps):
                        done = epoch + (group + 1) / len(groups)
                        self._write(
                            log,
                            {
                                "event": "step",
                                "step": state.step,
                                "epoch": round(done, 4),
                                **logs,
                                "elapsed": time.perf_counter() - started,
                            },
                        )
                    advance(logs.get("loss", float("nan")))
                    if s.eval_every and state.step % s.eval_every == 0 and self.evaluate:
                        result.evals.append(self._eval(log, state.step))
                        last_eval_step = state.step
                    if epoch_end or (s.checkpoint_every and state.step % s.checkpoint_every == 0):
                        self._save(store, optimizer, scheduler, state, fingerprint)
                    if self.on_step is not None:
                        self.on_step(state.step)
            if s.eval_at_end and self.evaluate and last_eval_step != state.step:
                result.evals.append(self._eval(log, state.step))
        result.steps = state.step
        result.seconds = time.perf_counter() - started
        return result

    # ----- internals ---------------------------------------------------------------------
    def _groups(self, epoch: int) -> list[list[list[int]]]:
        s = self.settings
        lengths = [len(e) for e in self.examples] if s.group_by_length else [0] * len(self.examples)
        batches = epoch_batches(lengths, s.batch_size, s.seed, epoch, by_length=s.group_by_length)
        return [batches[i : i + s.grad_accum] for i in range(0, len(batches), s.grad_accum)]

    def _save(self, store: CheckpointStore, *args: Any) -> None:
        """A checkpoint by rank 0, holding every process's RNG state (all processes call this)."""
        states = self.dist.gather(rng_state()) if self.dist.world > 1 else None
        if self.dist.is_main:
            store.save(self.model, *args, rng_states=states)
        self.dist.barrier()

    def _step(
        self, group: list[list[int]], params: list[nn.Parameter], optimizer: torch.optim.Optimizer
    ) -> dict[str, float]:
        from fewner.train.losses import forward_with_terms

        optimizer.zero_grad(set_to_none=True)
        total = sum(len(b) for b in group)
        world, rank = self.dist.world, self.dist.rank
        logs: dict[str, float] = {}
        for position, indices in enumerate(group):
            mine = shard(indices, rank, world)
            # an empty share still runs one example (loss x 0): DDP needs every process
            batch = self.collate_fn([self.examples[i] for i in (mine or indices[:1])])
            batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
            share = len(mine) / total
            last = position + 1 == len(group)
            sync = contextlib.nullcontext() if last else self.dist.no_sync(self.forward_model)
            with sync:
                with self._autocast():
                    if self.objective is not None:
                        loss, term_logs = self.objective(self.forward_model, batch)
                    else:
                        loss, term_logs = forward_with_terms(
                            self.model, batch, self.terms, forward=self.forward_model
                        )
                # DDP averages the gradients over the `world` processes: scale back up
                (loss * (share * world)).backward()
            for key, value in term_logs.items():
                logs[key] = logs.get(key, 0.0) + value * share
        logs = self.dist.sum(logs)
        if self.settings.max_grad_norm > 0:
            norm = torch.nn.utils.clip_grad_norm_(params, self.settings.max_grad_norm)
        else:
            norm = torch.linalg.vector_norm(
                torch.stack([p.grad.norm() for p in params if p.grad is not None])
            )
        logs["grad_norm"] = float(norm)
        optimizer.step()
        return logs

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def _eval(self, log: Any, step: int) -> dict[str, Any]:
        """Evaluate without touching the training RNG streams, then go back to train mode."""
        assert self.evaluate is not None
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        tick = time.perf_counter()
        record: dict[str, Any] = {"event": "eval", "step": step}
        if self.dist.is_main:  # the others wait (a 1-process evaluation, written once)
            with torch.random.fork_rng(devices=devices):
                metrics = self.evaluate(self.model)
            self.model.train()
            record.update(metrics, seconds=time.perf_counter() - tick)
            self._write(log, record)
        self.dist.barrier()
        return record

    @staticmethod
    def _write(log: Any, record: dict[str, Any]) -> None:
        log.write(json.dumps(record, ensure_ascii=False) + "\n")
        log.flush()

    @staticmethod
    def _trim_log(path: Path, step: int) -> None:
        """Keep only the log lines up to optimizer step ``step`` (all of them lost on a fresh start)."""
        if not path.is_file():
            return
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a crash
                continue
            if record.get("step", 0) <= step:
                kept.append(record)
        path.unlink()
        if step > 0 and kept:
            path.write_text(
                "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept), encoding="utf-8"
            )

    @contextlib.contextmanager
    def _bar(self, show: bool = True) -> Iterator[Callable[[int], Callable[[float], None]]]:
        """A rich progress bar on stderr (or nothing): ``bar(start)`` gives ``advance(loss)``."""
        if not (self.progress and show):
            yield lambda _start: lambda _loss: None
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as progress:
            task = progress.add_task(self.description, total=self.total_steps, loss=float("nan"))

            def start(done: int) -> Callable[[float], None]:
                progress.update(task, completed=done)
                return lambda loss: progress.update(task, advance=1, loss=loss)

            yield start
