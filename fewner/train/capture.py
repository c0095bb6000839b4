"""Record the outputs of chosen modules during one forward pass.

Why hooks and not a second pass: a loss term that recomputes activations in its own pass (TRL's
``SFTTrainer`` does it under ``no_grad``) silently trains nothing. A forward hook keeps the very tensor the model computed, with its autograd
history, so a loss on it back-propagates into whatever produced it. Through a peft-wrapped model
the hooked module is the LoRA wrapper (``lora.Linear``), whose output is ``base(x) + delta(x)``:
gradients of a loss on it reach ``lora_A``/``lora_B``.

Also here: :func:`decoder_layers` finds the stack of decoder blocks of a (peft-wrapped) causal LM
and :func:`resolve_layer` turns a config layer spec (an index or a fraction of depth) into an index.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from torch import Tensor, nn

from fewner.errors import ConfigError

__all__ = ["capture_outputs", "decoder_layers", "resolve_layer", "unwrap_model"]


@contextmanager
def capture_outputs(
    named_modules: Mapping[str, nn.Module] | Iterable[tuple[str, nn.Module]],
) -> Iterator[dict[str, Tensor]]:
    """Yield a dict that fills with ``name -> output`` as the named modules run.

    Run exactly one forward pass inside the block; the hooks are removed on exit (also on error)
    and the dict keeps the tensors. Outputs are stored as computed (not detached, not copied);
    a tuple output is stored by its first element (decoder layers return ``(hidden, ...)`` in
    some transformers versions).

    A module that runs a second time inside the block raises :class:`RuntimeError` rather than
    silently overwriting the first output: generation, a second forward pass or a backward pass
    under gradient checkpointing (which re-runs forwards) inside the block would otherwise mix
    activations of different passes. Leave the block before calling ``backward()``.
    """
    items = list(named_modules.items() if isinstance(named_modules, Mapping) else named_modules)
    names = [n for n, _ in items]
    if len(set(names)) != len(names):
        raise ValueError(f"capture_outputs: duplicate names in {names}")
    captured: dict[str, Tensor] = {}
    handles = []

    def hook_for(name: str):
        def hook(_module: nn.Module, _args: Any, output: Any) -> None:
            if name in captured:
                raise RuntimeError(
                    f"capture_outputs: module {name!r} ran twice; capture one forward pass at a "
                    "time (leave the block before backward() under gradient checkpointing)"
                )
            captured[name] = output[0] if isinstance(output, tuple) else output

        return hook

    try:
        for name, module in items:
            handles.append(module.register_forward_hook(hook_for(name)))
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def unwrap_model(model: nn.Module) -> nn.Module:
    """The transformers model inside a peft wrapper (``PeftModel.get_base_model()``), else ``model``.

    The LoRA layers stay injected in it: modules found here are the wrapped ones.
    """
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder blocks of a causal LM, plain or peft-wrapped.

    Llama, Qwen, Mistral and Gemma keep them at ``model.model.layers`` (multimodal Gemma 3 at
    ``model.model.language_model.layers``); rather than a list of paths, this takes the first
    :class:`~torch.nn.ModuleList` whose blocks all have a ``self_attn`` attribute, which covers
    these families and their peft wrappers alike.
    """
    base = unwrap_model(model)
    for _name, module in base.named_modules():
        if (
            isinstance(module, nn.ModuleList)
            and len(module) > 0
            and all(hasattr(block, "self_attn") for block in module)
        ):
            return module
    raise ConfigError(
        f"cannot find the decoder layers of {type(base).__name__}: expected a ModuleList of blocks "
        "with a 'self_attn' attribute (Llama/Qwen/Mistral/Gemma style)"
    )


def resolve_layer(spec: int | float, n_layers: int) -> int:
    """A decoder-layer index (0-based) from a config ``layer`` value.

    * an ``int`` is an index; negative counts from the end (``-1`` is the last layer);
    * a ``float`` in [0, 1] is a fraction of depth: ``floor(spec * (n_layers - 1) + 0.5)``, so
      0.0 is the first layer, 1.0 the last and the default 0.8 is layer 23 of SmolLM2's 30.

    ``1`` (int) and ``1.0`` (float) therefore differ: the second layer vs the last one.
    """
    if isinstance(spec, bool) or not isinstance(spec, int | float):
        raise ConfigError(f"layer must be an int index or a float fraction of depth, got {spec!r}")
    if isinstance(spec, float):
        if not 0.0 <= spec <= 1.0:
            raise ConfigError(f"layer fraction must be in [0, 1], got {spec}")
        return int(math.floor(spec * (n_layers - 1) + 0.5))
    index = spec + n_layers if spec < 0 else spec
    if not 0 <= index < n_layers:
        raise ConfigError(f"layer index {spec} out of range for a model with {n_layers} layers")
    return index
