"""The knowledge query (GRAIT step 1): does the model know the answer to each training prompt?

The model as the stage starts answers every (sentence, type) prompt once greedily and
``samples`` times by sampling at ``temperature`` (seeds ``seed + 1 .. seed + samples``; the HF
backend seeds each prompt's sampler from the seed and the prompt alone, so answers do not depend
on batching). All answers go through the same extractor as inference (constrained decoding by
default, the same parser), so "the model knows it" means "it would answer it right when used".

Per prompt:

* an answer's *key* is the set of (start, end) character spans it names after parsing (the
  refusal answer is its own key, ``"refused"``); gold is the set of gold spans of that type that
  the answer format can write (:meth:`ExtractionFormat.target_mentions`);
* ``correctness`` = share of the ``samples + 1`` answers (greedy included) whose key equals gold;
* ``entropy`` = Shannon entropy (nats) of the distribution of distinct keys over those answers:
  0 when every answer agrees, ``log(samples + 1)`` when all differ. GRAIT/CRaFT record it as the
  model's (un)certainty; it is written for analysis and not used by the split.

Records go to ``knowledge.jsonl`` in the stage folder, one line per prompt; a file whose prompts
and settings match the stage is read back instead of querying again (delete it to re-query).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fewner.prompts import ExtractionFormat
from fewner.types import Sentence

__all__ = [
    "KNOWLEDGE_FILE",
    "REFUSED",
    "PromptKnowledge",
    "answer_entropy",
    "answer_key",
    "gold_key",
    "query_knowledge",
    "read_knowledge",
    "write_knowledge",
]

KNOWLEDGE_FILE = "knowledge.jsonl"
REFUSED = "refused"


@dataclass(frozen=True)
class PromptKnowledge:
    """What the knowledge query found for one prompt (see the module docstring)."""

    sentence_id: str
    type: str
    gold: str
    answers: tuple[str, ...]  # greedy first, then the samples
    correctness: float
    entropy: float
    samples: int
    temperature: float

    @property
    def greedy_correct(self) -> bool:
        return bool(self.answers) and self.answers[0] == self.gold

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "answers": list(self.answers),
            "greedy_correct": self.greedy_correct,
        }


def _key(spans: Sequence[tuple[int, int]]) -> str:
    return " ".join(f"{a}-{b}" for a, b in sorted(set(spans)))


def gold_key(fmt: ExtractionFormat, sentence: Sentence, entity_type: str) -> str:
    """The key of the gold answer: the writable gold spans of ``entity_type`` ("" for none)."""
    _, dropped = fmt.target_mentions(sentence, entity_type)
    return _key(
        [(s.start, s.end) for s in sentence.spans if s.label == entity_type and s not in dropped]
    )


def answer_key(fmt: ExtractionFormat, sentence: Sentence, entity_type: str, answer: str) -> str:
    """The key of one answer: its parsed spans snapped to tokens, or :data:`REFUSED`."""
    from fewner.predict.extractor import snap_to_tokens

    parsed = fmt.parse(answer, sentence, entity_type)
    if parsed.is_refusal:
        return REFUSED
    spans = [snap_to_tokens(s, sentence) for s in parsed.spans]
    return _key([(s.start, s.end) for s in spans if s is not None])


def answer_entropy(keys: Sequence[str]) -> float:
    """Shannon entropy (nats) of the distribution of distinct ``keys``."""
    if not keys:
        return 0.0
    counts = Counter(keys)
    n = len(keys)
    return max(0.0, -sum(c / n * math.log(c / n) for c in counts.values()))


def query_knowledge(
    model: Any,
    tokenizer: Any,
    model_id: str,
    fmt: ExtractionFormat,
    sentences: Sequence[Sentence],
    types: Sequence[str],
    *,
    samples: int,
    temperature: float,
    seed: int = 0,
    batch_size: int = 16,
    max_new_tokens: int = 64,
    constrained: bool = True,
) -> list[PromptKnowledge]:
    """One record per (sentence, type), sentence-major in input order (see the module doc)."""
    from fewner.backends.base import GenerationParams
    from fewner.predict.extractor import extractor_for_model

    runs = [GenerationParams(max_new_tokens=max_new_tokens)] + [
        GenerationParams(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed + k)
        for k in range(1, samples + 1)
    ]
    keys: dict[tuple[str, str], list[str]] = {}
    by_id = {s.id: s for s in sentences}
    for params in runs:
        extractor = extractor_for_model(
            model,
            tokenizer,
            f"{model_id}+lora:training",
            fmt,
            batch_size=batch_size,
            max_new_tokens=max_new_tokens,
            constrained=constrained,
            params=params,
        )
        result = extractor.extract(sentences, types)
        for record in result.answers:
            sentence = by_id[record["sentence_id"]]
            key = answer_key(fmt, sentence, record["type"], record["answer"])
            keys.setdefault((sentence.id, record["type"]), []).append(key)
    out = []
    for sentence in sentences:
        for entity_type in types:
            answers = tuple(keys.get((sentence.id, entity_type), ()))
            gold = gold_key(fmt, sentence, entity_type)
            right = sum(1 for a in answers if a == gold)
            out.append(
                PromptKnowledge(
                    sentence.id,
                    entity_type,
                    gold,
                    answers,
                    right / len(answers) if answers else 0.0,
                    answer_entropy(answers),
                    samples,
                    temperature,
                )
            )
    return out


def write_knowledge(path: Path, records: Sequence[PromptKnowledge]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(
        "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in records),
        encoding="utf-8",
    )
    tmp.replace(path)


def read_knowledge(
    path: Path,
    prompts: Sequence[tuple[str, str]],
    *,
    samples: int,
    temperature: float,
) -> list[PromptKnowledge] | None:
    """The records of ``path`` in ``prompts`` order, or None when the file does not match them
    (other prompts, sample count or temperature): the caller queries again."""
    if not path.is_file():
        return None
    found: dict[tuple[str, str], PromptKnowledge] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        data = json.loads(line)
        data.pop("greedy_correct", None)
        record = PromptKnowledge(**{**data, "answers": tuple(data["answers"])})
        if record.samples != samples or record.temperature != temperature:
            return None
        found[(record.sentence_id, record.type)] = record
    if set(found) != set(prompts) or len(found) != len(prompts):
        return None
    return [found[p] for p in prompts]
