"""fewner's interchange format: one JSON object per line, entities as character offsets.

```
{"id": "s1", "text": "Adam Sandler stars.", "entities": [{"start": 0, "end": 12, "label": "person"}],
 "tokens": [["Adam", 0, 4], ["Sandler", 5, 12], ["stars", 13, 18], [".", 18, 19]],
 "meta": {"file": "x.txt"}}
```

* ``text`` is required; ``id`` defaults to ``<file name>:<line>``; ``entities`` defaults to none.
* ``tokens`` is optional. Without it the text is tokenized with :func:`fewner.data.tokenize.tokenize`,
  with forced breaks at entity boundaries so every entity falls on token boundaries. With it, each
  token's text must equal ``text[start:end]``, tokens must be in order and must not overlap, and
  every entity must start and end on token boundaries.
* Entities must lie inside the text, must not start or end on whitespace and must not overlap
  (tag formats cannot express overlap; the data model keeps one label per character).
* ``meta`` (optional) is an object of string values, kept in ``Sentence.meta``.
* Blank lines and records with empty ``text`` are skipped and counted.
* ``abstained_types`` (optional, written by refusal-aware extractors): the entity types the model
  said it is not sure about for this sentence. Readers of sentences ignore it; it is read apart by
  :func:`read_abstentions`, because an abstention is not "no entity" and must not become one.

The writer always writes ``tokens``, so CoNLL/tag tokenization survives a round trip exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fewner.data.formats import FORMATS, DataFormat, ReadOptions, Sample
from fewner.data.formats._source import Source, json_line, read_lines
from fewner.data.tokenize import tokenize
from fewner.errors import DataFormatError, SpanAlignmentError
from fewner.types import Corpus, Sentence, Span, Token

BLANK = "blank line"
EMPTY = "empty sentence (no text)"


def read_jsonl(source: Source, label_map=None) -> Corpus:
    """Read fewner JSONL; every problem is a DataFormatError naming the line."""
    corpus = Corpus(name=source.name, sentences=[])
    for lineno, line in enumerate(source.lines, start=1):
        if not line.strip():
            corpus.skipped[BLANK] += 1
            continue
        record = json_line(source, line, lineno)
        if isinstance(record, dict) and record.get("text") == "" and not record.get("entities"):
            corpus.skipped[EMPTY] += 1
            continue
        corpus.sentences.append(_sentence(source, record, lineno, label_map))
    if not corpus.sentences:
        raise source.error("no sentences found: the file is empty or holds only blank lines")
    return corpus


def _sentence(source: Source, record: Any, lineno: int, label_map) -> Sentence:
    def fail(problem: str):
        return source.error(problem, lineno)

    if not isinstance(record, dict):
        raise fail(f"expected a JSON object, found {type(record).__name__}")
    if "support" in record and "query" in record:
        raise fail("this is a Few-NERD episode file; read it with read_episodes / `fewner episodes`")
    text = record.get("text")
    if not isinstance(text, str):
        raise fail('missing or non-string "text"')
    sid = record.get("id", f"{source.name}:{lineno}")
    if not isinstance(sid, str | int):
        raise fail('"id" must be a string or an integer')
    spans = _spans(record.get("entities", []), text, fail, label_map)
    meta_obj = record.get("meta", {})
    if not isinstance(meta_obj, dict) or not all(isinstance(v, str) for v in meta_obj.values()):
        raise fail('"meta" must be an object with string values')
    meta = tuple((str(k), v) for k, v in meta_obj.items())
    if "tokens" in record:
        tokens = _tokens(record["tokens"], text, fail)
    else:
        tokens = tuple(tokenize(text, [b for s in spans for b in (s.start, s.end)]))
    sentence = Sentence(id=str(sid), text=text, tokens=tokens, spans=spans, meta=meta)
    for span in sentence.spans:
        try:
            sentence.char_span_to_tokens(span)
        except SpanAlignmentError:
            raise fail(
                f"entity {span.label} [{span.start}, {span.end}) {sentence.mention(span)!r} does not "
                "start and end on token boundaries"
            ) from None
    return sentence


def _spans(entities: Any, text: str, fail, label_map) -> tuple[Span, ...]:
    if not isinstance(entities, list):
        raise fail('"entities" must be a list')
    spans: list[Span] = []
    for ent in entities:
        if not isinstance(ent, dict) or not {"start", "end", "label"} <= ent.keys():
            raise fail(f'each entity needs "start", "end" and "label": {ent!r}')
        start, end, label = ent["start"], ent["end"], ent["label"]
        if not (type(start) is int and type(end) is int and isinstance(label, str) and label):
            raise fail(f"entity offsets must be integers and its label a non-empty string: {ent!r}")
        if not (0 <= start < end <= len(text)):
            raise fail(f"entity {label} [{start}, {end}) lies outside the text ({len(text)} characters)")
        if text[start].isspace() or text[end - 1].isspace():
            raise fail(f"entity {label} [{start}, {end}) {text[start:end]!r} starts or ends with whitespace")
        spans.append(Span(start, end, label_map(label) if label_map else label))
    spans.sort()
    for a, b in zip(spans, spans[1:], strict=False):
        if a.overlaps(b):
            raise fail(f"entities overlap: {a.label} [{a.start}, {a.end}) and {b.label} [{b.start}, {b.end})")
    return tuple(spans)


def _tokens(raw: Any, text: str, fail) -> tuple[Token, ...]:
    if not isinstance(raw, list):
        raise fail('"tokens" must be a list of [text, start, end]')
    tokens: list[Token] = []
    prev_end = 0
    for item in raw:
        if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str)
                and type(item[1]) is int and type(item[2]) is int):
            raise fail(f"bad token {item!r}; expected [text, start, end]")
        tok, start, end = item
        if not (prev_end <= start < end <= len(text)) or text[start:end] != tok:
            raise fail(
                f"token {tok!r} [{start}, {end}) does not match the text there "
                f"({text[start:end]!r}) or overlaps/precedes the previous token"
            )
        tokens.append(Token(tok, start, end))
        prev_end = end
    return tuple(tokens)


def sentence_record(sentence: Sentence) -> dict[str, Any]:
    """The JSONL object for one sentence (also used by other writers of fewner JSONL)."""
    record: dict[str, Any] = {
        "id": sentence.id,
        "text": sentence.text,
        "entities": [{"start": s.start, "end": s.end, "label": s.label} for s in sentence.spans],
        "tokens": [[t.text, t.start, t.end] for t in sentence.tokens],
    }
    if sentence.meta:
        record["meta"] = dict(sentence.meta)
    return record


def write_jsonl(
    sentences: Iterable[Sentence],
    path: Path,
    abstained: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Write fewner JSONL; with ``abstained`` (sentence id -> refused types) every record gets an
    ``abstained_types`` list, empty for sentences without abstentions."""

    def record(sentence: Sentence) -> dict[str, Any]:
        rec = sentence_record(sentence)
        if abstained is not None:
            rec["abstained_types"] = list(abstained.get(sentence.id, ()))
        return rec

    lines = (json.dumps(record(s), ensure_ascii=False) + "\n" for s in sentences)
    path.write_text("".join(lines), encoding="utf-8", newline="\n")


