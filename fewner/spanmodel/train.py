"""One training loop for the span model: pre-training, few-shot adaptation, learning from
annotations.

The loop draws batch ``t`` from ``batches(t)`` (a pure function of the step, so a resumed run is
exact), runs the network under bf16 autocast (much faster than float32 on CPU; the model's
device, ``device: auto`` putting it on a GPU when torch sees one), and
minimises binary cross-entropy over every (span, asked label) pair of each sentence, summed and
divided by the number of sentences. Labels asked of one sentence but not of another are masked
for the other: an unasked label is not a negative. Lower encoder layers can be frozen (what keeps
a small encoder from forgetting on tens of examples). Every ``checkpoint_every`` steps the model,
optimiser, random state and step are written atomically to ``RUN/checkpoint.pt``; a run started
again on the same folder resumes there, but only when it is the same run: the checkpoint records
the run's settings, model config, the caller's description of its data and a digest of the
starting head weights, and a folder holding another run's checkpoint is an error (reusing an output
folder must never return the old model). ``RUN/metrics.jsonl`` gets one line per ``log_every``
steps (lines past the checkpoint are dropped on resume, so none appears twice).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from fewner.errors import ConfigError
from fewner.spanmodel.batching import encode_labels, encode_words, span_targets
from fewner.spanmodel.source import Example
from fewner.spanmodel.span_model import SpanModel

__all__ = ["TrainSettings", "autocast", "batch_loss", "train"]

CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class TrainSettings:
    """``steps`` of ``batch_size`` sentences; AdamW with ``lr_encoder`` for the encoder and
    ``lr_head`` for the span and label heads (and LoRA adapters, when the encoder has them), linear warm-up over ``warmup`` of the steps then
    linear decay to zero; ``freeze_layers`` lowest encoder layers (and the embeddings, when > 0)
    not trained; ``freeze_embeddings``: the embeddings alone not trained (a saved model then
    differs from its encoder only in the layers); ``bf16``: bf16 autocast; ``device``: where
    training runs (``auto``: CUDA when visible, else the CPU; not part of a run's identity, so a
    run checkpointed on one device resumes on another)."""

    steps: int = 1000
    batch_size: int = 32
    lr_encoder: float = 3e-5
    lr_head: float = 5e-4
    warmup: float = 0.05
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    freeze_layers: int = 0
    freeze_embeddings: bool = False
    bf16: bool = True
    seed: int = 0
    checkpoint_every: int = 200
    log_every: int = 20
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError("span training needs steps >= 1 and batch_size >= 1")
        if not 0 <= self.warmup < 1:
            raise ConfigError(f"warmup is a fraction of the steps in [0, 1), got {self.warmup}")


def batch_loss(model: SpanModel, examples: Sequence[Example]) -> tuple[torch.Tensor, dict[str, int]]:
    """The loss of one batch (module docstring) and counts (pairs scored, positives, mentions too
    wide to be candidates)."""
    texts = list(dict.fromkeys(t for e in examples for t in e.labels))
    column = {t: i for i, t in enumerate(texts)}
    device = model.device
    words = encode_words(model.tokenizer, [e.words for e in examples], model.max_subwords).to(device)
    labels = model.net.label_vectors(encode_labels(model.tokenizer, texts).to(device))
    logits = model.net(words, labels).float()
    n = words.word_mask.size(1)
    k = model.config.max_width
    triples = []
    too_wide = 0
    for e, kept in zip(examples, words.kept, strict=True):
        rows = []
        for a, b, t in e.spans:
            if b - a > k:
                too_wide += 1
            elif b <= kept:
                rows.append((a, b, column[t]))
        triples.append(rows)
    targets = span_targets(triples, n, k, len(texts)).to(device)
    asked = torch.zeros(len(examples), len(texts), dtype=torch.bool)
    for b, e in enumerate(examples):
        asked[b, [column[t] for t in e.labels]] = True
    asked = asked.to(device)
    mask = model.net.valid_spans(words).unsqueeze(-1) & asked[:, None, None, :]
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    loss = (loss * mask).sum() / len(examples)
    return loss, {"pairs": int(mask.sum()), "positives": int(targets.sum()), "too_wide": too_wide}


def autocast(model: SpanModel, bf16: bool) -> torch.autocast:
    """bf16 autocast on the model's device (off when ``bf16`` is false)."""
    return torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16)


def _freeze(model: SpanModel, layers: int, embeddings: bool = False) -> None:
    if model.lora_active:  # LoRA: the encoder is frozen already
        return
    encoder = model.net.encoder
    if embeddings or layers > 0:
        for p in encoder.embeddings.parameters():
            p.requires_grad_(False)
    if layers <= 0:
        return
    stack = getattr(getattr(encoder, "encoder", None), "layer", None)
    if stack is None:
        raise ConfigError("freeze_layers works with BERT-like encoders (encoder.layer) only")
    for layer in stack[: min(layers, len(stack))]:
        for p in layer.parameters():
            p.requires_grad_(False)


def _optimizer(model: SpanModel, s: TrainSettings) -> torch.optim.Optimizer:
    enc, head = [], []
    for name, p in model.net.named_parameters():
        if p.requires_grad:  # LoRA adapters learn at the heads' rate
            on_encoder = name.startswith("encoder.") and not model.lora_active
            (enc if on_encoder else head).append(p)
    groups = [g for g in ({"params": enc, "lr": s.lr_encoder}, {"params": head, "lr": s.lr_head}) if g["params"]]
    return torch.optim.AdamW(groups, weight_decay=s.weight_decay)


def _lr_factor(step: int, s: TrainSettings) -> float:
    warm = max(1, int(s.steps * s.warmup))
    if step < warm:
        return (step + 1) / warm
    return max(0.0, (s.steps - step) / max(1, s.steps - warm))


