"""Progress bars with an ETA on stderr, shared by the library and the CLI.

Long work (prediction over many sentences, annotation, training) shows one; stdout stays for
results. The bar hides itself when stderr is not a terminal.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["progress_bar", "stderr"]

stderr = Console(stderr=True)


def progress_bar(console: Console | None = None) -> Progress:
    """A transient progress bar: description, bar, done/total, elapsed and remaining time."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console or stderr,
        transient=True,
    )