def read_abstentions(path: str | Path) -> dict[str, list[str]] | None:
    """Sentence id -> ``abstained_types`` of a fewner JSONL file; None when no record has the key
    (the file comes from an extractor that cannot abstain). Ids default like :func:`read_jsonl`'s
    (``<file name>:<line>``), so the keys match the sentences read from the same file. A bad
    value (or undecodable bytes) is a :class:`~fewner.errors.DataFormatError` naming the line."""
    source = read_lines(path)
    found: dict[str, list[str]] | None = None
    for lineno, line in enumerate(source.lines, start=1):
        if not line.strip():
            continue
        try:
            record = json_line(source, line, lineno)
        except DataFormatError:
            return None  # not JSONL: read_jsonl reports the error when it reads the file
        if not isinstance(record, dict) or "abstained_types" not in record:
            continue
        types = record["abstained_types"]
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise source.error('"abstained_types" must be a list of type names', lineno)
        found = {} if found is None else found
        found[str(record.get("id", f"{source.name}:{lineno}"))] = types
    return found


def _read(source: Source, options: ReadOptions) -> tuple[Corpus, None]:
    return read_jsonl(source, options.label_map), None


def _write(sentences: Iterable[Sentence], path: Path, scheme: str) -> None:
    write_jsonl(sentences, path)


def _sniff(sample: Sample) -> bool:
    return bool(sample.lines) and sample.lines[0].lstrip().startswith("{")


FORMATS.register(
    "jsonl",
    DataFormat(
        "jsonl",
        'fewner JSONL: {"id", "text", "entities": [{"start","end","label"}], "tokens"?}',
        _read,
        _write,
        extensions=(".jsonl", ".ndjson"),
        sniff=_sniff,
        sniff_rank=10,
    ),
)
