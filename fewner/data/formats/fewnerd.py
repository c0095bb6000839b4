"""Few-NERD episode JSONL and Few-NERD label names.

Episode file (``{train,dev,test}_{N}_{K}.jsonl`` of the Few-NERD release): one episode per line,

```
{"support": {"word": [[tok, ...], ...], "label": [[tag, ...], ...]},
 "query":   {"word": [[...]], "label": [[...]]},
 "types":   ["person-actor", ...]}
```

Labels are IO fine types without prefix (``person-actor``) or ``O``; an ``I-`` prefix is accepted
on reading. Every label must be ``O`` or one of the episode's ``types`` (a label that is itself a
type's name is that type, even if it looks prefixed, so any type the writer writes reads back).
A mention of a type named ``O`` cannot be written (it would read back as no entity). Tags are
decoded with :mod:`fewner.data.schemes` (scheme ``io``), so two adjacent mentions of one type read
as one mention, exactly as the Few-NERD protocol scores them.

Ids: episode ``<file name>:<line>``; sentences ``<episode id>:support:<i>`` / ``...:query:<i>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fewner.data.formats._source import Source, json_line
from fewner.data.schemes import OUTSIDE, spans_to_tags, split_tag, tags_to_spans
from fewner.errors import DataFormatError, SpanAlignmentError
from fewner.types import Episode, Sentence

__all__ = ["fewnerd_label", "read_episode_lines", "write_episode_file"]


def fewnerd_label(tag_label: str) -> str:
    """Official Few-NERD type name from an underscore variant: ``person_actor`` -> ``person-actor``.

    The unofficial BIO re-tagging of the INTER test split (``big_test.txt``) wrote
    ``coarse_fine`` because its tag parser splits at ``-``. No official type name contains ``_``,
    so a label with exactly one ``_`` has it replaced by ``-``; any other label is returned
    unchanged (``organization_government/governmentagency`` -> ``organization-government/...``).
    """
    return tag_label.replace("_", "-") if tag_label.count("_") == 1 else tag_label


def read_episode_lines(source: Source) -> list[Episode]:
    episodes: list[Episode] = []
    for lineno, line in enumerate(source.lines, start=1):
        if not line.strip():
            continue
        record = json_line(source, line, lineno)
        episodes.append(_episode(source, record, lineno))
    if not episodes:
        raise source.error("no episodes found: the file is empty")
    return episodes


def _episode(source: Source, record: Any, lineno: int) -> Episode:
    if not isinstance(record, dict) or not {"support", "query", "types"} <= record.keys():
        raise source.error('an episode needs "support", "query" and "types"', lineno)
    types = record["types"]
    if not isinstance(types, list) or not all(isinstance(t, str) and t for t in types):
        raise source.error('"types" must be a list of type names', lineno)
    eid = f"{source.name}:{lineno}"
    parts = {
        part: _sentences(source, record[part], set(types), f"{eid}:{part}", lineno)
        for part in ("support", "query")
    }
    return Episode(types=tuple(types), support=parts["support"], query=parts["query"], id=eid)


def _sentences(source: Source, part: Any, types: set[str], prefix: str, lineno: int) -> tuple[Sentence, ...]:
    name = prefix.rsplit(":", 1)[-1]
    if not isinstance(part, dict) or not isinstance(part.get("word"), list) or not isinstance(part.get("label"), list):
        raise source.error(f'"{name}" needs lists "word" and "label"', lineno)
    words, labels = part["word"], part["label"]
    if len(words) != len(labels):
        raise source.error(f'"{name}": {len(words)} word lists but {len(labels)} label lists', lineno)
    sentences: list[Sentence] = []
    for i, (toks, tags) in enumerate(zip(words, labels, strict=True)):
        if not isinstance(toks, list) or not isinstance(tags, list) or len(toks) != len(tags):
            raise source.error(f'"{name}" sentence {i}: words and labels differ in length', lineno)
        if not all(isinstance(t, str) and t for t in toks):
            raise source.error(f'"{name}" sentence {i}: words must be non-empty strings', lineno)
        io_tags: list[str] = []
        for tag in tags:
            label = _label(tag, types)
            if label is None:
                raise source.error(
                    f'"{name}" sentence {i}: label {tag!r} is neither O nor one of the episode types',
                    lineno,
                )
            io_tags.append(f"I-{label}" if label else OUTSIDE)
        token_spans, _ = tags_to_spans(io_tags, "io")
        sentences.append(Sentence.from_words(toks, token_spans, id=f"{prefix}:{i}"))
    return tuple(sentences)


def _label(tag: Any, types: set[str]) -> str | None:
    """The type a label names ("" for ``O``; None: no episode type): a type's own name first
    (a type may itself look like ``B-x``), else the name after an ``I-`` / ``B-`` prefix."""
    if not isinstance(tag, str) or not tag:
        return None
    if tag == OUTSIDE:
        return ""
    if tag in types:
        return tag
    label = split_tag(tag, "io")[1]
    return label if label in types else None


def _part(sentences: Iterable[Sentence], path: Path) -> dict[str, list[list[str]]]:
    words: list[list[str]] = []
    labels: list[list[str]] = []
    for sentence in sentences:
        if any(span.label == OUTSIDE for span in sentence.spans):
            raise DataFormatError(
                str(path),
                f"cannot write sentence {sentence.id}: a type named 'O' reads back as no entity",
            )
        try:
            tags = spans_to_tags(sentence.token_spans(), len(sentence.tokens), "io")
        except (SpanAlignmentError, ValueError) as exc:
            raise DataFormatError(str(path), f"cannot write sentence {sentence.id}: {exc}") from None
        words.append(sentence.words)
        labels.append([split_tag(t, "io")[1] if t != OUTSIDE else OUTSIDE for t in tags])
    return {"word": words, "label": labels}


def write_episode_file(episodes: Iterable[Episode], path: Path) -> None:
    """Write episodes in the Few-NERD layout (bare IO labels, ``O`` elsewhere)."""
    lines = []
    for ep in episodes:
        record = {"support": _part(ep.support, path), "query": _part(ep.query, path), "types": list(ep.types)}
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    path.write_text("".join(lines), encoding="utf-8", newline="\n")
