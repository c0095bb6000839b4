"""The span student: fewner's span model learning teacher annotations under a blending schedule.

:class:`SpanStudent` gives the span model (:mod:`fewner.spanmodel`) the interface the
distillation trainer drives (:func:`fewner.distill.trainer.train_student`), so it trains on
distilled and original data with every schedule and both mixes, exactly as the token student:

* ``encode`` turns sentences into span-model examples that ask every type of the run (a teacher
  annotates a sentence for all its types, so a type it did not find is a negative there);
* ``collate`` keeps each example's schedule weight; ``loss`` is the span model's own batch loss
  (:func:`fewner.spanmodel.train.batch_loss`, under bf16 autocast on the model's device: ``device``
  ``auto`` trains on a GPU when torch sees one) with each example's
  loss multiplied by its weight (examples of one weight share a forward pass);
* ``parameter_groups`` gives the encoder ``lr`` and the span and label heads ``lr_head``.

It starts from a span model (the shipped ``fewner-span-minilm`` by default, or any span model
folder) or from a bare encoder, which gets fresh span heads, and saves a ``span`` model folder
(:class:`~fewner.spanmodel.predictor.SpanPredictor`) that ``fewner.load`` and ``fewner predict``
serve; its manifest records the distillation and keeps the base model's notes (its licence).
Why: the span model is what fewner deploys; an LLM's annotations are how it learns a label set
for which there is little gold data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from fewner.errors import ConfigError
from fewner.types import Sentence

__all__ = ["SpanStudent", "load_span_base"]


def load_span_base(model: str | Path, seed: int = 0) -> Any:
    """A :class:`~fewner.spanmodel.predictor.SpanPredictor` to start from: a shipped span model
    name, a saved span model folder (``fewner.json`` of kind ``span``, or a bare span model
    folder with ``span_model.json``), else an encoder (catalogue name, folder or hub id) with
    new span heads drawn from ``seed``."""
    from fewner.predictors import load_folder
    from fewner.predictors.manifest import MANIFEST_FILE
    from fewner.spanmodel.config import SpanModelConfig
    from fewner.spanmodel.predictor import SpanPredictor
    from fewner.spanmodel.shipped import shipped_path
    from fewner.spanmodel.span_model import CONFIG_FILE, SpanModel

    name = str(model)
    path = shipped_path(name) or Path(name).expanduser()
    if path.is_dir() and (path / MANIFEST_FILE).is_file():
        predictor = load_folder(path)
        if predictor.kind != "span":
            raise ConfigError(
                f"student.model {name!r} is a {predictor.kind} model; the span student starts "
                "from a span model (fewner-span-minilm, a span model folder) or an encoder"
            )
        return predictor
    if path.is_dir() and (path / CONFIG_FILE).is_file():
        return SpanPredictor(SpanModel.load(path))
    return SpanPredictor(SpanModel.build(SpanModelConfig(encoder=name), seed=seed))


class SpanStudent:
    """A span model being distilled into (module docstring). ``types``: the run's labels;
    ``label_names``: the text each is read as (merged over the base model's own)."""

    kind = "span"

    def __init__(
        self,
        predictor: Any,
        types: Sequence[str],
        *,
        label_names: Mapping[str, str] | None = None,
        lr_head: float | None = None,
        freeze_layers: int = 0,
        threshold: float | None = None,
        bf16: bool = True,
        device: str = "auto",
        layers: int | None = None,
    ) -> None:
        if not types:
            raise ConfigError("the span student needs at least one entity type")
        if predictor.model.quantized:
            raise ConfigError("an int8-quantized span model cannot be trained")
        self.predictor = predictor
        self.span_model = predictor.model.to(device)
        self.types = list(dict.fromkeys(types))
        predictor.labels = list(self.types)
        predictor.label_names = {**predictor.label_names, **dict(label_names or {})}
        if threshold is not None:
            predictor.threshold = float(threshold)
        self.base_training = predictor.training
        self.lr_head = lr_head
        self.bf16 = bf16
        if layers is not None:  # before freezing: the layers kept are the ones that can freeze
            from fewner.distill.student import truncate_layers

            truncate_layers(self.span_model.net.encoder, layers)
            self.span_model.clear_label_cache()
        self.frozen = _freeze(self.span_model.net.encoder, freeze_layers)

    @classmethod
    def build(cls, spec: Any, types: Sequence[str], seed: int = 0) -> SpanStudent:
        """From a :class:`~fewner.distill.config.StudentSpec` of kind ``span``."""
        from fewner.distill.config import DEFAULT_STUDENT_MODELS

        torch.manual_seed(seed)
        base = load_span_base(spec.model or DEFAULT_STUDENT_MODELS["span"], seed)
        return cls(
            base,
            types,
            label_names=spec.label_names,
            lr_head=spec.lr_head,
            freeze_layers=spec.freeze_layers,
            threshold=spec.threshold,
            device=spec.device,
            layers=spec.layers,
        )

    @property
    def model(self) -> torch.nn.Module:
        """The network the trainer optimises and checkpoints."""
        return self.span_model.net

    @property
    def label_names(self) -> dict[str, str]:
        """The text each type is read as."""
        return {t: self.predictor.label_text(t) for t in self.types}

    # ----- training ----------------------------------------------------------------------------
    def encode(self, sentences: Sequence[Sentence]) -> list[Any]:
        """Examples asking every type; mentions of other types are left out."""
        from fewner.spanmodel.adapt import support_examples

        return support_examples(sentences, self.types, self.label_names)

    def collate(
        self, items: Sequence[Any], weights: Sequence[float] | None = None
    ) -> dict[str, Any]:
        weights = [1.0] * len(items) if weights is None else [float(w) for w in weights]
        if len(weights) != len(items):
            raise ValueError(f"{len(items)} examples but {len(weights)} weights")
        return {"examples": list(items), "weights": weights}

    def loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, int]:
        """Sum over the batch of weight x the example's loss, divided by the number of examples
        (not by the weights: a weight of 0.5 halves an example's pull); and the (span, label)
        pairs scored."""
        from fewner.spanmodel.train import autocast, batch_loss

        examples, weights = batch["examples"], batch["weights"]
        if not examples:
            raise ValueError("an empty batch")
        by_weight: dict[float, list[Any]] = {}
        for example, weight in zip(examples, weights, strict=True):
            by_weight.setdefault(weight, []).append(example)
        total: torch.Tensor | None = None
        pairs = 0
        for weight, group in by_weight.items():
            with autocast(self.span_model, self.bf16):
                mean, counts = batch_loss(self.span_model, group)
            part = mean.float() * (weight * len(group))
            total = part if total is None else total + part
            pairs += counts["pairs"]
        assert total is not None
        return total / len(examples), pairs

    def parameter_groups(self, lr: float) -> list[dict[str, Any]]:
        """Trainable encoder parameters at ``lr``, the heads at ``lr_head`` (default 10 x lr)."""
        encoder, heads = [], []
        for name, param in self.model.named_parameters():
            if param.requires_grad:
                (encoder if name.startswith("encoder.") else heads).append(param)
        head_lr = self.lr_head if self.lr_head is not None else 10 * lr
        groups = [{"params": encoder, "lr": lr}, {"params": heads, "lr": head_lr}]
        return [g for g in groups if g["params"]]

    # ----- inference and saving ----------------------------------------------------------------
    def predict(self, sentences: Sequence[Sentence], batch_size: int = 16) -> list[Sentence]:
        """The sentences with predicted spans (input spans replaced), in input order."""
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        if not sentences:
            return []
        self.span_model.clear_label_cache()  # the label vectors change while training
        self.predictor.batch_sentences = batch_size
        return self.predictor.predict_sentences(sentences, self.types).sentences

    def finish(self, training: Mapping[str, Any] | None = None) -> Any:
        """The trained model as a ``span`` predictor; ``training``: what its manifest records of
        the distillation (the base model's own record is kept under ``base``)."""
        self.span_model.clear_label_cache()
        self.span_model.net.eval()
        self.predictor.training = {
            "stage": "distill",
            **dict(training or {}),
            "labels": list(self.types),
            "label_names": self.label_names,
            "frozen_layers": self.frozen,
            "base": self.base_training,
        }
        self.predictor.save_delta_rank = None  # the distilled encoder is stored whole
        return self.predictor

    def save(self, folder: str | Path, training: Mapping[str, Any] | None = None) -> Path:
        """A ``span`` model folder (:meth:`finish`) that ``fewner.load`` reads."""
        return self.finish(training).save(folder)


def _freeze(encoder: Any, layers: int) -> int:
    """Freeze the embeddings and the lowest ``layers`` layers of a BERT-like encoder; returns
    how many layers were frozen."""
    if layers <= 0:
        return 0
    stack = getattr(getattr(encoder, "encoder", None), "layer", None)
    embeddings = getattr(encoder, "embeddings", None)
    if stack is None or embeddings is None:
        raise ConfigError(
            "student.freeze_layers works with BERT-like encoders (embeddings, encoder.layer) only"
        )
    if layers > len(stack):
        raise ConfigError(f"student.freeze_layers must be in 0..{len(stack)}, got {layers}")
    for module in (embeddings, *stack[:layers]):
        for param in module.parameters():
            param.requires_grad_(False)
    return layers
