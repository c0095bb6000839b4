"""A LoRA adapter that stands in for a fully fine-tuned model: each weight change, truncated.

Why: full fine-tuning is what taught SmolLM2 the source stage (README "Where the decision can be
read"), but its folder is 270 MB and the package ships adapters of a few MB. For every linear
layer peft can adapt (attention and MLP projections), the change ``dW = W_tuned - W_base`` is
replaced by its best rank-``r`` approximation (the truncated SVD, Eckart-Young), saved as peft's
``B @ A`` with ``lora_alpha = r`` so peft adds exactly ``B @ A @ x``: ``B = U_r sqrt(S_r)``,
``A = sqrt(S_r) V_r^T``. Everything else (norms, embeddings) stays the base's; the report says
how large those left-out changes were, and how much of each kept change's energy the rank holds.

The base is compared in the tuned weights' dtype (a bfloat16 folder against a bfloat16-rounded
base), so rounding alone is not mistaken for a change.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fewner.errors import ConfigError

__all__ = ["extract_lora", "extract_model_folder", "save_bf16_adapter"]


def extract_lora(
    base: Any,
    tuned_state: Mapping[str, Any],
    *,
    rank: int,
    target_modules: tuple[str, ...],
    dropout: float = 0.05,
) -> tuple[Any, dict[str, Any]]:
    """``base`` (a transformers causal LM, float32) wrapped with LoRA layers whose weights are
    the rank-``rank`` truncation of ``tuned_state - base`` (``tuned_state``: the fully tuned
    model's ``state_dict``), and a report (module docstring)."""
    import torch

    from fewner.train.lora import LoraSettings, wrap

    state = base.state_dict()
    # a tied weight (SmolLM2's lm_head is its embedding matrix) is saved under one name only
    first_name: dict[int, str] = {}
    for key, value in state.items():
        first_name.setdefault(value.data_ptr(), key)
    tied = {k for k, v in state.items() if first_name[v.data_ptr()] != k and first_name[v.data_ptr()] in tuned_state}
    base_state = {k: v.detach().clone() for k, v in state.items() if k not in tied}
    missing = sorted(set(base_state) - set(tuned_state))
    if missing:
        raise ConfigError(f"the tuned model lacks {len(missing)} of the base's weights (e.g. {missing[0]}): "
                          "not the same architecture")
    model = wrap(base, LoraSettings(r=rank, alpha=rank, dropout=dropout, target_modules=target_modules))
    kept: dict[str, float] = {}
    covered: set[str] = set()
    with torch.no_grad():
        for name, module in model.base_model.model.named_modules():
            if not (hasattr(module, "lora_A") and "default" in module.lora_A):
                continue
            key = f"{name}.weight"
            delta = _change(tuned_state[key], base_state[key])
            u, s, vh = torch.linalg.svd(delta, full_matrices=False)
            k = min(rank, s.numel())  # a narrow layer (k_proj) may have fewer directions than rank
            root = s[:k].sqrt()
            a, b = module.lora_A["default"].weight, module.lora_B["default"].weight
            a.zero_()
            b.zero_()
            a[:k].copy_(root[:, None] * vh[:k])
            b[:, :k].copy_(u[:, :k] * root[None, :])
            total = float((s**2).sum())
            kept[key] = float((s[:rank] ** 2).sum()) / total if total > 0 else 1.0
            covered.add(key)
    left_out = {}
    for key, weight in base_state.items():
        if key in covered:
            continue
        change = float(_change(tuned_state[key], weight).norm())
        if change > 0:
            left_out[key] = change / max(float(weight.float().norm()), 1e-12)
    largest = sorted(left_out.items(), key=lambda kv: -kv[1])[:5]
    report = {
        "rank": rank,
        "target_modules": list(target_modules),
        "modules": len(kept),
        "energy_kept_mean": sum(kept.values()) / max(len(kept), 1),
        "energy_kept_min": min(kept.values(), default=1.0),
        "adapter_parameters": sum(p.numel() for n, p in model.named_parameters() if "lora_" in n),
        "left_out_relative_change_max": largest[0][1] if largest else 0.0,
        "left_out_largest": {k: round(v, 5) for k, v in largest},
    }
    return model, report


def _change(tuned: Any, base: Any) -> Any:
    """``tuned - base`` in float32, the base first rounded to the tuned weights' dtype."""
    return tuned.float() - base.to(tuned.dtype).float()


def save_bf16_adapter(folder: str | Path) -> None:
    """Rewrite a saved adapter's weights in bfloat16 (half the size; they are cast back to the
    model's dtype when loaded)."""
    import torch
    from safetensors.torch import load_file, save_file

    from fewner.train.lora import ADAPTER_FILE

    path = Path(folder) / ADAPTER_FILE
    state = {k: v.to(torch.bfloat16).contiguous() for k, v in load_file(str(path)).items()}
    save_file(state, str(path), metadata={"format": "pt"})


def extract_model_folder(
    folder: str | Path,
    out: str | Path,
    *,
    rank: int,
    target_modules: tuple[str, ...] | None = None,
    log: Any = print,
) -> dict[str, Any]:
    """A model folder with a rank-``rank`` adapter on the catalogue base model, from a fully
    trained model folder (``fewner source-train --set full=true``); returns the report, which
    is also recorded in the new folder's manifest (``training.extraction``).

    ``target_modules``: default the attention and MLP projections (every linear layer of a
    block)."""
    import tempfile

    import torch
    from transformers import AutoModelForCausalLM

    import fewner
    from fewner.models.catalogue import base_model_record
    from fewner.predictors.extractor import ExtractorPredictor
    from fewner.train.lora import _ATTENTION, _MLP, save_adapter
    from fewner.train.model_loading import load_model

    full = fewner.load(folder)
    if full.adapter is not None or not Path(full.model).is_dir():
        raise ConfigError(f"{folder}: not a fully trained model folder (it has an adapter, or no weights of its own)")
    base_name = (full.base_model or {}).get("name")
    if not base_name:
        raise ConfigError(f"{folder}: its manifest names no base model (base_model.name)")
    targets = tuple(target_modules or _ATTENTION + _MLP)
    log(f"extracting a rank-{rank} adapter on {base_name} from {full.model}")
    tuned = AutoModelForCausalLM.from_pretrained(full.model, dtype=torch.bfloat16).state_dict()
    base, _tokenizer, _ = load_model(str(base_name), log, torch.device("cpu"))
    model, report = extract_lora(base, tuned, rank=rank, target_modules=targets)
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="fewner-extract-") as tmp:
        adapter = save_adapter(model, Path(tmp) / "adapter")
        save_bf16_adapter(adapter)
        predictor = ExtractorPredictor(
            str(base_name), full.labels, adapter=adapter, template=full.template_name,
            layout=full.layout, generic_definitions=full.generic_definitions,
            training={**(full.training or {}), "extraction": {**report, "from": str(Path(folder).resolve())}},
            metrics=full.metrics, base_model=base_model_record(str(base_name)),
        )
        predictor.save(out)
    return report
