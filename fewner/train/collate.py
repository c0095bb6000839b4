"""Training examples and batches: (sentence, entity type) -> token ids, labels and position masks.

One example is one per-type prompt of :class:`~fewner.prompts.ExtractionFormat` followed by its
gold answer and the tokenizer's EOS token. The loss terms need more than ids and labels: the
contrastive terms look at *where* in the prompt the entity-type name, the input sentence and the
gold mentions are. This module finds those places once per example and ships them as masks in
the batch (the shared training-batch interface, see :func:`collate`).

How positions are found
    The prompt is rendered section by section with the template's own text, recording the
    character offsets of the first ``{type}`` field of the instruction and of the ``{sentence}``
    field of the input while formatting (:func:`render_with_offsets`); the result is checked to
    equal :meth:`ExtractionFormat.prompt` so the two cannot drift. Searching for the type or
    sentence string in the rendered prompt would be fragile (the type name also occurs in the
    definition, a sentence may contain the word ``Input``). Character ranges become token
    positions through the fast tokenizer's ``offset_mapping``: a token belongs to a range when
    their characters overlap, so a byte-level token such as ``" Paris"`` (whose offsets include
    the leading space) belongs to the mention ``Paris``.

How ids are built
    Prompt ids are encoded exactly as :meth:`fewner.backends.hf.HFBackend.encode` encodes a
    prompt at inference (special tokens added unless the text already starts with BOS), so a
    trained adapter sees the same prompt tokens when it is served. The answer is encoded on its
    own (no special tokens) and followed by ``tokenizer.eos_token_id``; the answer tokens and the
    EOS are supervised, everything else is ``-100``. The end-of-answer token must be learned,
    or the tuned model never stops after its answer.

Truncation policy
    An example longer than ``max_length`` tokens is *skipped and counted*
    (``ExampleSet.skipped["longer than max_length"]``), never cut: cutting the prompt would
    remove the sentence or the question, cutting the answer would drop the EOS the model must
    learn. Callers report the count; raise ``max_length`` to keep such examples.

Padding is on the right with ``tokenizer.pad_token_id``. Labels come from the example, not from
the padded ids, so a pad id equal to EOS would not mask the EOS either; the catalogue models have
a pad token distinct from EOS anyway.
"""

from __future__ import annotations

import random
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from fewner.errors import ConfigError
from fewner.prompts import LAYOUTS, ExtractionFormat
from fewner.types import Sentence

__all__ = [
    "BATCH_KEYS",
    "EncodedExample",
    "ExampleSet",
    "RenderedPrompt",
    "build_examples",
    "collate",
    "encode_answer",
    "encode_example",
    "encode_prompt",
    "render_with_offsets",
]

#: Keys of a training batch (all tensors ``[B, T]`` except ``weight``, ``[B]``).
BATCH_KEYS: tuple[str, ...] = (
    "input_ids",
    "attention_mask",
    "labels",
    "type_mask",
    "entity_mask",
    "entity_index",
    "boundary_mask",
    "other_entity_mask",
    "sentence_mask",
    "weight",
)

SKIP_TOO_LONG = "longer than max_length"


@dataclass(frozen=True)
class RenderedPrompt:
    """A prompt and the character ranges ``[start, end)`` of its type name and its sentence."""

    text: str
    type_range: tuple[int, int]
    sentence_range: tuple[int, int]


def _format_with_offsets(
    template: str, values: dict[str, str]
) -> tuple[str, dict[str, tuple[int, int]]]:
    """``template.format(**values)`` plus the range of the *first* occurrence of each field."""
    out: list[str] = []
    pos = 0
    first: dict[str, tuple[int, int]] = {}
    for literal, name, spec, conversion in string.Formatter().parse(template):
        out.append(literal)
        pos += len(literal)
        if name is None:
            continue
        piece = (
            "{0" + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        ).format(values[name])
        first.setdefault(name, (pos, pos + len(piece)))
        out.append(piece)
        pos += len(piece)
    return "".join(out), first


