"""Click options that several commands share, defined once so their names and defaults agree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from fewner.models.catalogue import DEFAULT_CAUSAL_MODEL

BACKEND_CHOICES = ("hf", "llamacpp", "openai")


def model_and_backend(model_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--model/-m`` (default: the catalogue's default causal LM) and ``--backend/-b``
    (stored as ``kind``)."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        command = click.option(
            "--backend",
            "-b",
            "kind",
            type=click.Choice(BACKEND_CHOICES),
            default="hf",
            show_default=True,
        )(command)
        return click.option(
            "--model", "-m", default=DEFAULT_CAUSAL_MODEL, show_default=True, help=model_help
        )(command)

    return decorate
