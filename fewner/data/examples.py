"""Labeled examples in whatever shape a user holds them -> fewner sentences.

Accepted (``fewner.fit`` and everything that takes examples): a data file path (any format
:func:`fewner.data.io.read_corpus` reads), a :class:`~fewner.types.Corpus`, or a sequence of
:class:`~fewner.types.Sentence` objects, ``(text, [(start, end, label), ...])`` pairs, or fewner
JSONL records (``{"text": ..., "entities": [{"start", "end", "label"}]}``). Errors name the
example's position and what was expected.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fewner.data.spec import sentences_from_records
from fewner.errors import ConfigError
from fewner.types import Corpus, Sentence

__all__ = ["as_examples"]


def as_examples(examples: Any, *, format: str = "auto") -> list[Sentence]:
    """The sentences ``examples`` describe (module docstring); never empty."""
    if isinstance(examples, str | Path):
        from fewner.data.io import read_corpus

        sentences = read_corpus(Path(examples), format=format).sentences
    elif isinstance(examples, Corpus):
        sentences = list(examples.sentences)
    elif isinstance(examples, Iterable) and not isinstance(examples, dict | bytes):
        sentences = sentences_from_records([_record(x, i) for i, x in enumerate(examples)], "examples")
    else:
        raise ConfigError(
            f"examples: expected a file path or a list of examples, got {type(examples).__name__}"
        )
    if not sentences:
        raise ConfigError("examples: no sentences given")
    return sentences


def _record(item: Any, i: int) -> Any:
    """A Sentence or JSONL record as is; a ``(text, spans)`` pair as a JSONL record."""
    if isinstance(item, Sentence | dict):
        return item
    if isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], str):
        text, spans = item
        entities = []
        for j, span in enumerate(spans):
            if not (isinstance(span, tuple | list) and len(span) == 3):
                raise ConfigError(
                    f"examples[{i}]: entity {j} must be (start, end, label), got {span!r}"
                )
            start, end, label = span
            entities.append({"start": start, "end": end, "label": label})
        return {"id": f"example-{i}", "text": text, "entities": entities}
    raise ConfigError(
        f"examples[{i}]: expected a Sentence, a (text, [(start, end, label), ...]) pair or a "
        f"mapping with text and entities, got {type(item).__name__}"
    )
