"""Plain text: one sentence (or document) per line, no entities.

Used for unlabeled text to annotate (e.g. the BBC News articles), and what ``format: auto``
takes a file for when no other format recognises it. Each non-blank line becomes a
sentence tokenized by :func:`fewner.data.tokenize.tokenize`, with leading/trailing whitespace
removed; its id is ``<file name>:<line>``. Blank lines are skipped and counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from fewner.data.formats import FORMATS, DataFormat, ReadOptions, Sample
from fewner.data.formats._source import Source
from fewner.data.tokenize import sentence_from_text
from fewner.errors import DataFormatError
from fewner.types import Corpus, Sentence

BLANK = "blank line"


def read_text(source: Source) -> Corpus:
    corpus = Corpus(name=source.name, sentences=[])
    for lineno, line in enumerate(source.lines, start=1):
        text = line.strip()
        if not text:
            corpus.skipped[BLANK] += 1
            continue
        meta = (("file", source.name), ("line", str(lineno)))
        corpus.sentences.append(sentence_from_text(text, f"{source.name}:{lineno}", meta))
    if not corpus.sentences:
        raise source.error("no text found: the file is empty or holds only blank lines")
    return corpus


def write_text(sentences: Iterable[Sentence], path: Path) -> None:
    """One sentence text per line; entities are not written (a line break inside is an error)."""
    out: list[str] = []
    for sentence in sentences:
        if "\n" in sentence.text or "\r" in sentence.text:
            raise DataFormatError(str(path), f"sentence {sentence.id} contains a line break")
        out.append(sentence.text + "\n")
    path.write_text("".join(out), encoding="utf-8", newline="\n")


def _read(source: Source, options: ReadOptions) -> tuple[Corpus, None]:
    return read_text(source), None


def _write(sentences: Iterable[Sentence], path: Path, scheme: str) -> None:
    write_text(sentences, path)


def _sniff(sample: Sample) -> bool:
    return True  # the fallback: any text is text


FORMATS.register(
    "text",
    DataFormat(
        "text",
        "plain text, one sentence or document per line (no entities)",
        _read,
        _write,
        sniff=_sniff,
        sniff_rank=1000,
    ),
)
