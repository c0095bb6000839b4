"""Loading a transformers model without its load report and progress bars.

fewner asks for new heads on purpose (a student's classifier, the span model's heads), so
transformers' "some weights were newly initialized" report is noise, and the CLI shows its own
progress.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["quiet_transformers"]


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
