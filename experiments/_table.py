"""Markdown tables for the experiment summarizers (imported as ``_table`` from experiments/)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Column = tuple[str, Callable[[dict[str, Any]], Any]]


def fixed(key: str, digits: int = 3) -> Callable[[dict[str, Any]], str]:
    """A cell showing ``row[key]`` with ``digits`` decimals, ``-`` when it is None."""
    return lambda row: "-" if row.get(key) is None else f"{row[key]:.{digits}f}"


def plain(key: str) -> Callable[[dict[str, Any]], str]:
    """A cell showing ``row[key]`` as it is, ``-`` when it is None."""
    return lambda row: "-" if row.get(key) is None else str(row[key])


def print_markdown(columns: Sequence[Column], rows: Sequence[dict[str, Any]]) -> None:
    """Print ``rows`` as a markdown table, one column per ``(header, cell function)``."""
    print("| " + " | ".join(header for header, _ in columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(cell(row)) for _, cell in columns) + " |")
