"""Click options that several commands share, defined once so their names and defaults agree."""

from __future__ import annotations

import functools
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


ENCODING_ERRORS = ("strict", "replace", "ignore")


def reading_options(*, expose: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--encoding`` and ``--encoding-errors``, the same on every command that reads a data file
    (the reader's UTF-8 error advice names them). ``expose=False``: the command body runs inside
    :func:`fewner.data.reading.reading`, so every data file it reads (INPUT, --gold, the files a
    config names) is decoded that way without passing them on; ``expose=True``: the command
    receives ``encoding`` and ``encoding_errors`` and passes them itself. Data warnings
    (:class:`fewner.data.reading.DataWarning`) print as one line
    (:func:`fewner.cli.common.plain_warnings`)."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        if not expose:
            inner = command

            @functools.wraps(inner)
            def command(*args: Any, encoding: str, encoding_errors: str, **kwargs: Any) -> Any:
                from fewner.cli.common import plain_warnings
                from fewner.data.reading import reading

                with reading(encoding, encoding_errors), plain_warnings():
                    return inner(*args, **kwargs)

        command = click.option(
            "--encoding-errors", type=click.Choice(ENCODING_ERRORS), default="strict",
            show_default=True,
            help="Undecodable bytes in data files: strict = an error naming the line and byte "
            "offset; replace = U+FFFD; ignore = drop them.",
        )(command)
        return click.option(
            "--encoding", default="utf-8", show_default=True,
            help="Text encoding of the data files, e.g. latin-1.",
        )(command)

    return decorate


def _apply_threads(ctx: click.Context, _param: click.Parameter, value: int | None) -> int | None:
    if ctx.resilient_parsing:
        return value
    from fewner.backends.threads import set_threads

    return set_threads(value)


def threads_option(
    what: str = "torch and llama.cpp", *, expose: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--threads N``: CPU threads for the model computations, set while the options are
    parsed, before any model loads (:mod:`fewner.backends.threads`). ``expose=True``: the
    command also receives the count in force as ``threads``."""
    return click.option(
        "--threads", type=click.IntRange(min=1), default=None, callback=_apply_threads,
        expose_value=expose,
        help=f"CPU threads for {what} [default: $FEWNER_THREADS, else $OMP_NUM_THREADS, else "
        "half the cores, 1 to 8: all cores stall when another process holds one].",
    )