def render_with_offsets(
    fmt: ExtractionFormat, sentence: Sentence, entity_type: str
) -> RenderedPrompt:
    """Render ``fmt.prompt(sentence, entity_type)`` and record where the type and sentence are.

    The type range is the first ``{type}`` field of the instruction (the type name as the prompt
    spells it, e.g. ``person-actor`` for ``person_actor``).
    """
    template = fmt.template
    name = fmt.definitions.canonical(entity_type)
    definition = fmt.definitions[name]
    pieces: list[str] = []
    pos = 0
    type_range = sentence_range = (-1, -1)
    for section in LAYOUTS[template.layout]:
        if section == "instruction":
            text, ranges = _format_with_offsets(
                template.instruction, {"type": name, "definition": definition}
            )
            a, b = ranges["type"]
            type_range = (pos + a, pos + b)
        elif section == "input":
            text, ranges = _format_with_offsets(template.input, {"sentence": sentence.text})
            a, b = ranges["sentence"]
            sentence_range = (pos + a, pos + b)
        else:
            text = getattr(template, section)
        pieces.append(text)
        pos += len(text)
    rendered = "".join(pieces)
    if rendered != fmt.prompt(sentence, entity_type):  # pragma: no cover - guards against drift
        raise RuntimeError(
            "render_with_offsets disagrees with ExtractionFormat.prompt; update both"
        )
    return RenderedPrompt(rendered, type_range, sentence_range)


@dataclass(frozen=True)
class EncodedExample:
    """One tokenized training example; positions index ``input_ids``.

    ``mentions``: token positions of each gold mention of this example's type (in order of
    occurrence); ``other``: positions of mentions of other types; ``boundary``: the token just
    left and just right of each mention that is inside the prompt and in no mention.
    """

    input_ids: tuple[int, ...]
    prompt_length: int
    type_positions: tuple[int, ...]
    sentence_positions: tuple[int, ...]
    mentions: tuple[tuple[int, ...], ...]
    other: tuple[int, ...]
    boundary: tuple[int, ...]
    weight: float = 1.0
    sentence_id: str = ""
    entity_type: str = ""

    def __len__(self) -> int:
        return len(self.input_ids)


def _positions(offsets: Sequence[tuple[int, int]], start: int, end: int) -> tuple[int, ...]:
    """Token positions whose (non-empty) character range overlaps ``[start, end)``."""
    return tuple(i for i, (a, b) in enumerate(offsets) if a < b and a < end and start < b)


def encode_prompt(tokenizer: Any, text: str, *, offsets: bool = False) -> Any:
    """Tokenize a prompt as the HF backend does at inference: special tokens added unless the
    text already starts with BOS (a chat-templated prompt carries its own)."""
    bos = tokenizer.bos_token
    add_special = not (bos and text.startswith(bos))
    return tokenizer(text, add_special_tokens=add_special, return_offsets_mapping=offsets)


def encode_answer(tokenizer: Any, answer: str) -> list[int]:
    """The answer's ids followed by EOS: the supervised part of an example (see module doc)."""
    return list(tokenizer(answer, add_special_tokens=False)["input_ids"]) + [
        int(tokenizer.eos_token_id)
    ]


