"""spaCy's binary ``.spacy`` files (``DocBin``): the training and evaluation format of spaCy 3.

Why: spaCy users keep their corpora as ``DocBin`` files (``spacy convert``, ``spacy train``), so
fewner reads and writes them directly (``fewner data convert x.jsonl x.spacy``,
``fewner predict x.spacy``, ``read_corpus("x.spacy")``). spaCy is imported only when such a file
is read or written (``pip install 'fewner[spacy]'``).

Mapping, one spaCy ``Doc`` per fewner :class:`~fewner.types.Sentence` (a doc may be a whole
document; fewner does not split it here):

* the text is ``doc.text`` exactly; tokens are spaCy's tokens except whitespace-only ones
  (fewner tokens never hold whitespace); entities are ``doc.ents`` (character offsets, label
  ``ent.label_``). Spans in ``doc.spans`` groups are not read (fewner's data model is flat):
  they are counted in ``Corpus.skipped`` so nothing goes missing unnoticed, as are docs with
  no text and entities that are only whitespace.
* ids and ``meta`` travel in ``doc.user_data`` (``fewner_id``, ``fewner_meta``; the writer sets
  ``store_user_data``). A doc without them gets the id ``<file name>:<n>`` (n: 1-based doc index).
* the writer rebuilds each text exactly: a gap of one space between tokens is spaCy's trailing
  space, any other gap (several spaces, tabs, newlines, leading or trailing whitespace) becomes a
  whitespace token, as spaCy's own tokenizer does.

The file is binary: :data:`DataFormat.binary` tells :mod:`fewner.data.io` not to decode it as
text; ``format: auto`` recognises it by its ``.spacy`` extension.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from fewner.data.formats import FORMATS, DataFormat, ReadOptions, Sample
from fewner.data.formats._source import Source
from fewner.errors import ConfigError, DataFormatError
from fewner.types import Corpus, Sentence, Span, Token

__all__ = ["doc_to_sentence", "read_docbin", "sentence_to_doc", "write_docbin"]

ID_KEY = "fewner_id"
META_KEY = "fewner_meta"
EMPTY = "empty document (no text)"
GROUP_SPANS = "span in a doc.spans group (fewner reads doc.ents only)"
BLANK_ENTITY = "entity of whitespace only"


def _spacy() -> Any:
    try:
        import spacy
    except ModuleNotFoundError:
        raise ConfigError(
            "the docbin format (.spacy files) needs spaCy: pip install 'fewner[spacy]'"
        ) from None
    return spacy


def sentence_to_doc(sentence: Sentence, vocab: Any) -> Any:
    """A spaCy ``Doc`` with ``sentence``'s exact text, its tokens and its spans as ``doc.ents``
    (the id and meta in ``doc.user_data``)."""
    from spacy.tokens import Doc

    words: list[str] = []
    spaces: list[bool] = []
    text = sentence.text
    pos = 0
    for token in sentence.tokens:
        _gap(text[pos : token.start], words, spaces)
        words.append(text[token.start : token.end])
        spaces.append(False)
        pos = token.end
    _gap(text[pos:], words, spaces)
    doc = Doc(vocab, words=words, spaces=spaces)
    if doc.text != text:  # tokens out of order or overlapping: not a valid sentence
        raise ValueError(f"sentence {sentence.id}: its tokens do not rebuild its text")
    ents = []
    for span in sentence.spans:
        ent = doc.char_span(span.start, span.end, label=span.label, alignment_mode="strict")
        if ent is None:
            raise ValueError(
                f"sentence {sentence.id}: entity {span.label} [{span.start}, {span.end}) does not "
                "start and end on token boundaries"
            )
        ents.append(ent)
    doc.ents = ents  # raises on overlapping entities: spaCy's doc.ents are flat, like fewner's
    doc.user_data[ID_KEY] = sentence.id
    if sentence.meta:
        doc.user_data[META_KEY] = dict(sentence.meta)
    return doc


def _gap(gap: str, words: list[str], spaces: list[bool]) -> None:
    """Whitespace between two tokens: one space is the previous token's trailing space, anything
    else a whitespace token of its own."""
    if not gap:
        return
    if gap == " " and words:
        spaces[-1] = True
        return
    words.append(gap)
    spaces.append(False)


def doc_to_sentence(
    doc: Any,
    id: str,
    *,
    label_map: Callable[[str], str] | None = None,
    skipped: Counter[str] | None = None,
) -> Sentence:
    """The fewner sentence of a spaCy ``Doc``: its text, its non-whitespace tokens and
    ``doc.ents`` (``id`` unless ``doc.user_data`` carries one). What is left out is counted in
    ``skipped`` (span-group spans, whitespace-only entities)."""
    skipped = skipped if skipped is not None else Counter()
    text = doc.text
    tokens = tuple(
        Token(t.text, t.idx, t.idx + len(t.text)) for t in doc if t.text and not t.text.isspace()
    )
    spans: list[Span] = []
    for ent in doc.ents:
        start, end = ent.start_char, ent.end_char
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start == end:
            skipped[BLANK_ENTITY] += 1
            continue
        spans.append(Span(start, end, label_map(ent.label_) if label_map else ent.label_))
    n_group = sum(len(group) for group in doc.spans.values())
    if n_group:
        skipped[GROUP_SPANS] += n_group
    user = doc.user_data
    meta = user.get(META_KEY) if isinstance(user.get(META_KEY), dict) else {}
    sid = user.get(ID_KEY, id)
    return Sentence(
        id=str(sid),
        text=text,
        tokens=tokens,
        spans=tuple(spans),
        meta=tuple((str(k), str(v)) for k, v in meta.items()),
    )


def read_docbin(path: str | Path, label_map: Callable[[str], str] | None = None) -> Corpus:
    """Read a ``.spacy`` file into a corpus (module docstring for the mapping)."""
    _spacy()
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    p = Path(path)
    if p.is_dir():
        raise DataFormatError(str(p), "is a directory, not a data file")
    try:
        docbin = DocBin().from_bytes(p.read_bytes())
    except Exception as exc:  # noqa: BLE001 - zlib, msgpack and layout errors share no base class
        raise DataFormatError(
            str(p), f"not a spaCy DocBin (.spacy) file ({type(exc).__name__}: {exc})"
        ) from None
    corpus = Corpus(name=p.name, sentences=[])
    docs = docbin.get_docs(Vocab())
    for n in range(1, len(docbin) + 1):
        try:  # spaCy rebuilds each doc lazily: corrupt token data fails here, not in from_bytes
            doc = next(docs)
            if not doc.text.strip():
                corpus.skipped[EMPTY] += 1
                continue
            sentence = doc_to_sentence(
                doc, f"{p.name}:{n}", label_map=label_map, skipped=corpus.skipped
            )
        except Exception as exc:  # noqa: BLE001 - spaCy's KeyError/ValueError/IndexError...
            raise DataFormatError(
                str(p), f"document {n} of this DocBin is corrupt ({type(exc).__name__}: {exc})"
            ) from None
        corpus.sentences.append(sentence)
    if not corpus.sentences:
        raise DataFormatError(str(p), "no documents with text found in this DocBin file")
    return corpus


def write_docbin(sentences: Iterable[Sentence], path: str | Path) -> None:
    """Write ``sentences`` as a ``.spacy`` file (one doc each, ids and meta kept)."""
    _spacy()
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    p = Path(path)
    vocab = Vocab()
    docbin = DocBin(store_user_data=True)
    for sentence in sentences:
        try:
            docbin.add(sentence_to_doc(sentence, vocab))
        except ValueError as exc:
            raise DataFormatError(str(p), f"cannot write as DocBin: {exc}") from None
    p.write_bytes(docbin.to_bytes())


def _read(source: Source, options: ReadOptions) -> tuple[Corpus, None]:
    return read_docbin(source.path, options.label_map), None


def _write(sentences: Sequence[Sentence], path: Path, scheme: str) -> None:
    write_docbin(sentences, path)


def _sniff(sample: Sample) -> bool:
    return sample.suffix == ".spacy"  # binary: recognised by its extension only


FORMATS.register(
    "docbin",
    DataFormat(
        "docbin",
        "spaCy DocBin (.spacy, binary): doc.ents as entities; needs fewner[spacy]",
        _read,
        _write,
        extensions=(".spacy",),
        sniff=_sniff,
        sniff_rank=5,
        binary=True,
    ),
)
