"""Training checkpoints: everything needed to continue a run as if it had never stopped.

A checkpoint is a folder ``checkpoints/step-NNNNNN/`` holding

* the adapter (``adapter_config.json`` + ``adapter_model.safetensors``, loadable on its own by
  ``fewner predict --adapter``),
* ``trainer_state.pt``: optimizer and scheduler state, the RNG states (torch CPU and CUDA,
  Python's ``random``), the loop position (optimizer step, epoch, next accumulation group of the
  epoch: the data-order state, since each epoch's order is a function of seed and epoch) and the
  fingerprint of what determines the trajectory (settings, data);
* ``state.json``: the same position in readable form.

``checkpoints/latest.json`` names the newest complete checkpoint. A checkpoint is written into a
temporary folder and renamed into place before ``latest.json`` is (atomically) rewritten, so a
crash at any moment leaves the previous checkpoint as the one to resume from. Older checkpoints
beyond ``keep`` are deleted after the pointer moves.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from fewner.errors import ConfigError
from fewner.runs import os_error_in, output_error, write_json_atomic
from fewner.train.lora import load_adapter_weights, replace_dir

__all__ = ["CheckpointStore", "LoopState", "rng_state", "set_rng_state"]

STATE_FILE = "trainer_state.pt"
LATEST = "latest.json"


@dataclass
class LoopState:
    """Where the loop is: ``step`` optimizer steps done; the next one is group ``group`` of ``epoch``."""

    step: int = 0
    epoch: int = 0
    group: int = 0


def rng_state() -> dict[str, Any]:
    """The random states a training step can consume (dropout, noise, sampling)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class CheckpointStore:
    """The checkpoints of one training stage, under ``folder``."""

    def __init__(self, folder: str | Path, keep: int = 2) -> None:
        self.folder = Path(folder)
        self.keep = max(1, keep)

    def latest(self) -> Path | None:
        pointer = self.folder / LATEST
        if not pointer.is_file():
            return None
        name = json.loads(pointer.read_text(encoding="utf-8"))["checkpoint"]
        path = self.folder / name
        return path if (path / STATE_FILE).is_file() else None

    def save(
        self,
        model: Any,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        state: LoopState,
        fingerprint: dict[str, Any],
        rng_states: list[dict[str, Any]] | None = None,
    ) -> Path:
        """Write a checkpoint for ``state`` and point ``latest.json`` at it.

        ``rng_states``: the RNG state of every process of a multi-process run, in rank order
        (gathered by the caller; this process's own state when None).
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"step-{state.step:06d}"
        tmp = Path(tempfile.mkdtemp(dir=self.folder, prefix=f".{name}.", suffix=".tmp"))
        try:
            model.save_pretrained(str(tmp))
            with (tmp / STATE_FILE).open("wb") as handle:  # a Python file: a full disk is OSError
                torch.save(
                    {
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "rng": rng_state() if rng_states is None else rng_states[0],
                        "rng_ranks": rng_states or [],
                        "state": asdict(state),
                        "fingerprint": fingerprint,
                    },
                    handle,
                )
            (tmp / "state.json").write_text(json.dumps(asdict(state)) + "\n", encoding="utf-8")
            replace_dir(tmp, self.folder / name)
        except BaseException as err:
            shutil.rmtree(tmp, ignore_errors=True)
            cause = os_error_in(err)  # a full disk: one clear line, not torch's "unexpected pos"
            if cause is not None:
                raise output_error(self.folder / name, cause) from err
            raise
        write_json_atomic(self.folder / LATEST, {"checkpoint": name, **asdict(state)})
        self._prune(keep_name=name)
        return self.folder / name

    def load(
        self,
        path: Path,
        model: Any,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        fingerprint: dict[str, Any],
        rank: int = 0,
    ) -> LoopState:
        """Restore everything from checkpoint ``path``; the fingerprint must match.

        Process ``rank`` of a multi-process run takes its own saved RNG state; a checkpoint
        written by fewer processes gives rank ``r`` the state of rank ``r mod saved`` (only
        dropout and noise draws depend on it; the data order does not).
        """
        saved = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
        diff = sorted(
            k
            for k in set(saved["fingerprint"]) | set(fingerprint)
            if saved["fingerprint"].get(k) != fingerprint.get(k)
        )
        if diff:
            raise ConfigError(
                f"cannot resume from {path}: it was made with different {', '.join(diff)} "
                "(resuming would not reproduce the run); use another output folder or the same settings"
            )
        load_adapter_weights(model, path)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        ranks = saved.get("rng_ranks") or [saved["rng"]]
        set_rng_state(ranks[rank % len(ranks)])
        return LoopState(**saved["state"])

    def _prune(self, keep_name: str) -> None:
        done = sorted(p for p in self.folder.glob("step-*") if p.is_dir() and p.name != keep_name)
        for old in done[: max(0, len(done) - (self.keep - 1))]:
            shutil.rmtree(old, ignore_errors=True)
        for stale in self.folder.glob(".step-*.tmp"):  # left by a crash while writing
            shutil.rmtree(stale, ignore_errors=True)
