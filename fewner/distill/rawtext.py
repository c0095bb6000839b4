"""Raw text to sentences, for the teacher to annotate (e.g. the BBC News articles).

A folder is read recursively (``*.txt``, sorted, so the order is the same on every machine);
each file is split into paragraphs at blank lines, and paragraphs into sentences by
:func:`fewner.text.sentences.sentence_spans` without its abbreviation rule: after ``.``, ``!``
or ``?`` (optionally followed by a closing quote or bracket) when whitespace and an upper-case
letter, digit or opening quote follow; whitespace runs become single spaces. A rule this simple
splits after some abbreviations ("Mr. Blair"); for teacher input that is harmless (each piece is
annotated on its own), and it keeps the sentence ids of earlier runs. Sentences are tokenized by
:func:`fewner.data.tokenize.tokenize`; ids are ``<relative path>:<paragraph>:<sentence>``.

Bytes that are not UTF-8 become U+FFFD and are counted (``bbc_news/sport/199.txt`` holds one
Latin-1 byte); nothing is skipped silently.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

from fewner.data.tokenize import sentence_from_text
from fewner.errors import DataFormatError
from fewner.text.sentences import sentence_spans
from fewner.types import Corpus

__all__ = ["read_raw_folder", "split_sentences"]

_PARAGRAPH = re.compile(r"\n\s*\n")


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of one paragraph (see the module docstring for the rule)."""
    return [" ".join(paragraph[a:b].split()) for a, b in sentence_spans(paragraph, abbreviations=())]


def read_raw_folder(
    folder: str | Path, min_words: int = 4, limit: int | None = None, seed: int | None = None
) -> Corpus:
    """Sentences of every ``*.txt`` under ``folder`` (or of one file); shorter than
    ``min_words`` words skipped and counted. ``limit``: keep N sentences, the first N, or with
    ``seed`` a seeded random sample of N in reading order (spread over all files and
    categories instead of the first few articles)."""
    root = Path(folder)
    files = sorted(p for p in root.rglob("*.txt") if p.is_file()) if root.is_dir() else [root]
    if not files:
        raise DataFormatError(str(root), "no .txt files found")
    corpus = Corpus(name=str(root), sentences=[], skipped=Counter(), repaired=Counter())
    for path in files:
        raw = path.read_bytes()
        text = raw.decode("utf-8", errors="replace")
        bad = text.count("\ufffd") - raw.decode("utf-8", errors="ignore").count("\ufffd")
        if bad:
            corpus.repaired["undecodable byte replaced by U+FFFD"] += bad
        rel = path.relative_to(root).as_posix() if root.is_dir() else path.name
        for p, paragraph in enumerate(_PARAGRAPH.split(text)):
            for s, sentence in enumerate(split_sentences(paragraph)):
                if len(sentence.split()) < min_words:
                    corpus.skipped[f"sentence under {min_words} words"] += 1
                    continue
                meta = (("file", rel), ("paragraph", str(p)))
                corpus.sentences.append(sentence_from_text(sentence, f"{rel}:{p}:{s}", meta))
                if seed is None and limit is not None and len(corpus.sentences) >= limit:
                    return corpus
    if seed is not None and limit is not None and limit < len(corpus.sentences):
        keep = sorted(random.Random(seed).sample(range(len(corpus.sentences)), limit))
        corpus.sentences = [corpus.sentences[i] for i in keep]
    return corpus
