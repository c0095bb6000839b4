"""Ship a fine-tuned encoder as a low-rank difference from the catalogue encoder it came from.

A span model pre-trained with its embeddings frozen differs from its base encoder only in the
transformer layers. :func:`encode_delta` stores, for every changed matrix, the best rank-``r``
approximation of ``W_trained - W_base`` (truncated SVD: ``U @ V`` with the singular values folded
into ``U``) and every changed vector (biases, layer norms) whole, in float16; :func:`apply_delta`
adds them back onto the base weights. The package then carries megabytes instead of the encoder's
hundred, and the base is verified by its sha256 when the catalogue loads it. How much accuracy a
rank costs is measured, not assumed (README).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

__all__ = ["apply_delta", "encode_delta"]


def encode_delta(
    trained: Mapping[str, torch.Tensor], base: Mapping[str, torch.Tensor], rank: int
) -> dict[str, torch.Tensor]:
    """``{name.U, name.V}`` for changed matrices, ``{name.delta}`` for changed vectors (module
    docstring). Parameters equal to the base are left out; a parameter missing from the base is
    an error (the delta would not know what to add to)."""
    out: dict[str, torch.Tensor] = {}
    for name, weight in trained.items():
        if name not in base:
            raise KeyError(f"{name} is not in the base encoder: not a delta of it")
        diff = weight.detach().float() - base[name].detach().float()
        if not torch.any(diff):
            continue
        if diff.dim() == 2 and rank < min(diff.shape) // 2:
            u, s, vh = torch.linalg.svd(diff, full_matrices=False)
            out[f"{name}.U"] = (u[:, :rank] * s[:rank]).to(torch.float16).contiguous()
            out[f"{name}.V"] = vh[:rank].to(torch.float16).contiguous()
        else:
            out[f"{name}.delta"] = diff.to(torch.float16).contiguous()
    return out


def apply_delta(module: torch.nn.Module, delta: Mapping[str, torch.Tensor]) -> int:
    """Add a delta from :func:`encode_delta` onto ``module``'s parameters in place; returns the
    number of parameters changed. An entry naming no parameter of ``module`` is an error."""
    params = dict(module.named_parameters())
    changed = 0
    with torch.no_grad():
        for key, value in delta.items():
            name, part = key.rsplit(".", 1)
            if name not in params:
                raise KeyError(f"the delta changes {name}, which the encoder does not have")
            if part == "delta":
                params[name].add_(value.float())
            elif part == "U":
                params[name].add_(value.float() @ delta[f"{name}.V"].float())
            elif part == "V":
                continue
            else:
                raise KeyError(f"unknown delta entry {key}")
            changed += 1
    return changed
