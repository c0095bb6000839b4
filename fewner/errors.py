"""Errors that fewner reports to users as one clear message (the CLI never shows a traceback
for these; see :func:`fewner.cli.main`)."""

from __future__ import annotations


class FewnerError(Exception):
    """Base class: a problem the user can act on. ``str(err)`` is the whole message."""


class DataFormatError(FewnerError):
    """Input that cannot be read: names the file, the line (1-based, when known) and the problem."""

    def __init__(self, path: str, problem: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


class SpanAlignmentError(FewnerError):
    """A character span that does not fall on token boundaries, or a token range out of bounds."""


class ConfigError(FewnerError):
    """A configuration value that is missing, of the wrong type or out of range."""


class ModelNotAvailableError(FewnerError):
    """A model that is not installed or failed verification; the message says how to install it."""


class BackendError(FewnerError):
    """A language-model backend that failed (unreachable server, bad response, ...)."""
