"""The broad pre-training mixture: many datasets, many types, sampled negatives.

A mixture file (``fewner/resources/spanmodel/pretrain.yaml`` is the shipped one) names datasets,
a cap of sentences per epoch each, and how their tags become label texts. :class:`Mixture` reads
them once; :meth:`Mixture.epoch` deals one epoch of :class:`Example` objects, each with the label
texts to ask (its own types, a few dropped, plus sampled negatives). Everything is a pure function
of ``(seed, epoch)``, so a resumed run sees exactly the examples it would have seen.

Long passages (Pile-NER) are cut at sentence ends into pieces of at most ``max_words`` words; a
sentence longer than that is cut at ``max_words`` (mentions crossing a cut are dropped and
counted). Leave-one-out benchmark splits join a mixture as more datasets in a copy of the file.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fewner.errors import ConfigError
from fewner.spanmodel.batching import label_text
from fewner.types import Sentence

__all__ = ["Example", "Mixture", "examples_from_sentences", "load_mixture_file", "mixture_file"]

_SENTENCE_END = {".", "!", "?"}


@dataclass(frozen=True)
class Example:
    """Words, mentions as ``(first word, end exclusive, label text)``, and the label texts asked
    (every asked label absent from ``spans`` is a negative for every span of the sentence)."""

    words: tuple[str, ...]
    spans: tuple[tuple[int, int, str], ...]
    labels: tuple[str, ...]


@dataclass
class _Dataset:
    name: str
    pieces: list[tuple[tuple[str, ...], tuple[tuple[int, int, str], ...]]]
    types: list[str]
    cap: int
    exhaustive: bool


@dataclass
class Mixture:
    """Datasets ready to deal epochs (module docstring)."""

    datasets: list[_Dataset]
    negatives: tuple[int, int] = (2, 12)
    drop_positive: float = 0.1
    max_labels: int = 25
    licence: str = ""
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def all_types(self) -> list[str]:
        return sorted({t for d in self.datasets for t in d.types})

    def epoch(self, seed: int, epoch: int) -> list[Example]:
        rng = random.Random(f"{seed}-{epoch}")
        pool = self.all_types
        out: list[Example] = []
        for data in self.datasets:
            chosen = data.pieces if len(data.pieces) <= data.cap else rng.sample(data.pieces, data.cap)
            for words, spans in chosen:
                out.append(self._example(rng, words, spans, data, pool))
        rng.shuffle(out)
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "datasets": {
                d.name: {"pieces": len(d.pieces), "per_epoch": min(d.cap, len(d.pieces)), "types": len(d.types)}
                for d in self.datasets
            },
            "types": len(self.all_types),
            "licence": self.licence,
            "counts": dict(self.counts),
        }

    def _example(self, rng, words, spans, data: _Dataset, pool: list[str]) -> Example:
        present = list(dict.fromkeys(label for _, _, label in spans))
        kept = [t for t in present if rng.random() >= self.drop_positive]
        budget = max(1, self.max_labels - len(kept))
        wanted = min(rng.randint(*self.negatives), budget)
        negatives: list[str] = []
        own = [t for t in data.types if t not in present] if data.exhaustive else []
        rng.shuffle(own)
        for t in own[: wanted // 2 + 1]:
            negatives.append(t)
        tries = 0
        while len(negatives) < wanted and tries < 4 * wanted:
            t = pool[rng.randrange(len(pool))]
            if t not in present and t not in negatives:
                negatives.append(t)
            tries += 1
        labels = kept[: self.max_labels] + negatives[:wanted]
        keep = set(labels)
        return Example(words, tuple(s for s in spans if s[2] in keep), tuple(labels))


def examples_from_sentences(
    sentences: list[Sentence], names: dict[str, str] | None = None, max_words: int | None = None
) -> tuple[list[tuple[tuple[str, ...], tuple[tuple[int, int, str], ...]]], Counter[str]]:
    """Sentences -> (words, mentions with label texts), cut to ``max_words``; counts of what was
    cut or dropped. Label texts are lower-cased so ``Disease`` in one dataset and ``disease`` in
    another are one type (never one's negative for the other)."""
    names = names or {}
    counts: Counter[str] = Counter()
    out = []
    for sentence in sentences:
        words = tuple(sentence.words)
        spans = tuple(
            (first, last, names.get(label, label_text(label)).lower())
            for first, last, label in sentence.token_spans()
        )
        if max_words is None or len(words) <= max_words:
            out.append((words, spans))
            continue
        counts["sentences cut at max_words"] += 1
        for lo in range(0, len(words), max_words):
            hi = min(lo + max_words, len(words))
            inside = tuple((a - lo, b - lo, t) for a, b, t in spans if lo <= a and b <= hi)
            crossing = sum(1 for a, b, _ in spans if lo <= a < hi < b)  # once, where it starts
            counts["mentions dropped at a cut"] += crossing
            out.append((words[lo:hi], inside))
    return out, counts


def split_passage(sentence: Sentence, max_words: int) -> list[Sentence]:
    """Pieces of a multi-sentence passage, cut after ``.``/``!``/``?`` (never inside a mention),
    each at most ``max_words`` words where sentence ends allow."""
    words = sentence.words
    inside = set()
    for first, last, _ in sentence.token_spans():
        inside.update(range(first, last - 1))  # a cut after word i is forbidden when i+1 is in the mention
    cuts = [i + 1 for i, w in enumerate(words) if w in _SENTENCE_END and i not in inside]
    pieces: list[tuple[int, int]] = []
    lo = 0
    last_cut = 0
    for cut in cuts + [len(words)]:
        if cut - lo > max_words and last_cut > lo:
            pieces.append((lo, last_cut))
            lo = last_cut
        last_cut = cut
    if lo < len(words):
        pieces.append((lo, len(words)))
    out = []
    for k, (lo, hi) in enumerate(pieces):
        spans = [(a - lo, b - lo, t) for a, b, t in sentence.token_spans() if lo <= a and b <= hi]
        out.append(Sentence.from_words(words[lo:hi], spans, id=f"{sentence.id}.{k}"))
    return out


def load_mixture_file(path: str | Path, data_root: str | Path) -> Mixture:
    """Read a mixture file (shipped name like ``pretrain`` or a path) and its datasets."""
    from fewner.config_schema import load_yaml
    from fewner.data.io import read_corpus

    path = mixture_file(path)
    spec = load_yaml(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(spec.get("datasets"), list) or not spec["datasets"]:
        raise ConfigError(f"{path}: a mixture needs a non-empty `datasets` list")
    max_words = int(spec.get("max_words", 64))
    labels = spec.get("labels", {}) or {}
    datasets = []
    counts: Counter[str] = Counter()
    for i, entry in enumerate(spec["datasets"]):
        for key in ("name", "path"):
            if key not in entry:
                raise ConfigError(f"{path}: datasets[{i}] needs `{key}`")
        file = Path(data_root) / entry["path"]
        if not file.is_file():
            raise ConfigError(f"{path}: datasets[{i}] ({entry['name']}): no file {file}")
        corpus = read_corpus(file)
        counts.update({f"{entry['name']}: {k}": v for k, v in corpus.repaired.items()})
        sentences = corpus.sentences
        if entry.get("split_passages"):
            sentences = [p for s in sentences for p in split_passage(s, max_words)]
        if entry.get("only_with_entities"):
            sentences = [s for s in sentences if s.spans]
        pieces, cut = examples_from_sentences(sentences, entry.get("names"), max_words)
        counts.update({f"{entry['name']}: {k}": v for k, v in cut.items()})
        types = sorted({t for _, spans, in pieces for _, _, t in spans})
        datasets.append(
            _Dataset(entry["name"], pieces, types, int(entry.get("cap", len(pieces))), bool(entry.get("exhaustive", False)))
        )
    negatives = labels.get("negatives", [2, 12])
    return Mixture(
        datasets,
        negatives=(int(negatives[0]), int(negatives[1])),
        drop_positive=float(labels.get("drop_positive", 0.1)),
        max_labels=int(labels.get("max_labels", 25)),
        licence=str(spec.get("licence", "")),
        counts=counts,
    )


def mixture_file(path: str | Path) -> Path:
    """The mixture file ``path`` names: a .yaml path, or a shipped name (``pretrain``)."""
    candidate = Path(path)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return candidate
    from importlib.resources import files

    shipped = Path(str(files("fewner.resources") / "spanmodel" / f"{path}.yaml"))
    if shipped.is_file():
        return shipped
    raise ConfigError(f"no mixture file {path!r} (a .yaml path, or a shipped name like 'pretrain')")
