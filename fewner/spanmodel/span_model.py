"""A span model with its tokenizer: build, score, decode, save and load.

:class:`SpanModel` is what the ``span`` predictor and the training loop share. A saved folder
holds ``span_model.json`` (the :class:`~fewner.spanmodel.config.SpanModelConfig`) and the
encoder's config and tokenizer, then either all weights in ``weights.safetensors`` (a fully
fine-tuned encoder: loading needs no copy of the original) or, for a LoRA-trained encoder
(``lora_r > 0``), the heads in ``weights.safetensors`` and the adapter in ``adapter/``, applied
at load to the base encoder named in the config (checked by the catalogue's sha256) and merged
into it, so inference runs a plain encoder; or, saved with ``delta_rank``, the heads and a
low-rank difference from the base encoder in ``encoder_delta.safetensors``
(:mod:`fewner.spanmodel.delta`: how fewner ships its pre-trained model in megabytes). Label vectors are cached by label text at inference (labels are encoded
once per process, whatever the number of sentences); training clears the cache.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from fewner.devices import resolve_device
from fewner.errors import ConfigError, ModelNotAvailableError
from fewner.models.quiet import quiet_transformers
from fewner.spanmodel.batching import encode_labels, pack_rows, tokenize_words
from fewner.spanmodel.config import SpanModelConfig
from fewner.spanmodel.decode import decode_spans
from fewner.spanmodel.model import SpanNet

__all__ = ["CONFIG_FILE", "SpanModel", "resolve_device"]

CONFIG_FILE = "span_model.json"
WEIGHTS_FILE = "weights.safetensors"
ENCODER_DIR = "encoder"
ADAPTER_DIR = "adapter"
DELTA_FILE = "encoder_delta.safetensors"


class SpanModel:
    """Network + tokenizer + config (module docstring)."""

    def __init__(self, net: SpanNet, tokenizer: Any) -> None:
        if not getattr(tokenizer, "is_fast", False):
            raise ConfigError("the span model needs a fast tokenizer (it reports word ids)")
        self.net = net
        self.tokenizer = tokenizer
        self.config = net.config
        self.precision = "float32"
        self._label_cache: dict[str, torch.Tensor] = {}

    @property
    def device(self) -> torch.device:
        """Where the network's weights are (inputs are moved there)."""
        return next(self.net.parameters()).device

    def to(self, device: str | torch.device) -> SpanModel:
        """Move the network to ``device`` (``auto``: CUDA when available, the CPU for an int8
        model); returns itself."""
        if self.quantized:
            if str(device) not in ("auto", "cpu"):
                raise ConfigError(f"an int8-quantized span model runs on the CPU only, not {device!r}")
            device = "cpu"
        before = self.device
        self.net.to(resolve_device(device))  # a no-op where it is already
        if self.device != before:  # label vectors live on the old device
            self._label_cache.clear()
        return self

    @property
    def max_subwords(self) -> int:
        """Encoder positions per window: the configured size, or less when the encoder has fewer."""
        limits = [self.config.max_subwords]
        positions = getattr(self.net.encoder.config, "max_position_embeddings", None)
        if positions:
            limits.append(int(positions))
        model_max = getattr(self.tokenizer, "model_max_length", None)
        if model_max and model_max < 10**6:
            limits.append(int(model_max))
        return min(limits)

    # ----- construction ------------------------------------------------------------------------
    @classmethod
    def build(cls, config: SpanModelConfig | None = None, seed: int = 0) -> SpanModel:
        """A new model on a pretrained encoder (heads initialised from ``seed``)."""
        from transformers import AutoModel, AutoTokenizer

        from fewner.models import hf_path

        config = config or SpanModelConfig()
        path = hf_path(config.encoder)
        torch.manual_seed(seed)
        try:
            with quiet_transformers():
                tokenizer = AutoTokenizer.from_pretrained(path)
                try:  # BERT-like encoders: the pooler is unused, do not load it
                    encoder = AutoModel.from_pretrained(path, add_pooling_layer=False)
                except TypeError:
                    encoder = AutoModel.from_pretrained(path)
        except OSError as err:
            raise ModelNotAvailableError(f"cannot load encoder {config.encoder!r} ({path}): {err}") from err
        if config.lora_r > 0:
            encoder = _with_lora(encoder, config)
        return cls(SpanNet(encoder, config), tokenizer)

    @classmethod
    def load(cls, folder: str | Path) -> SpanModel:
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        folder = Path(folder)
        meta = folder / CONFIG_FILE
        if not meta.is_file():
            raise ModelNotAvailableError(f"{folder} is not a span model folder (no {CONFIG_FILE})")
        config = SpanModelConfig.from_dict(json.loads(meta.read_text(encoding="utf-8")))
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(folder / ENCODER_DIR)
            if (folder / ADAPTER_DIR).is_dir():
                encoder = _base_with_adapter(config, folder / ADAPTER_DIR)
            elif (folder / DELTA_FILE).is_file():
                from fewner.spanmodel.delta import apply_delta

                encoder = _base_encoder(config)
                apply_delta(encoder, load_file(str(folder / DELTA_FILE)))
            else:
                encoder_config = AutoConfig.from_pretrained(folder / ENCODER_DIR)
                try:
                    encoder = AutoModel.from_config(encoder_config, add_pooling_layer=False)
                except TypeError:
                    encoder = AutoModel.from_config(encoder_config)
        net = SpanNet(encoder, replace(config, lora_r=0))
        state = load_file(str(folder / WEIGHTS_FILE))
        expected = set(net.state_dict())
        if (folder / ADAPTER_DIR).is_dir() or (folder / DELTA_FILE).is_file():  # heads only
            expected = {k for k in expected if not k.startswith("encoder.")}
        missing = sorted(expected - set(state))
        unexpected = sorted(set(state) - set(net.state_dict()))
        if missing or unexpected:
            raise ModelNotAvailableError(
                f"{folder}: weights do not match the model (missing {missing[:3]}, "
                f"unexpected {unexpected[:3]})"
            )
        net.load_state_dict(state, strict=False)
        net.config = config
        net.eval()
        return cls(net, tokenizer)

    def save(self, folder: str | Path, *, delta_rank: int | None = None) -> Path:
        """Write the folder (module docstring). ``delta_rank``: store the encoder as a rank-r
        difference from its catalogue base instead of whole (lossy: measure it)."""
        from safetensors.torch import save_file

        if self.precision != "float32":
            raise ConfigError(
                f"a {self.precision} span model cannot be saved; save it before changing its precision"
            )
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_FILE).write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        self.tokenizer.save_pretrained(folder / ENCODER_DIR)
        self.net.encoder.config.save_pretrained(folder / ENCODER_DIR)
        state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        if self.lora_active:
            self.net.encoder.save_pretrained(folder / ADAPTER_DIR)
            state = {k: v for k, v in state.items() if not k.startswith("encoder.")}
        elif delta_rank is not None:
            from fewner.spanmodel.delta import encode_delta

            base = _base_encoder(self.config).state_dict()
            trained = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
            save_file(encode_delta(trained, base, delta_rank), str(folder / DELTA_FILE))
            state = {k: v for k, v in state.items() if not k.startswith("encoder.")}
        save_file(state, str(folder / WEIGHTS_FILE))
        return folder

    @property
    def lora_active(self) -> bool:
        """The encoder is a peft model being trained with LoRA (not merged)."""
        return hasattr(self.net.encoder, "peft_config")

    PRECISIONS = ("float32", "bfloat16", "int8")

    def set_precision(self, precision: str) -> None:
        """Inference precision: ``float32`` (as trained), ``bfloat16`` (weights and activations;
        fast on CPUs with bf16 instructions) or ``int8`` (dynamic quantization of every linear
        layer). One way only: reload the model to go back to float32."""
        if precision not in self.PRECISIONS:
            raise ConfigError(f"precision must be one of {list(self.PRECISIONS)}, got {precision!r}")
        if precision == self.precision:
            return
        if self.precision != "float32":
            raise ConfigError(f"the model is already {self.precision}; reload it for {precision}")
        if precision == "int8":
            if self.device.type != "cpu":
                raise ConfigError("int8 (dynamic quantization) runs on the CPU only; use bfloat16 on a GPU")
            self.net = torch.ao.quantization.quantize_dynamic(self.net, {torch.nn.Linear}, dtype=torch.qint8)
        else:
            self.net = self.net.to(torch.bfloat16)
        self.precision = precision
        self._label_cache.clear()

    @property
    def quantized(self) -> bool:
        return self.precision == "int8"

    # ----- inference ---------------------------------------------------------------------------
    def clear_label_cache(self) -> None:
        self._label_cache.clear()

    def label_vectors(self, texts: Sequence[str]) -> torch.Tensor:
        """``[len(texts), hidden]``, from the cache where the text was seen before."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._label_cache]
        if missing:
            self.net.eval()
            with torch.inference_mode():
                vectors = self.net.label_vectors(encode_labels(self.tokenizer, missing).to(self.device))
            for text, vector in zip(missing, vectors, strict=True):
                self._label_cache[text] = vector
        return torch.stack([self._label_cache[t] for t in texts])

    def predict_words(
        self,
        words: Sequence[Sequence[str]],
        label_texts: Sequence[str],
        *,
        threshold: float = 0.5,
        nested: bool = False,
        batch_size: int = 32,
    ) -> tuple[list[list[tuple[int, int, int, float]]], list[int]]:
        """Spans of each word list as ``(first word, end exclusive, label index, probability)``,
        and how many words of each fit the window (the caller splits the rest).

        All word lists are tokenized in one call, sorted by subword length and run in batches of
        ``batch_size`` (padding stays small), then returned in input order."""
        labels = self.label_vectors(label_texts)
        rows = tokenize_words(self.tokenizer, words, self.max_subwords)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i].ids))
        spans: list[list[tuple[int, int, int, float]]] = [[] for _ in rows]
        self.net.eval()
        device = self.device
        for lo in range(0, len(order), max(1, batch_size)):
            chunk = order[lo : lo + max(1, batch_size)]
            batch = pack_rows([rows[i] for i in chunk], self.tokenizer.pad_token_id)
            with torch.inference_mode():
                probs = torch.sigmoid(self.net(batch.to(device), labels).float()).cpu()
            decoded = decode_spans(probs, self.net.valid_spans(batch), threshold, nested)
            for i, found in zip(chunk, decoded, strict=True):
                spans[i] = found
        return spans, [row.kept for row in rows]


def _with_lora(encoder: Any, config: SpanModelConfig) -> Any:
    """The encoder frozen, with LoRA adapters on all its linear layers."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.dropout,
        target_modules="all-linear", bias="none",
    )
    return get_peft_model(encoder, lora)


def _base_encoder(config: SpanModelConfig) -> Any:
    """The encoder a model was built on (a catalogue name is verified by its sha256)."""
    from transformers import AutoModel

    from fewner.models import hf_path

    try:
        path = hf_path(config.encoder)
        with quiet_transformers():
            try:
                return AutoModel.from_pretrained(path, add_pooling_layer=False)
            except TypeError:
                return AutoModel.from_pretrained(path)
    except OSError as err:
        raise ModelNotAvailableError(
            f"this span model is stored as a difference from the encoder {config.encoder!r}, which "
            f"cannot be loaded ({err}); install it (./dev setup installs the catalogue encoders)"
        ) from err


def _base_with_adapter(config: SpanModelConfig, adapter: Path) -> Any:
    """The base encoder with a saved LoRA adapter merged in."""
    from peft import PeftModel

    return PeftModel.from_pretrained(_base_encoder(config), str(adapter)).merge_and_unload()
