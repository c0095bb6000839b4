"""Fixed 1-/5-shot support sets for cross-domain few-shot NER (Yang & Katiyar 2020 protocol).

In this protocol (StructShot; extended by CONTaiNER and TadNER) a model is evaluated on a target
*test* set ten times, each time with one of ten fixed support sets. Each run is an
:class:`~fewner.types.Episode` whose support is one file ``samples-{dataset}-{shots}shot/{i}.txt``
and whose query is the whole target test set, so the same episode-level evaluation code serves both
sampled Few-NERD episodes and these fixed sets.

The ten episodes of one call share **one** tuple of test sentences (read once): a test set of
thousands of sentences is held in memory once, not ten times (measurements:
docs/design-notes.md, fewner/data/support_sets.py).

Types come from ``labels-{dataset}.txt`` (BIO tags; the prefix is removed). A support or test
mention whose type is not in that inventory is a :class:`~fewner.errors.DataFormatError`: the
protocol scores every type of the target dataset, so a stray label means the wrong file.

Files are expected under ``data_root`` as in the project's shared data folder::

    domain_transfer_support_sets/labels-{conll,gum,wnut}.txt
    domain_transfer_support_sets/samples-{conll,gum,wnut}-{1,5}shot/{0..9}.txt
    conll2003/test.txt   wnut17/emerging.test.annotated   gum/gum-test.conll
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fewner.data.formats._source import read_lines
from fewner.data.io import read_corpus
from fewner.data.schemes import OUTSIDE, split_tag
from fewner.errors import ConfigError, DataFormatError
from fewner.types import Corpus, Episode, Sentence

SUPPORT_DIR = "domain_transfer_support_sets"
TEST_SETS: dict[str, str] = {
    "conll": "conll2003/test.txt",
    "wnut": "wnut17/emerging.test.annotated",
    "gum": "gum/gum-test.conll",
}
DATASETS: tuple[str, ...] = tuple(TEST_SETS)
SHOTS: tuple[int, ...] = (1, 5)
N_SETS = 10

Reader = Callable[[Path], Corpus]
"""Reads one file into a Corpus; the default is ``fewner.data.io.read_corpus`` (format auto)."""


@dataclass(frozen=True)
class SupportSetFiles:
    """Where the files of one (dataset, shots) benchmark live."""

    dataset: str
    shots: int
    labels: Path
    test: Path
    supports: tuple[Path, ...]


@dataclass(frozen=True)
class FixedSupportSets:
    """The ten episodes plus the corpora they were read from (for read reports)."""

    files: SupportSetFiles
    types: tuple[str, ...]
    episodes: list[Episode]
    corpora: list[Corpus]


def support_set_files(data_root: str | Path, dataset: str, shots: int) -> SupportSetFiles:
    """Resolve and check the label file, the ten support files and the test file."""
    if dataset not in TEST_SETS:
        raise ConfigError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    if shots not in SHOTS:
        raise ConfigError(f"fixed support sets exist for 1 or 5 shots, not {shots}")
    root = Path(data_root)
    folder = root / SUPPORT_DIR
    files = SupportSetFiles(
        dataset=dataset,
        shots=shots,
        labels=folder / f"labels-{dataset}.txt",
        test=root / TEST_SETS[dataset],
        supports=tuple(
            folder / f"samples-{dataset}-{shots}shot" / f"{i}.txt" for i in range(N_SETS)
        ),
    )
    missing = [p for p in (files.labels, files.test, *files.supports) if not p.is_file()]
    if missing:
        shown = ", ".join(str(p) for p in missing[:3]) + (" ..." if len(missing) > 3 else "")
        raise ConfigError(
            f"{len(missing)} file(s) of the {dataset} {shots}-shot support sets are missing under "
            f"{root} (expected {SUPPORT_DIR}/ and {TEST_SETS[dataset]}): {shown}"
        )
    return files


def read_types(labels_path: str | Path) -> tuple[str, ...]:
    """Entity types of a ``labels-*.txt`` file (one BIO tag per line), in first-seen order."""
    path = Path(labels_path)
    types: dict[str, None] = {}
    for number, raw in enumerate(read_lines(path).lines, start=1):  # bad bytes: DataFormatError
        tag = raw.strip()
        if not tag or tag == OUTSIDE:
            continue
        try:
            _, label = split_tag(tag, "bio")
        except ValueError as exc:
            raise DataFormatError(str(path), str(exc), number) from None
        types.setdefault(label, None)
    if not types:
        raise DataFormatError(str(path), "no entity types (only O or empty lines)")
    return tuple(types)


def load_fixed_support_sets(
    data_root: str | Path, dataset: str, shots: int, *, reader: Reader | None = None
) -> FixedSupportSets:
    """Read the ten support sets of ``dataset`` and pair each with the shared test set."""
    files = support_set_files(data_root, dataset, shots)
    read = reader if reader is not None else _default_reader
    types = read_types(files.labels)
    test_corpus = read(files.test)
    query = tuple(test_corpus.sentences)
    _check_labels(files.test, query, types)
    corpora = [test_corpus]
    episodes = []
    for index, path in enumerate(files.supports):
        corpus = read(path)
        _check_labels(path, corpus.sentences, types)
        corpora.append(corpus)
        episodes.append(
            Episode(
                types=types,
                support=tuple(corpus.sentences),
                query=query,  # the same tuple for all ten: read once, held once
                id=f"{dataset}-{shots}shot-{index}",
            )
        )
    return FixedSupportSets(files=files, types=types, episodes=episodes, corpora=corpora)


def fixed_support_sets(
    data_root: str | Path, dataset: str, shots: int, *, reader: Reader | None = None
) -> list[Episode]:
    """The ten fixed-support-set episodes of ``dataset`` ("conll", "wnut" or "gum") at 1 or 5 shots.

    Episode ``i`` has the sentences of ``samples-{dataset}-{shots}shot/{i}.txt`` as support and
    the target test set as query; all ten share one query tuple.
    """
    return load_fixed_support_sets(data_root, dataset, shots, reader=reader).episodes


def _check_labels(path: Path, sentences: Sequence[Sentence], types: tuple[str, ...]) -> None:
    allowed = set(types)
    for sentence in sentences:
        stray = sorted({s.label for s in sentence.spans} - allowed)
        if stray:
            raise DataFormatError(
                str(path),
                f"sentence {sentence.id} has type(s) {', '.join(stray)} outside the label file's "
                f"types ({', '.join(types)})",
            )


def _default_reader(path: Path) -> Corpus:
    return read_corpus(path, format="auto")
