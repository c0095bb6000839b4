"""Convert a GGUF file once into a transformers folder (float32 safetensors + fast tokenizer).

transformers can read GGUF directly, but dequantizing is slow on a small CPU (measurements:
docs/design-notes.md, fewner/models/convert.py); training and the HF backend need an ordinary
folder, so the result is cached (``cache_dir()/hf/<name>``).

The conversion is written into a temporary folder beside the target and renamed into place only
after a marker file (``fewner-conversion.json``) has been written, so a crash never leaves a
half folder that looks finished, and two processes converting at once both end with one folder.

Pad token: the pad token must differ from the end-of-sequence token, so that masking padding
out of the training labels never masks the end-of-answer token too (a model that never learned
to stop was a lesson already paid for). SmolLM2-Instruct's GGUF declares ``<|im_end|>`` (its EOS)
as pad; it becomes ``<|endoftext|>`` (its unk token, id 0). A tokenizer with no pad token gets
the same treatment. Only when no other special token exists do we fall back to EOS; the marker
file records which token was chosen and why.

``CONVERSION_VERSION`` is stored in the marker: a folder written by an older recipe is converted
again on next use instead of being trusted.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from fewner.errors import ModelNotAvailableError

MARKER = "fewner-conversion.json"
CONVERSION_VERSION = 2


@dataclass(frozen=True)
class ConversionReport:
    """What a conversion produced; also stored as the folder's marker file."""

    source: str
    sha256: str
    seconds: float
    pad_token: str
    pad_token_source: str
    chat_template: bool
    transformers_version: str
    folder_bytes: int
    version: int = CONVERSION_VERSION


def is_converted(folder: Path) -> bool:
    """True when ``folder`` is a finished conversion by the current recipe."""
    report = read_report(folder)
    return report is not None and report.version == CONVERSION_VERSION


def read_report(folder: Path) -> ConversionReport | None:
    """The marker of a finished conversion; None when absent or unreadable."""
    try:
        data = json.loads((folder / MARKER).read_text())
        data.setdefault("version", 1)
        return ConversionReport(**data)
    except (OSError, ValueError, TypeError):
        return None


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def choose_pad_token(tokenizer) -> tuple[str, str]:
    """Give ``tokenizer`` a pad token distinct from EOS; return ``(token, how it was chosen)``."""
    eos = tokenizer.eos_token
    if tokenizer.pad_token is not None and tokenizer.pad_token != eos:
        return tokenizer.pad_token, "tokenizer"
    was = "replaces EOS as pad" if tokenizer.pad_token is not None else "no pad token"
    vocab = tokenizer.get_vocab()
    for candidate, why in ((tokenizer.unk_token, "unk token"), ("<|endoftext|>", "<|endoftext|>")):
        if candidate and candidate != eos and candidate in vocab:
            tokenizer.pad_token = candidate
            return candidate, f"{why} ({was})"
    if eos is None:
        raise ModelNotAvailableError("the converted tokenizer has neither a pad nor an EOS token")
    tokenizer.pad_token = eos
    return eos, "eos token (no other special token available)"


def convert_gguf(
    gguf_file: Path,
    target: Path,
    sha256: str,
    *,
    log: Callable[[str], None] = lambda _msg: None,
) -> ConversionReport:
    """Dequantize ``gguf_file`` into the transformers folder ``target`` (atomically).

    Returns the report of the existing folder when another process finished first.
    """
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        log(f"loading tokenizer from {gguf_file.name}")
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
        pad, pad_source = choose_pad_token(tokenizer)
        log(f"dequantizing {gguf_file.name} to float32 (20-60 s)")
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf_file.parent), gguf_file=gguf_file.name, dtype=torch.float32
        )
        # A dequantized model is a plain float model: drop the GGUF quantization marks or
        # save_pretrained writes a config that later loads try to re-quantize.
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None
        model.config.pad_token_id = tokenizer.pad_token_id
        if getattr(model, "generation_config", None) is not None:
            model.generation_config.pad_token_id = tokenizer.pad_token_id
        log(f"writing {target}")
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        report = ConversionReport(
            source=str(gguf_file),
            sha256=sha256,
            seconds=round(time.perf_counter() - start, 1),
            pad_token=pad,
            pad_token_source=pad_source,
            chat_template=bool(getattr(tokenizer, "chat_template", None)),
            transformers_version=transformers.__version__,
            folder_bytes=folder_size(tmp),
        )
        (tmp / MARKER).write_text(json.dumps(asdict(report), indent=2))
        # mkdtemp (and safetensors' own temp files) make things private; the cache is not secret.
        tmp.chmod(0o755)
        for path in tmp.iterdir():
            if path.is_file():
                path.chmod(0o644)
        stale = None
        if target.exists() and not is_converted(target):  # older recipe: move aside, then swap
            stale = target.with_name(f".{target.name}.stale-{os.getpid()}")
            os.rename(target, stale)
        try:
            os.rename(tmp, target)
        except OSError:
            existing = read_report(target) if is_converted(target) else None
            if existing is None:
                raise
            return existing  # another process finished first: keep its folder
        finally:
            if stale is not None:
                shutil.rmtree(stale, ignore_errors=True)
        return report
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
