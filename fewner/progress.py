"""Progress bars with an ETA on stderr, shared by the library and the CLI.

Long work (prediction over many sentences, annotation, training) shows one; stdout stays for
results. The bar hides itself when stderr is not a terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["progress_bar", "progress_reporter", "stderr"]

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


class progress_reporter:  # noqa: N801 - used like a function in `with`
    """A context giving ``advance(n)``: a rich progress bar, a user callback, or nothing."""

    def __init__(self, how: bool | Callable[[int], object], total: int, description: str) -> None:
        self.how, self.total, self.description = how, total, description
        self._bar: Any = None

    def __enter__(self) -> Callable[[int], object]:
        if callable(self.how):
            return self.how
        if not self.how:
            return lambda _n: None
        self._bar = progress_bar()
        self._bar.__enter__()
        task = self._bar.add_task(self.description, total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
