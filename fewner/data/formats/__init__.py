"""File formats fewner reads and writes, registered by name.

Each format lives in its own module; :mod:`fewner.data.io` dispatches on the names below and
contract tests iterate over :data:`FORMATS`, so a new format is tested by the existing tests.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FormatInfo:
    """What a format is, whether fewner can write it, and the file extensions that suggest it."""

    name: str
    description: str
    writable: bool
    extensions: tuple[str, ...] = ()


FORMATS: dict[str, FormatInfo] = {
    "conll": FormatInfo(
        "conll",
        "CoNLL-2003 columns `token POS chunk NER` (-DOCSTART- lines = documents); written as `token _ _ TAG`",
        True,
    ),
    "tags": FormatInfo("tags", "two columns `token<TAB>tag` (BIO, IO or BIOES), blank line between sentences", True),
    "jsonl": FormatInfo("jsonl", "fewner JSONL: text + character-offset entities (+ optional tokens)", True, (".jsonl", ".ndjson")),
    "text": FormatInfo("text", "plain text, one sentence or document per line, no entities", True),
}
