"""DPO preference pairs for per-type extraction (OBP-LLM's third stage), as text.

A pair is one extraction prompt with a *chosen* and a *rejected* answer, both written by the
same :class:`~fewner.prompts.ExtractionFormat` (``render_target``), so they differ in which
mentions they list and in nothing else: not in markers, spacing or the none-answer wording.

Two sources, both from labeled sentences (the target support set):

* **Boundary-shifted pairs** (:func:`boundary_pairs`): chosen = the gold answer; rejected = the
  same answer with ONE mention's boundary moved by one word — its start one word left or right,
  or its end one word left or right — keeping only moves that stay inside the sentence and leave
  at least one word. Each (sentence, type) prompt with at least one gold mention contributes up
  to ``per_example`` such pairs, drawn without replacement by a seeded generator; variants whose
  answer equals the gold answer (possible with repeated words) are not pairs. A move may run into
  a neighbouring entity: that is a boundary error too, and stays.
* **Error-feedback pairs** (:func:`feedback_pairs`): the SFT model answers its own training
  prompts; every answer whose parsed mentions differ from gold becomes a rejected answer, with the
  gold answer as chosen. The rejected text is the model's parsed mentions *re-rendered* in the
  answer format rather than its raw text: a raw answer can carry stray text or be cut at the token
  limit, and DPO would then learn "avoid junk" instead of "avoid these mentions". An answer that
  names the gold mentions with other case or spacing parses to the gold spans and is no error.

Spans are word-aligned (sentence tokens); a gold span that is not (rare, after repairs) gets no
boundary variants and is counted in ``PairSet.skipped``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fewner.errors import SpanAlignmentError
from fewner.prompts import ExtractionFormat
from fewner.types import Sentence, Span

__all__ = [
    "BOUNDARY",
    "FEEDBACK",
    "PairSet",
    "PreferencePair",
    "boundary_pairs",
    "boundary_variants",
    "feedback_pairs",
]

BOUNDARY = "boundary"
FEEDBACK = "feedback"

#: (name, start move, end move) in words; negative = to the left.
MOVES: tuple[tuple[str, int, int], ...] = (
    ("start-left", -1, 0),
    ("start-right", 1, 0),
    ("end-left", 0, -1),
    ("end-right", 0, 1),
)


@dataclass(frozen=True)
class PreferencePair:
    """One prompt (``sentence`` x ``entity_type``) with a chosen and a rejected answer text.

    ``source``: :data:`BOUNDARY` or :data:`FEEDBACK`; ``detail``: the move
    (``"start-left of 'New York'"``) or the rejected mentions, for people reading the pairs file.
    """

    sentence: Sentence
    entity_type: str
    chosen: str
    rejected: str
    source: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "sentence_id": self.sentence.id,
            "type": self.entity_type,
            "source": self.source,
            "detail": self.detail,
            "chosen": self.chosen,
            "rejected": self.rejected,
        }


@dataclass
class PairSet:
    """Pairs plus counts of what produced none (nothing is dropped silently)."""

    pairs: list[PreferencePair] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.pairs)

    def extend(self, other: PairSet) -> None:
        self.pairs.extend(other.pairs)
        self.skipped.update(other.skipped)

    def counts(self) -> dict[str, int]:
        return dict(Counter(p.source for p in self.pairs))


def boundary_variants(sentence: Sentence, span: Span) -> list[tuple[str, Span]]:
    """Every one-word boundary move of ``span`` that stays inside ``sentence`` (named, in
    :data:`MOVES` order). Raises :class:`SpanAlignmentError` if ``span`` is not word-aligned."""
    first, end = sentence.char_span_to_tokens(span)
    last = end - 1
    out = []
    for name, d_start, d_end in MOVES:
        a, b = first + d_start, last + d_end
        if 0 <= a <= b < len(sentence.tokens):
            out.append((name, sentence.token_span_to_char(a, b + 1, span.label)))
    return out


def _gold(fmt: ExtractionFormat, sentence: Sentence, entity_type: str) -> list[Span]:
    """The gold spans of ``entity_type`` that the answer language can write, in order."""
    _, dropped = fmt.target_mentions(sentence, entity_type)
    return sorted(
        (s for s in sentence.spans if s.label == entity_type and s not in dropped),
        key=lambda s: (s.start, s.end),
    )


def boundary_pairs(
    sentences: Iterable[Sentence],
    types: Sequence[str],
    fmt: ExtractionFormat,
    *,
    per_example: int,
    seed: int,
) -> PairSet:
    """Up to ``per_example`` boundary-shifted pairs per (sentence, type) with a gold mention.

    Deterministic for a given ``seed`` and input order (one generator, consumed in order).
    """
    rng = random.Random(seed)
    out = PairSet()
    if per_example <= 0:
        return out
    for sentence in sentences:
        for entity_type in types:
            gold = _gold(fmt, sentence, entity_type)
            if not gold:
                continue
            chosen = fmt.template.render_target(sentence.mention(s) for s in gold)
            candidates: dict[str, PreferencePair] = {}
            for k, span in enumerate(gold):
                try:
                    variants = boundary_variants(sentence, span)
                except SpanAlignmentError:
                    out.skipped["span not word-aligned"] += 1
                    continue
                for move, shifted in variants:
                    mentions = [sentence.mention(s) for s in gold]
                    mentions[k] = sentence.mention(shifted)
                    rejected = fmt.template.render_target(mentions)
                    if rejected == chosen:
                        out.skipped["variant equals gold"] += 1
                        continue
                    candidates.setdefault(
                        rejected,
                        PreferencePair(
                            sentence,
                            entity_type,
                            chosen,
                            rejected,
                            BOUNDARY,
                            f"{move} of {sentence.mention(span)!r}",
                        ),
                    )
            pool = list(candidates.values())
            out.pairs.extend(rng.sample(pool, min(per_example, len(pool))))
    return out


def feedback_pairs(
    sentences: Sequence[Sentence],
    types: Sequence[str],
    fmt: ExtractionFormat,
    predicted: Mapping[tuple[str, str], Sequence[Span]],
) -> PairSet:
    """Error-feedback pairs from the model's parsed answers.

    ``predicted[(sentence.id, type)]``: the spans the model's answer to that prompt named (as
    the extractor parsed them); a missing key counts as ``no answer`` and makes no pair.
    """
    out = PairSet()
    for sentence in sentences:
        for entity_type in types:
            key = (sentence.id, entity_type)
            if key not in predicted:
                out.skipped["no answer"] += 1
                continue
            gold = _gold(fmt, sentence, entity_type)
            spans = sorted(predicted[key], key=lambda s: (s.start, s.end))
            if [(s.start, s.end) for s in spans] == [(s.start, s.end) for s in gold]:
                out.skipped["answer equals gold"] += 1
                continue
            mentions = [sentence.mention(s) for s in spans]
            chosen = fmt.template.render_target(sentence.mention(s) for s in gold)
            rejected = fmt.template.render_target(mentions)
            if rejected == chosen:  # other occurrences of the same strings
                out.skipped["answer text equals gold"] += 1
                continue
            out.pairs.append(
                PreferencePair(
                    sentence, entity_type, chosen, rejected, FEEDBACK, f"model said {mentions}"
                )
            )
    return out
