"""GRAIT's gradient features for one stage: a short warm-up, then the projected gradients.

The warm-up trains ``refusal.warmup_steps`` optimizer steps on the split data (known prompts
with gold, unknown with the refusal answer; its log in ``warmup/``); the projected gradient of
every known and unknown prompt (:mod:`fewner.grait.gradients`) is then taken, and the adapter is
put back exactly as the stage started (GRAIT's rehearsal model only measures). The features are
written to ``features.pt`` with the prompts and settings they belong to, and read back when
those match (a resumed stage, or a variant sharing the same stage-start adapter).
"""

from __future__ import annotations

import contextlib
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["FEATURES_FILE", "stage_features"]

FEATURES_FILE = "features.pt"


def _autocast(precision: str, device: Any) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    import torch

    from fewner.train.loop import resolve_precision

    dtype = resolve_precision(precision, device)
    if dtype is None:
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


def _warmup(
    model: Any,
    examples: list[Any],
    spec: Any,
    folder: Path,
    *,
    pad_id: int,
    precision: str,
    seed: int,
    log: Callable[[str], None],
) -> None:
    """``spec.warmup_steps`` optimizer steps on ``examples`` (cycled in a seeded order)."""
    from fewner.train.loop import LoopSettings, Trainer
    from fewner.train.losses import build_loss_terms

    need = spec.warmup_steps * spec.warmup_batch_size
    rng = random.Random(seed)
    order: list[Any] = []
    while len(order) < need:
        shuffled = list(examples)
        rng.shuffle(shuffled)
        order.extend(shuffled)
    settings = LoopSettings(
        epochs=1,
        batch_size=spec.warmup_batch_size,
        lr=spec.warmup_lr,
        schedule="constant",
        warmup_ratio=0.0,
        eval_at_end=False,
        keep_checkpoints=1,
        seed=seed,
        precision=precision,
    )
    trainer = Trainer(
        model,
        order[:need],
        build_loss_terms([{"name": "nll"}], model),
        settings,
        folder,
        pad_id=pad_id,
        description="grait warm-up",
    )
    result = trainer.train()
    shutil.rmtree(folder / "checkpoints", ignore_errors=True)  # the warm-up is never resumed
    log(f"grait warm-up: {result.steps} steps in {result.seconds:.1f}s")


def stage_features(
    model: Any,
    known: list[Any],
    unknown: list[Any],
    keys: dict[str, list[list[str]]],
    stage: Any,
    folder: Path,
    *,
    pad_id: int,
    precision: str,
    seed: int,
    log: Callable[[str], None],
) -> tuple[Any, Any]:
    """Projected gradients ``(known [k, d], unknown [u, d])``, read from ``features.pt`` when it
    matches, else computed after a warm-up that is undone afterwards."""
    import torch

    from fewner.grait.gradients import gradient_features
    from fewner.train.lora import trainable_parameters

    spec = stage.spec.settings
    path = folder / FEATURES_FILE
    settings = {
        "projection_dim": spec.projection_dim,
        "projection_seed": spec.projection_seed,
        "warmup_steps": spec.warmup_steps,
        "warmup_lr": spec.warmup_lr,
        "warmup_batch_size": spec.warmup_batch_size,
    }
    if path.is_file():
        stored = torch.load(path, map_location="cpu", weights_only=True)
        if stored.get("keys") == keys and stored.get("settings") == settings:
            log(f"{stage.name}: gradient features read from {path}")
            return stored["known"], stored["unknown"]
    params = trainable_parameters(model)
    start = [p.detach().clone() for p in params]
    device = params[0].device
    try:
        if spec.warmup_steps > 0:
            _warmup(
                model,
                known + unknown,
                spec,
                folder / "warmup",
                pad_id=pad_id,
                precision=precision,
                seed=seed,
                log=log,
            )
        log(
            f"{stage.name}: gradients of {len(known)} known + {len(unknown)} unknown prompts, "
            f"projected to {spec.projection_dim}"
        )
        autocast = _autocast(precision, device)
        tick = time.perf_counter()
        feats = gradient_features(
            model,
            known + unknown,
            pad_id,
            dim=spec.projection_dim,
            seed=spec.projection_seed,
            autocast=autocast,
        )
        log(f"{stage.name}: gradient features in {time.perf_counter() - tick:.1f}s")
    finally:
        with torch.no_grad():  # back to the stage-start adapter, whatever happened
            for p, saved in zip(params, start, strict=True):
                p.copy_(saved)
    known_f, unknown_f = feats[: len(known)], feats[len(known) :]
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"keys": keys, "settings": settings, "known": known_f, "unknown": unknown_f}, tmp)
    tmp.replace(path)
    return known_f, unknown_f
