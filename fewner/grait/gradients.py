"""Per-prompt LoRA gradients, randomly projected to a fixed dimension (GRAIT step 3).

GRAIT compares training samples by the inner products of their gradients (LESS-style gradient
features). The gradient of one example is the gradient of its training loss (the mean token NLL
of its answer, as in SFT) with respect to every trainable (LoRA) parameter, flattened in
``model.named_parameters()`` order. SmolLM2-135M with r=8 on q/k/v/o has about 0.9M LoRA
parameters; features are projected to ``dim`` (default 8192) numbers so that thousands of them
fit in memory and on disk.

Why a CountSketch and not a dense Gaussian matrix: a dense 0.9M x 8192 float32 matrix is 30 GB,
and generating it block by block for every example costs 0.9M x 8192 multiply-adds per example
(seconds on a CPU). A CountSketch (Charikar et al. 2002; Clarkson & Woodruff 2013) assigns each
parameter ``i`` one bucket ``h(i)`` in ``[0, dim)`` and one sign ``s(i)`` in ``{-1, +1}``, both
drawn once from a generator seeded with ``seed``; the feature is
``f[b] = sum over i with h(i) = b of s(i) * g[i]``. It is a random linear map with
``E[<f(a), f(b)>] = <a, b>`` (unbiased inner products, variance about ``|a|^2 |b|^2 / dim``),
costs one pass over the gradient, and its whole state is ``P`` bucket indices and signs (about
11 MB for 0.9M parameters). The same seed gives the same map on every run and machine (torch's
CPU generator), so stored features stay comparable.

Gradients are taken in eval mode (no LoRA dropout: deterministic features), with the run's
autocast precision, one example at a time; the model's gradients are cleared afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = ["CountSketch", "example_gradient", "gradient_features"]


class CountSketch:
    """A seeded random projection ``R^n -> R^dim`` (see the module docstring)."""

    def __init__(self, n: int, dim: int, seed: int = 0) -> None:
        if n < 1 or dim < 1:
            raise ValueError(f"CountSketch needs n >= 1 and dim >= 1, got n={n}, dim={dim}")
        generator = torch.Generator().manual_seed(int(seed))
        self.n, self.dim, self.seed = n, dim, int(seed)
        self.buckets = torch.randint(0, dim, (n,), generator=generator, dtype=torch.int64)
        self.signs = (
            torch.randint(0, 2, (n,), generator=generator, dtype=torch.int8).float() * 2 - 1
        )

    def __call__(self, vector: torch.Tensor) -> torch.Tensor:
        """The projection of one vector ``[n]`` (or of each row of ``[m, n]``) as float32."""
        if vector.shape[-1] != self.n:
            raise ValueError(f"expected vectors of length {self.n}, got {tuple(vector.shape)}")
        flat = vector.detach().float().cpu()
        if flat.dim() == 1:
            return torch.zeros(self.dim).index_add_(0, self.buckets, flat * self.signs)
        out = torch.zeros(flat.shape[0], self.dim)
        return out.index_add_(1, self.buckets, flat * self.signs)


def example_gradient(
    model: Any,
    batch: dict[str, torch.Tensor],
    params: Sequence[torch.nn.Parameter],
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> torch.Tensor:
    """The flattened gradient of the NLL loss of ``batch`` (one example) w.r.t. ``params``."""
    from fewner.train.losses import build_loss_terms, forward_with_terms

    terms = build_loss_terms([{"name": "nll"}], model)
    model.zero_grad(set_to_none=True)
    with autocast():
        loss, _ = forward_with_terms(model, batch, terms)
    loss.backward()
    flat = torch.cat(
        [
            (p.grad if p.grad is not None else torch.zeros_like(p)).detach().float().reshape(-1)
            for p in params
        ]
    )
    model.zero_grad(set_to_none=True)
    return flat


def gradient_features(
    model: Any,
    examples: Sequence[Any],
    pad_id: int,
    *,
    dim: int,
    seed: int,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """``[len(examples), dim]`` projected gradients of the examples (EncodedExample), in order."""
    from fewner.train.collate import collate
    from fewner.train.lora import trainable_parameters

    params = trainable_parameters(model)
    if not params:
        raise ValueError("the model has no trainable parameters (wrap it with LoRA first)")
    sketch = CountSketch(sum(p.numel() for p in params), dim, seed)
    device = params[0].device
    was_training = model.training
    model.eval()
    out = torch.zeros(len(examples), dim)
    try:
        for i, example in enumerate(examples):
            batch = {k: v.to(device) for k, v in collate([example], pad_id).items()}
            out[i] = sketch(example_gradient(model, batch, params, autocast))
            if progress is not None:
                progress(i + 1)
    finally:
        model.train(was_training)
    return out
