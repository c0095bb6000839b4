"""``fewner data``: inspect and convert NER data files (a thin layer over :mod:`fewner.data.io`).

Results go to stdout (a rich table, or JSON with ``--json``); what reading skipped or repaired goes
to stderr through :func:`fewner.cli.common.report_read`, so nothing is dropped silently.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import click

from fewner.cli.options import reading_options
from fewner.data.formats import FORMATS, format_names
from fewner.data.io import ReadResult, read_corpus_detailed, write_corpus
from fewner.data.schemes import POLICIES, SCHEMES

# CLI choices come from the registries, so a registered format or scheme is offered at once.
_READ_FORMATS = click.Choice(["auto", *format_names()])
_WRITE_FORMATS = click.Choice(format_names(writable=True))
_SCHEMES = click.Choice(["auto", *SCHEMES])


def _read_options(scheme_flag: str):
    """Options every reading command shares; ``scheme_flag`` names the input-scheme option."""
    return lambda func: _add_read_options(func, scheme_flag)


def _add_read_options(func, scheme_flag: str):
    options = [
        click.option(scheme_flag, "scheme", type=_SCHEMES, default="auto", show_default=True,
                     help="Tag scheme of the input's tags (column files); auto detects it over the whole file."),
        click.option("--policy", type=click.Choice(list(POLICIES)), default="repair", show_default=True,
                     help="Invalid tag sequences: repair (conlleval/seqeval default) or strict (drop malformed chunks). Both are counted."),
        reading_options(expose=True),  # the same --encoding/--encoding-errors as every command
        click.option("--fewnerd-labels", is_flag=True,
                     help="Restore official Few-NERD type names (person_actor -> person-actor), for the unofficial BIO INTER test file."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _read(path: Path, fmt: str, scheme: str, policy: str, encoding: str, encoding_errors: str,
          fewnerd_labels: bool) -> ReadResult:
    from fewner.cli.common import report_read

    result = read_corpus_detailed(path, fmt, scheme, policy, encoding, encoding_errors,
                                  normalize_fewnerd=fewnerd_labels)
    report_read(result.corpus)
    return result


def _group_help() -> str:
    """The group's help: what it does and every registered format with its description."""
    width = max(len(name) for name in format_names())
    rows = [f"  {name:<{width}}  {FORMATS[name].description}" for name in format_names()]
    return "Read, inspect and convert NER data files.\n\n\b\nFormats:\n" + "\n".join(rows)


@click.group(help=_group_help())
def data() -> None:
    """Read, inspect and convert NER data files (the formats: fewner.data.formats.FORMATS)."""


@data.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=_READ_FORMATS, default="auto", show_default=True,
              help="Input format; auto guesses from extension and content.")
@_read_options("--scheme")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON instead of a table.")
def stats(file: Path, fmt: str, scheme: str, policy: str, encoding: str, encoding_errors: str,
          fewnerd_labels: bool, as_json: bool) -> None:
    """Count sentences, tokens and entity mentions per type in FILE.

    Also reports documents (CoNLL -DOCSTART-), and what reading skipped (blank lines, DOCSTART)
    or repaired (invalid tag sequences).

    \b
    Example:
      fewner data stats conll2003/test.txt
      fewner data stats big_test.txt --fewnerd-labels --json
    """
    result = _read(file, fmt, scheme, policy, encoding, encoding_errors, fewnerd_labels)
    summary = corpus_stats(result)
    if as_json:
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        _print_table(summary)


def corpus_stats(result: ReadResult) -> dict[str, Any]:
    """The numbers ``fewner data stats`` prints, as a JSON-ready dict."""
    corpus = result.corpus
    per_type = Counter(span.label for sentence in corpus for span in sentence.spans)
    docs = {dict(s.meta).get("doc") for s in corpus} - {None}
    return {
        "file": corpus.name,
        "format": result.format,
        "scheme": result.scheme,
        "sentences": len(corpus),
        "documents": len(docs),
        "tokens": sum(len(s.tokens) for s in corpus),
        "mentions": sum(per_type.values()),
        "types": dict(sorted(per_type.items(), key=lambda kv: (-kv[1], kv[0]))),
        "skipped": dict(sorted(corpus.skipped.items())),
        "repaired": dict(sorted(corpus.repaired.items())),
    }


def _print_table(summary: dict[str, Any]) -> None:
    from rich.table import Table

    from fewner.cli.common import out

    head = Table(title=f"{summary['file']} ({summary['format']}"
                 + (f", {summary['scheme'].upper()}" if summary["scheme"] else "") + ")")
    head.add_column("what")
    head.add_column("count", justify="right")
    for key in ("sentences", "documents", "tokens", "mentions"):
        head.add_row(key, f"{summary[key]:,}")
    for kind in ("skipped", "repaired"):
        for reason, count in summary[kind].items():
            head.add_row(f"{kind}: {reason}", f"{count:,}")
    out.print(head)
    if summary["types"]:
        types = Table(title="mentions per type")
        types.add_column("type")
        types.add_column("mentions", justify="right")
        for label, count in summary["types"].items():
            types.add_row(label, f"{count:,}")
        out.print(types)


@data.command()
@click.argument("src", metavar="IN", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("dst", metavar="OUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from", "from_fmt", type=_READ_FORMATS, default="auto", show_default=True,
              help="Input format; auto guesses from extension and content.")
@click.option("--to", "to_fmt", type=_WRITE_FORMATS, default=None,
              help="Output format [default: the writable format OUT's extension names "
                   "(jsonl for .jsonl), else tags].")
@click.option("--scheme", "out_scheme", type=click.Choice(list(SCHEMES)), default="bio", show_default=True,
              help="Tag scheme written to conll/tags outputs (IO merges adjacent mentions of one type).")
@_read_options("--in-scheme")
def convert(src: Path, dst: Path, from_fmt: str, to_fmt: str | None, out_scheme: str, scheme: str,
            policy: str, encoding: str, encoding_errors: str, fewnerd_labels: bool) -> None:
    """Convert IN to OUT between formats and tag schemes.

    --scheme is the tag scheme written; --in-scheme the input's (default: detected). JSONL output keeps ids,
    tokens and meta, so JSONL -> conll/tags -> JSONL loses nothing but POS/chunk columns.

    \b
    Examples:
      fewner data convert test.txt test.jsonl                      # CoNLL -> JSONL
      fewner data convert big_test.txt io.txt --to tags --scheme io --fewnerd-labels
    """
    result = _read(src, from_fmt, scheme, policy, encoding, encoding_errors, fewnerd_labels)
    target = to_fmt or _format_for(dst)
    write_corpus(result.corpus, dst, target, out_scheme)
    from fewner.cli.common import err

    err.print(f"wrote {len(result.corpus):,} sentences to {dst} ({target}"
              + (f", {out_scheme.upper()}" if target in ("conll", "tags") else "") + ")")


def _format_for(path: Path) -> str:
    """The writable format whose extensions include ``path``'s (jsonl for .jsonl), else tags."""
    suffix = path.suffix.lower()
    for name in format_names(writable=True):
        if suffix in FORMATS[name].extensions:
            return name
    return "tags"
