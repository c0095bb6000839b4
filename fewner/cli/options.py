"""Click options that several commands share, defined once so their names and defaults agree."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fewner.backends.factory import backend_names
from fewner.models.catalogue import DEFAULT_CAUSAL_MODEL

# from the backend registry (plugins included), so the choices never go stale
BACKEND_CHOICES = tuple(backend_names())


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


def run_outputs(
    cache_help: str = "SQLite answer cache [default: OUT.run/cache.sqlite].",
    no_cache_help: str = "Do not store or reuse answers.",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--cache`` (stored as ``cache_path``), ``--no-cache`` and ``--run-dir``: where a command
    that writes OUT keeps its answer cache (so a killed run resumes) and its config/metrics."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        command = click.option(
            "--run-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Config and metrics folder [default: OUT.run].",
        )(command)
        command = click.option("--no-cache", is_flag=True, help=no_cache_help)(command)
        return click.option(
            "--cache",
            "cache_path",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help=cache_help,
        )(command)

    return decorate


def run_folder(output: Path, run_dir: Path | None) -> Path:
    """``--run-dir``, else ``OUT.run`` beside the output file."""
    return run_dir if run_dir is not None else output.with_name(output.stem + ".run")


def answer_cache(cache_path: Path | None, no_cache: bool, folder: Path) -> Path | None:
    """The cache file a backend should use: None with ``--no-cache``, else ``--cache`` or
    ``FOLDER/cache.sqlite``."""
    return None if no_cache else (cache_path or folder / "cache.sqlite")


def config_and_recipe(
    preset_kind: str,
    *,
    default: str | None,
    example: str,
    describe: Callable[[str], str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--config FILE`` (stored as ``config_path``), ``--recipe NAME`` (a preset shipped in
    ``fewner/resources/<preset_kind>/``) and an eager ``--list-recipes`` for a command whose
    settings are a layered config (preset, file, ``--set``). ``default``: the preset used when
    neither is given (None: one of them is required); ``example``: a config file for the help;
    ``describe(name)``: the line ``--list-recipes`` prints after each name."""
    from fewner.config_schema import list_presets, preset_description

    names = list_presets(preset_kind)
    describe = describe or (lambda name: preset_description(preset_kind, name))

    def listing(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if not value or ctx.resilient_parsing:
            return
        for name in names:
            click.echo(f"{name}: {describe(name)}")
        ctx.exit()

    when_none = f"[default: {default} without --config]" if default else "(or give --config)"

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        command = click.option(
            "--list-recipes", is_flag=True, is_eager=True, expose_value=False, callback=listing,
            help="List the packaged recipes and exit.",
        )(command)
        command = click.option(
            "--recipe", type=click.Choice(names), default=None,
            help=f"A recipe shipped with fewner (fewner/resources/{preset_kind}/) {when_none}; "
            "with --config, the recipe the file's keys are merged over.",
        )(command)
        return click.option(
            "--config", "config_path", default=None,
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help=f"Config file (YAML), e.g. {example}; `recipe: NAME` in it starts from a recipe.",
        )(command)

    return decorate
