"""LoRA adapter folders: checked before use, so a bad folder is one clear error, not a traceback.

:func:`check_adapter` runs when a predictor or backend is built (before any model loads): the
folder must hold an ``adapter_config.json`` that parses to a JSON object and the adapter weights
(``adapter_model.safetensors`` or ``.bin``). Without the check, peft reads a broken config as a
``JSONDecodeError`` and a missing weights file as a Hub repo id (``HFValidationError``).
:func:`adapter_load_error` turns peft's ``size mismatch`` ``RuntimeError`` (an adapter trained
on another base model: one line per tensor, hundreds of lines) into one sentence naming the
adapter's base model and what to pass instead; :func:`check_adapter_fits` finds the same
mismatch before any weights load, from the tensor shapes in the safetensors headers of the
adapter and of a local base model. This module imports neither torch nor peft.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

from fewner.errors import ModelNotAvailableError

__all__ = [
    "ADAPTER_CONFIG",
    "ADAPTER_WEIGHTS",
    "adapter_base",
    "adapter_load_error",
    "check_adapter",
    "check_adapter_fits",
]

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
_MISMATCH = re.compile(
    r"size mismatch for (?P<name>\S+): copying a param with shape "
    r"torch\.Size\((?P<theirs>\[[^\]]*\])\) from checkpoint, the shape in current model is torch\.Size\((?P<ours>\[[^\]]*\])\)"
)


def check_adapter(folder: str | Path) -> dict[str, Any]:
    """The parsed ``adapter_config.json`` of ``folder``; raises :class:`ModelNotAvailableError`
    naming the folder, what is wrong and what to pass when it is not a usable adapter folder."""
    path = Path(folder)
    fix = "pass --adapter with a folder saved by fewner train (RUN/model/adapter) or peft"
    if not path.is_dir():
        raise ModelNotAvailableError(f"adapter {path}: no such folder; {fix}")
    config_file = path / ADAPTER_CONFIG
    if not config_file.is_file():
        raise ModelNotAvailableError(
            f"{path}: not a LoRA adapter folder ({ADAPTER_CONFIG} missing); {fix}"
        )
    try:
        data = json.loads(config_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelNotAvailableError(
            f"{config_file}: not valid JSON ({err}); the adapter folder is damaged: save or "
            f"copy it again, or {fix}"
        ) from None
    if not isinstance(data, dict):
        raise ModelNotAvailableError(
            f"{config_file}: expected a JSON object, got {type(data).__name__}; the adapter "
            f"folder is damaged: save or copy it again, or {fix}"
        )
    if not any((path / name).is_file() for name in ADAPTER_WEIGHTS):
        raise ModelNotAvailableError(
            f"{path}: adapter weights missing (neither {' nor '.join(ADAPTER_WEIGHTS)} is "
            f"there, only {ADAPTER_CONFIG}); copy the whole adapter folder, or {fix}"
        )
    return data


def adapter_base(folder: str | Path) -> str | None:
    """The base model an adapter says it was trained on (``base_model_name_or_path``), if any."""
    try:
        data = json.loads((Path(folder) / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    base = data.get("base_model_name_or_path") if isinstance(data, dict) else None
    return base if isinstance(base, str) and base else None


def adapter_load_error(folder: str | Path, model: str, err: Exception) -> Exception:
    """The error to raise when peft fails to put ``folder``'s weights on ``model``: for shape
    mismatches (another base model) one line saying so; anything else is returned unchanged."""
    text = str(err)
    if "size mismatch" not in text:
        return err
    count = text.count("size mismatch for")
    found = _MISMATCH.search(text)
    example = (
        f" (e.g. {found['name']}: {found['theirs']} in the adapter, {found['ours']} in the model)"
        if found
        else ""
    )
    base = adapter_base(folder)
    trained_on = f"trained on {base!r}" if base else "trained on another base model"
    pass_base = (
        f"pass --model {base} (its base model)" if base else "pass the model it was trained on"
    )
    return ModelNotAvailableError(
        f"adapter {folder} was {trained_on}, not {model!r}: {count} of its tensors do not fit"
        f"{example}; {pass_base}, or an adapter trained on {model!r}"
    )


def _safetensors_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor name -> shape from a ``.safetensors`` header (8-byte length, then JSON): no
    weights are read."""
    with path.open("rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        if size > 100_000_000:
            raise ValueError("implausible safetensors header")
        header = json.loads(fh.read(size))
    return {k: list(v["shape"]) for k, v in header.items() if k != "__metadata__"}


def _base_shapes(folder: Path) -> dict[str, list[int]]:
    """Tensor shapes of a local transformers folder (one file or a sharded index)."""
    single = folder / "model.safetensors"
    if single.is_file():
        return _safetensors_shapes(single)
    index = folder / "model.safetensors.index.json"
    if not index.is_file():
        return {}
    files = set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values())
    shapes: dict[str, list[int]] = {}
    for name in sorted(files):
        shapes.update(_safetensors_shapes(folder / name))
    return shapes


def check_adapter_fits(folder: str | Path, base: str | Path, model: str) -> None:
    """Raise the one-line error of :func:`adapter_load_error` when the LoRA matrices of adapter
    ``folder`` cannot sit on the linear layers of the local base model ``base`` (``model``: its
    name for the message). Only what both headers show is compared; a ``.bin`` adapter, a base
    without safetensors or an unreadable header is left to peft (which fails as clearly)."""
    adapter_file = Path(folder) / "adapter_model.safetensors"
    base_path = Path(base)
    if not adapter_file.is_file() or not base_path.is_dir():
        return
    try:
        adapter = _safetensors_shapes(adapter_file)
        shapes = _base_shapes(base_path)
    except (OSError, ValueError, KeyError, struct.error):
        return
    lines = []
    for name, shape in adapter.items():
        found = re.match(r"^base_model\.model\.(.+)\.lora_([AB])(?:\.[^.]+)?\.weight$", name)
        if found is None or len(shape) != 2:
            continue
        target = shapes.get(f"{found[1]}.weight")
        if target is None or len(target) != 2:
            continue
        out_features, in_features = target
        # lora_A: [r, in_features]; lora_B: [out_features, r]
        ours = [shape[0], in_features] if found[2] == "A" else [out_features, shape[1]]
        if ours != shape:
            lines.append(
                f"size mismatch for {name}: copying a param with shape torch.Size({shape}) "
                f"from checkpoint, the shape in current model is torch.Size({ours})."
            )
    if lines:
        raise adapter_load_error(folder, model, RuntimeError("\n".join(lines)))
