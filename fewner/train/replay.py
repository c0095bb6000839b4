"""Replay: source-stage sentences mixed into a few-shot SFT stage (rehearsal).

Five support sentences pull a broadly trained extractor toward their own balance of answers (they
hold 1.5-1.7 mentions each, so most questions answer a mention list, where running text mostly
answers "none") and away from every type they do not ask. A stage with ``replay: {sentences: N}``
also trains on N sentences dealt from the source stage's mixture, each asked its own types and
sampled absent ones with the definitions the source stage used, so the data keeps the balance
and the types the source model learned while the support set adds the target's.

The replayed questions use the run's prompt template and layout (the source stage's must match
them, as ``init_adapter`` already requires); the deal is the source mixture's epoch for the
stage's seed, so a run replays the same sentences when resumed.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fewner.errors import ConfigError

__all__ = ["ReplaySpec", "replay_examples"]


@dataclass
class ReplaySpec:
    """``replay:`` of an SFT stage: how many source sentences, from which source file."""

    #: source sentences added to the stage's training data (0: none)
    sentences: int = 0
    #: a source file (shipped name like ``smollm2-source`` or a .yaml path): its mixture,
    #: definitions and definition_rate, as ``fewner source-train`` reads them
    source: str = "smollm2-source"

    def check(self, where: str) -> None:
        if isinstance(self.sentences, bool) or not isinstance(self.sentences, int) or self.sentences < 0:
            raise ConfigError(f"{where}.sentences: {self.sentences!r}; expected an integer >= 0")
        if not isinstance(self.source, str) or not self.source:
            raise ConfigError(f"{where}.source: expected a source file name or path, got {self.source!r}")


def replay_examples(
    spec: ReplaySpec,
    *,
    template: str,
    layout: str | None,
    tokenizer: Any,
    data_root: str | Path,
    seed: int,
    max_length: int,
) -> tuple[list[Any], Counter[str]]:
    """The encoded questions (one :class:`~fewner.train.collate.EncodedExample` per asked type,
    sentence after sentence) of ``spec.sentences`` sentences dealt from the source mixture with
    ``seed``, and counts of what was asked and skipped."""
    from fewner.train.source import build_items, load_source_settings, source_definitions

    settings = load_source_settings(spec.source)
    settings = dataclasses.replace(
        settings, template=template, layout=layout, packing=False, max_length=max_length, seed=seed
    )
    dealt = _mixture(settings.mixture, str(data_root)).epoch(seed, 0)[: spec.sentences]
    return build_items(dealt, settings, tokenizer, source_definitions(settings, data_root))


@functools.lru_cache(maxsize=2)
def _mixture(path: str, data_root: str) -> Any:
    """The source mixture, read once per process: each few-shot fit replays from it (reading
    every source corpus again per fit was most of replay's set-up time)."""
    from fewner.spanmodel.source import load_mixture_file

    return load_mixture_file(path, data_root)