def encode_example(
    fmt: ExtractionFormat,
    tokenizer: Any,
    sentence: Sentence,
    entity_type: str,
    *,
    weight: float = 1.0,
) -> EncodedExample:
    """Tokenize the prompt and answer of (``sentence``, ``entity_type``) and locate the masks.

    ``tokenizer`` must be a fast (Rust) tokenizer: offsets come from ``offset_mapping``.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError("training needs a fast tokenizer (offset mappings); this one is not")
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ConfigError("the tokenizer has no EOS token: the end of an answer cannot be learned")
    rendered = render_with_offsets(fmt, sentence, entity_type)
    enc = encode_prompt(tokenizer, rendered.text, offsets=True)
    prompt_ids = list(enc["input_ids"])
    offsets = [tuple(o) for o in enc["offset_mapping"]]
    answer_ids = encode_answer(tokenizer, fmt.target(sentence, entity_type))

    base = rendered.sentence_range[0]
    own = sorted(
        (s for s in sentence.spans if s.label == entity_type), key=lambda s: (s.start, s.end)
    )
    mentions = tuple(_positions(offsets, base + s.start, base + s.end) for s in own)
    other = sorted(
        {
            p
            for s in sentence.spans
            if s.label != entity_type
            for p in _positions(offsets, base + s.start, base + s.end)
        }
    )
    in_mention = {p for m in mentions for p in m} | set(other)
    boundary: set[int] = set()
    for m in mentions:
        if not m:
            continue
        for p in (m[0] - 1, m[-1] + 1):
            if 0 <= p < len(prompt_ids) and p not in in_mention:
                boundary.add(p)
    return EncodedExample(
        input_ids=tuple(prompt_ids + answer_ids),
        prompt_length=len(prompt_ids),
        type_positions=_positions(offsets, *rendered.type_range),
        sentence_positions=_positions(offsets, *rendered.sentence_range),
        mentions=mentions,
        other=tuple(other),
        boundary=tuple(sorted(boundary)),
        weight=float(weight),
        sentence_id=sentence.id,
        entity_type=entity_type,
    )


@dataclass
class ExampleSet:
    """Encoded examples plus what was skipped, by reason (nothing is dropped silently);
    ``replayed``: how many of the examples (the last ones) are replayed source questions."""

    examples: list[EncodedExample]
    skipped: Counter[str] = field(default_factory=Counter)
    replayed: int = 0

    def __len__(self) -> int:
        return len(self.examples)


def build_examples(
    sentences: Iterable[Sentence],
    types: Sequence[str],
    fmt: ExtractionFormat,
    tokenizer: Any,
    *,
    max_length: int = 512,
    negatives: int | None = None,
    seed: int = 0,
) -> ExampleSet:
    """One example per (sentence, type), sentence-major, in input order; see the truncation policy.

    Every type is asked of every sentence, also types the sentence has no mention of: those
    examples teach the "none" answer. ``negatives``: ask at most this many of a sentence's absent
    types (drawn with ``seed``, the same for every epoch); a few-shot support set asks mostly
    absent types, which teaches "none" far more often than a broad source stage did.
    """
    fmt.definitions.require(types)
    out = ExampleSet([])
    rng = random.Random(f"{seed}-negatives")
    for sentence in sentences:
        asked = list(types)
        if negatives is not None:
            present = {span.label for span in sentence.spans}
            absent = [t for t in types if t not in present]
            kept = set(rng.sample(absent, min(negatives, len(absent))))
            asked = [t for t in types if t in present or t in kept]
            out.skipped["absent types not asked (negatives)"] += len(types) - len(asked)
        for entity_type in asked:
            example = encode_example(fmt, tokenizer, sentence, entity_type)
            if len(example) > max_length:
                out.skipped[SKIP_TOO_LONG] += 1
                continue
            out.examples.append(example)
    return out


def collate(examples: Sequence[EncodedExample], pad_id: int) -> dict[str, torch.Tensor]:
    """The training batch (right padding with ``pad_id``) for ``examples``.

    Keys (:data:`BATCH_KEYS`), all ``[B, T]`` except ``weight`` (``[B]``, float):
    ``input_ids``, ``attention_mask``; ``labels`` (``-100`` on prompt and padding, the answer
    and EOS ids elsewhere); bool ``type_mask``, ``entity_mask``, ``boundary_mask``,
    ``other_entity_mask``, ``sentence_mask``; long ``entity_index`` (``k`` on the tokens of the
    k-th mention of the example's type, ``-1`` elsewhere; where mentions overlap the later wins).
    """
    if not examples:
        raise ValueError("cannot collate an empty batch")
    width = max(len(e) for e in examples)
    shape = (len(examples), width)
    input_ids = torch.full(shape, int(pad_id), dtype=torch.long)
    attention = torch.zeros(shape, dtype=torch.long)
    labels = torch.full(shape, -100, dtype=torch.long)
    masks = {
        k: torch.zeros(shape, dtype=torch.bool)
        for k in ("type_mask", "entity_mask", "boundary_mask", "other_entity_mask", "sentence_mask")
    }
    entity_index = torch.full(shape, -1, dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e)
        input_ids[row, :n] = torch.tensor(e.input_ids, dtype=torch.long)
        attention[row, :n] = 1
        labels[row, e.prompt_length : n] = input_ids[row, e.prompt_length : n]
        masks["type_mask"][row, list(e.type_positions)] = True
        masks["sentence_mask"][row, list(e.sentence_positions)] = True
        masks["other_entity_mask"][row, list(e.other)] = True
        masks["boundary_mask"][row, list(e.boundary)] = True
        for k, positions in enumerate(e.mentions):
            masks["entity_mask"][row, list(positions)] = True
            entity_index[row, list(positions)] = k
    return {
        "input_ids": input_ids,
        "attention_mask": attention,
        "labels": labels,
        **masks,
        "entity_index": entity_index,
        "weight": torch.tensor([e.weight for e in examples], dtype=torch.float32),
    }
