"""Where torch work runs: one rule for ``device`` settings (``auto``, ``cpu``, ``cuda``,
``cuda:N``), checked before any work so a bad name or a missing GPU is one line, not a torch
error deep inside a run. torch is imported only when a device is resolved (configs stay light)."""

from __future__ import annotations

from typing import Any

from fewner.errors import ConfigError

__all__ = ["resolve_device"]


def resolve_device(device: Any) -> Any:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; any other name as a
    ``torch.device``, refused when it is not one or names CUDA without a visible GPU."""
    import torch

    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(f"device: {device!r} is not a device (cpu, cuda, cuda:N or auto)") from err
    if target.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r}: no CUDA GPU is visible to torch here; use cpu or auto")
    return target
