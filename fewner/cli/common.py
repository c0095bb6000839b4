"""Pieces every CLI command shares: one console, progress bars, and read reports."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from fewner.progress import progress_bar
from fewner.types import Corpus

T = TypeVar("T")

# Results go to stdout; progress and reports go to stderr so stdout stays machine-readable.
out = Console()
err = Console(stderr=True)


def progress() -> Progress:
    """A progress bar on stderr (hidden automatically when stderr is not a terminal)."""
    return progress_bar(err)


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar."""
    with progress() as bar:
        task = bar.add_task(description, total=total if total is not None else _len(items))
        for item in items:
            yield item
            bar.advance(task)


def _len(items: Iterable[object]) -> int | None:
    try:
        return len(items)  # type: ignore[arg-type]
    except TypeError:
        return None


def report_read(corpus: Corpus) -> None:
    """Tell the user what reading skipped or repaired: nothing is dropped silently."""
    for reason, count in sorted(corpus.skipped.items()):
        err.print(f"[yellow]{corpus.name}: skipped {count} x {reason}[/yellow]")
    for reason, count in sorted(corpus.repaired.items()):
        err.print(f"[yellow]{corpus.name}: repaired {count} x {reason}[/yellow]")


@contextmanager
def plain_warnings() -> Iterator[None]:
    """Within the block, fewner's data warnings print as one yellow ``warning:`` line on
    stderr (each once), not as Python's two-line ``file:line: UserWarning`` form."""
    from fewner.data.reading import DataWarning

    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        if issubclass(category, DataWarning):
            err.print(f"[yellow]warning: {escape(str(message))}[/yellow]", soft_wrap=True)
        else:
            previous(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("default", DataWarning)
        warnings.showwarning = show
        yield


@contextmanager
def naming_long_inputs(sentences: list, fix: str) -> Iterator[None]:  # type: ignore[type-arg]
    """A prompt past the context window (:class:`fewner.backends.limits.ContextLengthError`)
    raised inside the block is re-raised naming the longest input sentence (``FILE:LINE``),
    the usual culprit, and ``fix``: for commands whose prompts are built deep in a pipeline."""
    from fewner.backends.limits import ContextLengthError
    from fewner.predict.extractor import sentence_location

    try:
        yield
    except ContextLengthError as error:
        longest = max(sentences, key=lambda s: len(s.text), default=None)
        where = "a prompt" if longest is None else (
            f"a prompt (the longest input sentence is {sentence_location(longest)}, "
            f"{len(longest.tokens)} words)"
        )
        raise error.at(where, fix) from None
