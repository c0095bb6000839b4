"""The student: a transformers token classifier over character-offset sentences.

:class:`Student` owns a ``AutoModelForTokenClassification`` (default: the catalogue's MiniLM-L6
encoder with a new head), its fast tokenizer and its BIO label set; it builds padded batches
with per-example loss weights (for the blending schedules, :mod:`fewner.distill.trainer`),
predicts spans with offsets, and saves to / loads from a folder that ``fewner predict --student``
reads.

Fast inference (:meth:`Student.predict`): sentences are tokenized in one call, sorted by length
and batched so padding stays small, the forward pass runs under ``torch.inference_mode``, and
:meth:`Student.quantize` swaps every ``nn.Linear`` for a dynamically int8-quantized one (weights
int8, activations quantized on the fly). Batches are small by default (16) on purpose: once the
linear layers are int8, the element-wise work (GELU over ``batch x length x 1536`` values,
layer norms) dominates, and it becomes memory-bound as soon as a batch's activations leave the
CPU cache (``benchmarks/bench_student_vs_spacy.py --sweep`` measures sentences/s per batch
size; see ``benchmarks/README.md``). ``layers=N`` keeps only the first N encoder layers when
building a student (a smaller, faster model; the study's "tiny" students).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from fewner.distill.align import IGNORE, Encoded, bio_labels, decode_words, encode_batch
from fewner.errors import ConfigError, ModelNotAvailableError
from fewner.models.quiet import quiet_transformers
from fewner.types import Sentence

__all__ = ["STUDENT_FILE", "Student"]

STUDENT_FILE = "student.json"


def truncate_layers(model: Any, layers: int) -> None:
    """Keep the first ``layers`` transformer layers of a BERT-like encoder."""
    encoder = getattr(model.base_model, "encoder", None)
    stack = getattr(encoder, "layer", None)
    if stack is None:
        raise ConfigError(
            "student.layers works only with BERT-like encoders (base_model.encoder.layer)"
        )
    if not 1 <= layers <= len(stack):
        raise ConfigError(f"student.layers must be in 1..{len(stack)}, got {layers}")
    encoder.layer = stack[:layers]
    model.config.num_hidden_layers = layers


class Student:
    """A token classifier plus what it needs to go from sentences to spans and back."""

    def __init__(
        self, model: Any, tokenizer: Any, types: Sequence[str], max_length: int = 128
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.types = list(types)
        self.labels = bio_labels(self.types)
        self.label2id = {lab: i for i, lab in enumerate(self.labels)}
        self.id2label = dict(enumerate(self.labels))
        self.max_length = max_length
        self.quantized = False

    # ----- construction ------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        model: str,
        types: Sequence[str],
        max_length: int = 128,
        layers: int | None = None,
        seed: int = 0,
    ) -> Student:
        """A new student from an encoder (catalogue name, local folder or hub id); the
        classification head is freshly initialised from ``seed``."""
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        from fewner.models import hf_path

        if not types:
            raise ConfigError("the student needs at least one entity type")
        path = hf_path(model)
        labels = bio_labels(types)
        torch.manual_seed(seed)
        try:
            with quiet_transformers():
                tokenizer = AutoTokenizer.from_pretrained(path)
                net = AutoModelForTokenClassification.from_pretrained(
                    path,
                    num_labels=len(labels),
                    id2label=dict(enumerate(labels)),
                    label2id={lab: i for i, lab in enumerate(labels)},
                )
        except OSError as err:
            raise ModelNotAvailableError(f"cannot load encoder {model!r} ({path}): {err}") from err
        if not getattr(tokenizer, "is_fast", False):
            raise ConfigError(f"encoder {model!r}: a fast tokenizer (with offsets) is required")
        if layers is not None:
            truncate_layers(net, layers)
        positions = getattr(net.config, "max_position_embeddings", None)
        if positions and max_length > positions:  # the encoder cannot read more than that
            max_length = int(positions)
        return cls(net, tokenizer, types, max_length)

    @classmethod
    def load(cls, folder: str | Path) -> Student:
        """A student saved by :meth:`save`."""
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        folder = Path(folder)
        meta_path = folder / STUDENT_FILE
        if not meta_path.is_file():
            raise ModelNotAvailableError(
                f"{folder} is not a student folder (no {STUDENT_FILE}); train one with fewner distill"
            )
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(folder)
            net = AutoModelForTokenClassification.from_pretrained(folder)
        student = cls(net, tokenizer, meta["types"], int(meta["max_length"]))
        if student.labels != [net.config.id2label[i] for i in range(len(student.labels))]:
            raise ModelNotAvailableError(
                f"{folder}: the model's labels do not match {STUDENT_FILE}"
            )
        return student

    def save(self, folder: str | Path) -> Path:
        """Model, tokenizer and ``student.json`` (types, max_length) into ``folder``."""
        if self.quantized:
            raise ConfigError("save the student before quantizing it")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with quiet_transformers():
            self.model.save_pretrained(folder)
            self.tokenizer.save_pretrained(folder)
        meta = {"types": self.types, "labels": self.labels, "max_length": self.max_length}
        (folder / STUDENT_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return folder

    def quantize(self) -> Student:
        """Dynamic int8 quantization of the linear layers, for CPU inference (in place).

        ``torch.ao.quantization`` warns that it is deprecated in favour of torchao; it works in
        the pinned torch 2.13 and needs no extra package, so the warning is silenced here.
        """
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            from torch.ao.quantization import quantize_dynamic

            self.model.eval()
            self.model = quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8)
        self.quantized = True
        return self

    # ----- batches -----------------------------------------------------------------------
    def encode(self, sentences: Sequence[Sentence], with_labels: bool = True) -> list[Encoded]:
        return encode_batch(
            self.tokenizer, sentences, self.label2id if with_labels else None, self.max_length
        )

    def collate(
        self, items: Sequence[Encoded], weights: Sequence[float] | None = None
    ) -> dict[str, torch.Tensor]:
        """Right-padded tensors; ``weights`` (one per example) become a ``weights`` tensor."""
        width = max(len(e.input_ids) for e in items)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.full((len(items), width), pad, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
        for row, e in enumerate(items):
            n = len(e.input_ids)
            ids[row, :n] = torch.tensor(e.input_ids)
            mask[row, :n] = 1
            labels[row, :n] = torch.tensor(e.labels)
        batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
        if weights is not None:
            batch["weights"] = torch.tensor(list(weights), dtype=torch.float32)
        return batch

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        """Weighted token cross-entropy and the number of labelled subwords.

        Each labelled subword's loss is multiplied by its example's weight and the sum is
        divided by the number of labelled subwords (not by the weights), so a weight of 0.5
        really halves that example's pull on the gradient.
        """
        out = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        logits = out.logits
        labels = batch["labels"]
        per_token = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)),
            labels.reshape(-1),
            ignore_index=IGNORE,
            reduction="none",
        ).view_as(labels)
        weights = batch.get("weights")
        if weights is not None:
            per_token = per_token * weights[:, None]
        count = int((labels != IGNORE).sum())
        return per_token.sum() / max(count, 1), count

    # ----- inference ---------------------------------------------------------------------
    def predict(self, sentences: Sequence[Sentence], batch_size: int = 16) -> list[Sentence]:
        """The sentences with predicted spans (input spans are replaced), in input order."""
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        if not sentences:
            return []
        self.model.eval()
        encoded = self.encode(sentences, with_labels=False)
        order = sorted(range(len(sentences)), key=lambda i: len(encoded[i].input_ids))
        result: list[Sentence | None] = [None] * len(sentences)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = self.collate([encoded[i] for i in idx])
                logits = self.model(
                    input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
                ).logits
                best = logits.argmax(-1).tolist()
                for row, i in enumerate(idx):
                    result[i] = decode_words(sentences[i], encoded[i], best[row], self.id2label)
        return [r for r in result if r is not None]

    def unlabelled_words(self, sentences: Sequence[Sentence]) -> int:
        """How many words get no subword of their own (cut by ``max_length`` or absorbed)."""
        return sum(e.unlabelled_words for e in self.encode(sentences, with_labels=False))
