"""The one ``data:`` spec every config shares: a file or inline examples, and which part to use.

A spec names a data file (``path``, relative to the config's ``data_root`` unless absolute, in
any format :func:`fewner.data.io.read_corpus` reads) **or** carries the examples themselves
(``inline``: fewner JSONL records ``{"text": ..., "entities": [{"start", "end", "label"}]}``,
or :class:`~fewner.types.Sentence` objects when built from Python). Inline data is how
``fewner.fit`` trains on examples held in memory without writing temporary files; the resolved
config records inline examples as JSONL records, so a run stays reproducible from its folder.

``skip`` drops the first N sentences, then ``limit`` keeps the first N of the rest (all when
null): two stages can take disjoint parts of one file. ``types``: the entity types to use
(null: every label found in the sentences used, sorted). ``names``: labels renamed as read
(``{PER: person}``), so a prompt asks for the word a model knows rather than a tag; ``types``
then uses the new names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fewner.errors import ConfigError
from fewner.types import Sentence

__all__ = ["DataSpec", "default_data_root", "rename_labels", "sentences_from_records"]


def default_data_root() -> str:
    """``$FEWNER_SHARED_DATA`` when set, else ``../shared/data`` (beside the checkout)."""
    return os.environ.get("FEWNER_SHARED_DATA") or "../shared/data"


@dataclass
class DataSpec:
    """A data file or inline examples, and which part of them to use (module docstring)."""

    path: str | None = None
    format: str = "auto"
    limit: int | None = None
    types: list[str] | None = None
    skip: int = 0
    inline: list[Any] | None = None
    names: dict[str, str] | None = None

    def check(self, where: str) -> None:
        if (self.path is None) == (self.inline is None):
            raise ConfigError(f"{where}: give either path (a data file) or inline (examples)")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"{where}.limit must be >= 1 (or null for all), got {self.limit}")
        if self.skip < 0:
            raise ConfigError(f"{where}.skip must be >= 0 (sentences to drop first), got {self.skip}")
        if self.types is not None and not self.types:
            raise ConfigError(f"{where}.types: give at least one type, or null for all labels")
        if self.names is not None and (
            not isinstance(self.names, dict)
            or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in self.names.items())
        ):
            raise ConfigError(f"{where}.names: a mapping of label -> new name, e.g. {{PER: person}}")

    def describe(self) -> str:
        return self.path if self.path is not None else f"<{len(self.inline or [])} inline examples>"

    def resolve_path(self, data_root: str | Path) -> Path:
        assert self.path is not None
        path = Path(self.path).expanduser()
        return path if path.is_absolute() else Path(data_root) / path

    def sentences(self, data_root: str | Path = ".") -> list[Sentence]:
        """The sentences this spec selects (after ``skip`` and ``limit``); never empty."""
        if self.inline is not None:
            where = "inline data"
            all_sentences = sentences_from_records(self.inline)
        else:
            from fewner.data.io import read_corpus

            path = self.resolve_path(data_root)
            where = str(path)
            if not path.is_file():
                raise ConfigError(f"data file not found: {path} (data_root: {data_root})")
            all_sentences = read_corpus(path, format=self.format).sentences
        chosen = all_sentences[self.skip :]
        chosen = chosen[: self.limit] if self.limit is not None else chosen
        if not chosen:
            raise ConfigError(f"no sentences in {where}")
        return rename_labels(chosen, self.names) if self.names else chosen

    def sentences_and_types(self, data_root: str | Path = ".") -> tuple[list[Sentence], list[str]]:
        """The sentences and the types to use (``types``, else every label found, sorted)."""
        sentences = self.sentences(data_root)
        types = (
            list(self.types)
            if self.types is not None
            else sorted({s.label for x in sentences for s in x.spans})
        )
        if not types:
            raise ConfigError(
                f"{self.describe()}: no entity types given and none found in the data; set types"
            )
        wanted = set(types)
        if not any(span.label in wanted for x in sentences for span in x.spans):
            import warnings

            from fewner.data.reading import DataWarning

            warnings.warn(
                f"{self.describe()}: not one entity of {', '.join(types)} in the "
                f"{len(sentences)} sentences used; training on them teaches only \"none\" "
                "answers and scores on them are 0 (wrong file, or labels named differently?)",
                DataWarning,
                stacklevel=2,
            )
        return sentences, types

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data (inline sentences as JSONL records), for a resolved config."""
        from fewner.data.formats.jsonl import sentence_record

        inline = None
        if self.inline is not None:
            inline = [sentence_record(x) if isinstance(x, Sentence) else x for x in self.inline]
        return {
            "path": self.path,
            "format": self.format,
            "limit": self.limit,
            "types": self.types,
            "skip": self.skip,
            "inline": inline,
            "names": self.names,
        }


def rename_labels(sentences: list[Sentence], names: dict[str, str]) -> list[Sentence]:
    """The sentences with each span's label replaced by ``names[label]`` (others kept)."""
    from fewner.types import Span

    return [
        s.with_spans(Span(x.start, x.end, names.get(x.label, x.label)) for x in s.spans)
        for s in sentences
    ]


def sentences_from_records(records: list[Any], prefix: str = "inline") -> list[Sentence]:
    """Sentences from :class:`Sentence` objects or fewner JSONL records (``text`` + character
    ``entities``; ``tokens`` optional). Errors name the record's position."""
    import json

    from fewner.data.formats._source import Source
    from fewner.data.formats.jsonl import read_jsonl

    out: list[Sentence] = []
    for i, item in enumerate(records):
        if isinstance(item, Sentence):
            out.append(item)
        elif isinstance(item, dict):
            line = json.dumps({"id": f"{prefix}-{i}", **item}, ensure_ascii=False)
            out.extend(read_jsonl(Source(Path(f"{prefix}[{i}]"), [line])).sentences)
        else:
            raise ConfigError(
                f"{prefix}[{i}]: expected a Sentence or a mapping with text and entities, "
                f"got {type(item).__name__}"
            )
    return out
