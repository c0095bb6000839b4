"""Data-parallel training under ``accelerate launch`` (or ``torchrun``): the few places it shows.

One process per device; each optimizer step's examples are split across the processes, and
torch's ``DistributedDataParallel`` (set up by ``accelerate``) averages the LoRA gradients.
fewner has no distributed code of its own beyond deciding *which* examples a process takes and
*who* writes files. :class:`SingleProcess` is the same interface for the usual one-process run:
nothing of ``accelerate`` is imported and every call is a no-op.

Choices, and why:

* **The step is global.** ``batch_size`` and ``grad_accum`` keep their one-process meaning:
  a step consumes ``batch_size x grad_accum`` examples whatever the number of processes; each
  of ``W`` processes takes every ``W``-th example of each micro-batch. A process scales its
  micro-batch loss by ``W * n_local / N`` (``N`` the step's examples) and DDP divides the
  summed gradients by ``W``, so the step's gradient is the one-process gradient (up to float
  summation order) for per-example losses (``nll``, DPO). Consequences: the trajectory, the
  number of steps, the learning-rate schedule and resume positions do not depend on ``W``; a
  2-process run reproduces a 1-process run (tested on CPU with gloo, LoRA dropout 0). Raise
  ``batch_size`` to use more devices for throughput.
* **Every process does the same number of backward passes** (``grad_accum`` per step): a
  process whose share of a micro-batch is empty (a batch smaller than ``W``) runs the batch's
  first example with its loss multiplied by 0, because DDP's all-reduce needs every process.
  Only the last micro-batch of a step synchronizes gradients (``no_sync`` before it).
* **Randomness.** Each process seeds torch with ``seed + rank`` so dropout masks differ across
  processes; with dropout > 0 (or a noise term) a W-process run is therefore a different (equally
  valid) draw than a 1-process run. Checkpoints store every process's RNG state.
* **Files.** Only the main process (rank 0) writes logs, checkpoints, adapters, metrics and
  runs dev/test evaluation; the others wait at a barrier. Work done once before a stage (DPO's
  error-feedback answers and reference log-probs) is done by rank 0 and read back by the
  others from the stage folder, so all processes hold identical pairs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

__all__ = [
    "Distributed",
    "SingleProcess",
    "current",
    "launched_world_size",
    "main_first",
    "shard",
]


def launched_world_size() -> int:
    """The number of processes the launcher started (1 when run directly)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def shard(indices: Sequence[int], rank: int, world: int) -> list[int]:
    """The part of one micro-batch that process ``rank`` of ``world`` trains on."""
    return list(indices[rank::world])


class SingleProcess:
    """The one-process run: no process group, no wrapper, nothing to wait for."""

    world = 1
    rank = 0
    is_main = True

    def device(self, requested: str) -> torch.device:
        if requested == "auto":
            requested = "cuda" if torch.cuda.is_available() else "cpu"
        return torch.device(requested)

    def wrap(self, model: nn.Module) -> nn.Module:
        return model

    def no_sync(self, wrapped: nn.Module) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def sum(self, values: dict[str, float]) -> dict[str, float]:
        return values

    def gather(self, obj: Any) -> list[Any]:
        return [obj]

    def barrier(self) -> None:
        return None


class Distributed(SingleProcess):
    """Several processes started by ``accelerate launch`` / ``torchrun`` (``WORLD_SIZE`` > 1)."""

    def __init__(self) -> None:
        from accelerate import Accelerator

        # No mixed precision, no gradient accumulation and no dataloader preparation here: the
        # loop does its own autocast, accumulation and (deterministic) sharding. Without CUDA,
        # accelerate makes a process group only when told the processes are CPU ones (gloo).
        self.accelerator = Accelerator(cpu=not torch.cuda.is_available())
        self.world = self.accelerator.num_processes
        self.rank = self.accelerator.process_index
        self.is_main = self.accelerator.is_main_process
        self._wrapped: dict[int, nn.Module] = {}

    def device(self, requested: str) -> torch.device:
        # Each process owns one device, chosen by the launcher (``auto`` or not): two
        # processes on cuda:0 would both train on one GPU.
        return self.accelerator.device

    def wrap(self, model: nn.Module) -> nn.Module:
        # Once per model: the stages of a run train the same LoRA parameters, and a second
        # DDP wrapper would register a second set of gradient hooks on them.
        if id(model) not in self._wrapped:
            self._wrapped[id(model)] = self.accelerator.prepare_model(
                model, device_placement=False
            )
        return self._wrapped[id(model)]

    def no_sync(self, wrapped: nn.Module) -> contextlib.AbstractContextManager[Any]:
        return self.accelerator.no_sync(wrapped)

    def sum(self, values: dict[str, float]) -> dict[str, float]:
        if not values:
            return values
        keys = sorted(values)
        local = torch.tensor(
            [float(values[k]) for k in keys], dtype=torch.float64, device=self.accelerator.device
        )
        total = self.accelerator.reduce(local, reduction="sum")
        return dict(zip(keys, total.tolist(), strict=True))

    def gather(self, obj: Any) -> list[Any]:
        from accelerate.utils import gather_object

        return list(gather_object([obj]))

    def barrier(self) -> None:
        self.accelerator.wait_for_everyone()


_CURRENT: SingleProcess | None = None


def current() -> SingleProcess:
    """The process context of this run (created once per process: a process group is global)."""
    global _CURRENT
    if _CURRENT is None:
        _CURRENT = Distributed() if launched_world_size() > 1 else SingleProcess()
    return _CURRENT


@contextlib.contextmanager
def main_first(dist: SingleProcess) -> Iterator[bool]:
    """Run the block on rank 0 first, then on the others (``yield``s whether this is rank 0).

    For work done once and read back: rank 0 computes and writes, the others then find the
    files and reuse them.
    """
    if not dist.is_main:
        dist.barrier()
    yield dist.is_main
    if dist.is_main:
        dist.barrier()