def train(
    model: SpanModel,
    batches: Callable[[int], Sequence[Example]],
    settings: TrainSettings,
    run_dir: str | Path | None = None,
    *,
    progress: bool | Callable[[int], object] = False,
    describe: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place for ``settings.steps`` steps (module docstring); returns the
    run's metrics. ``describe``: facts recorded in ``RUN/config.json`` (data, mixture)."""
    from fewner.progress import progress_reporter
    from fewner.runs import write_json_atomic

    run = Path(run_dir) if run_dir is not None else None
    torch.manual_seed(settings.seed)
    model.to(settings.device)
    _freeze(model, settings.freeze_layers, settings.freeze_embeddings)
    optimizer = _optimizer(model, settings)
    start = 0
    trained = {k: v for k, v in asdict(settings).items() if k != "device"}
    identity = {"train": trained, "model": model.config.to_dict(), **(describe or {})}
    identity["start_heads_sha256"] = _heads_digest(model)
    if run is not None:
        run.mkdir(parents=True, exist_ok=True)
        start = _resume(run, model, optimizer, identity)
        write_json_atomic(run / "config.json", identity)
    model.clear_label_cache()
    model.net.train()
    totals = {"pairs": 0, "positives": 0, "too_wide": 0, "sentences": 0}
    window: list[float] = []
    began = time.perf_counter()
    last_loss = math.nan
    with progress_reporter(progress, settings.steps, "span model: training") as advance:
        advance(start)
        for step in range(start, settings.steps):
            examples = batches(step)
            for group, base in zip(optimizer.param_groups, _base_lrs(settings, optimizer), strict=True):
                group["lr"] = base * _lr_factor(step, settings)
            with autocast(model, settings.bf16):
                loss, counts = batch_loss(model, examples)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(
                [p for p in model.net.parameters() if p.requires_grad], settings.grad_clip
            )
            optimizer.step()
            last_loss = float(loss.detach())
            if not math.isfinite(last_loss):
                raise FloatingPointError(f"span training: loss became {last_loss} at step {step}")
            window.append(last_loss)
            for key in ("pairs", "positives", "too_wide"):
                totals[key] += counts[key]
            totals["sentences"] += len(examples)
            advance(1)
            done = step + 1
            if run is not None and (done % settings.log_every == 0 or done == settings.steps):
                _log(run, done, window, optimizer, began, totals)
                window = []
            if run is not None and (done % settings.checkpoint_every == 0 or done == settings.steps):
                _checkpoint(run, model, optimizer, done, identity)
    model.net.eval()
    seconds = time.perf_counter() - began
    return {
        "steps": settings.steps,
        "resumed_at": start,
        "final_loss": round(last_loss, 4) if math.isfinite(last_loss) else None,
        "seconds": round(seconds, 1),
        "sentences_per_second": round(totals["sentences"] / seconds, 2) if seconds > 0 else None,
        **totals,
    }


def _base_lrs(s: TrainSettings, optimizer: torch.optim.Optimizer) -> list[float]:
    if len(optimizer.param_groups) == 2:
        return [s.lr_encoder, s.lr_head]
    return [s.lr_head]  # everything in the encoder frozen


def _log(run: Path, step: int, window: list[float], optimizer, began: float, totals: dict[str, int]) -> None:
    line = {
        "step": step,
        "loss": round(sum(window) / max(1, len(window)), 5),
        "lr": [round(g["lr"], 8) for g in optimizer.param_groups],
        "seconds": round(time.perf_counter() - began, 1),
        "sentences": totals["sentences"],
    }
    with (run / "metrics.jsonl").open("a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


def _heads_digest(model: SpanModel) -> str:
    """sha256 of the non-encoder weights as training starts (small: which model a run began from)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.net.state_dict().items()):
        if not name.startswith("encoder."):
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _checkpoint(run: Path, model: SpanModel, optimizer, step: int, identity: dict[str, Any]) -> None:
    from fewner.runs import save_torch_atomic

    state = {
        "step": step,
        "model": model.net.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": torch.get_rng_state(),  # dropout masks: without it a resumed run drifts
        **({"cuda_rng": torch.cuda.get_rng_state()} if model.device.type == "cuda" else {}),
        "identity": json.dumps(identity, sort_keys=True),
    }
    save_torch_atomic(state, run / CHECKPOINT)


def _resume(run: Path, model: SpanModel, optimizer, identity: dict[str, Any]) -> int:
    path = run / CHECKPOINT
    if not path.is_file():
        return 0
    state = torch.load(path, map_location="cpu", weights_only=True)
    saved = state.get("identity")
    if saved is not None and saved != json.dumps(identity, sort_keys=True):
        before = json.loads(saved)
        differ = sorted(k for k in set(before) | set(identity) if before.get(k) != identity.get(k))
        raise ConfigError(
            f"{run} holds the checkpoint of another training run (it differs in {', '.join(differ)}); "
            f"write to a new folder, or delete {path} to start this run there"
        )
    model.net.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"])
    if "cuda_rng" in state and model.device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"])
    step = int(state["step"])
    _drop_metrics_after(run / "metrics.jsonl", step)
    return step


def _drop_metrics_after(path: Path, step: int) -> None:
    """Keep the metric lines up to the checkpoint's step: the steps after it are trained again."""
    if not path.is_file():
        return
    from fewner.runs import write_text_atomic

    lines = path.read_text(encoding="utf-8").splitlines()
    kept = []
    for line in lines:
        try:
            if json.loads(line)["step"] > step:
                continue
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by a kill
        kept.append(line)
    if len(kept) != len(lines):
        write_text_atomic(path, "".join(x + "\n" for x in kept))
