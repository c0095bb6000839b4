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

__all__ = ["ReplaySpec", "check_replay_files", "missing_replay_files", "replay_examples"]


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


def missing_replay_files(spec: ReplaySpec, data_root: str | Path) -> list[Path]:
    """The files under ``data_root`` that replaying from ``spec.source`` reads and that are not
    there (its mixture's corpora and its definitions); [] when replay is off or all are there.
    Checked before training so a missing corpus stops a run before the model loads, with every
    missing file named at once."""
    if not spec.sentences:
        return []
    from fewner.config_schema import load_yaml
    from fewner.spanmodel.source import mixture_file
    from fewner.train.source import load_source_settings

    settings = load_source_settings(spec.source)
    mixture = load_yaml(mixture_file(settings.mixture).read_text(encoding="utf-8")) or {}
    wanted = [entry["path"] for entry in mixture.get("datasets") or [] if "path" in entry]
    if settings.definitions:
        wanted.append(settings.definitions)
    return [Path(data_root) / path for path in wanted if not (Path(data_root) / path).is_file()]


def check_replay_files(stages: dict[str, Any], data_root: str | Path) -> None:
    """Raise :class:`ConfigError` naming every missing file when an enabled stage of
    ``stages`` (name -> StageSpec) replays source sentences whose corpora are not under
    ``data_root`` (``ner-sft-replay`` on a machine without the shared data)."""
    for name, stage in stages.items():
        replay = getattr(stage, "replay", None)
        missing = [] if replay is None or not stage.enabled else missing_replay_files(replay, data_root)
        if missing:
            shown = ", ".join(str(path) for path in missing[:4])
            shown += f" and {len(missing) - 4} more" if len(missing) > 4 else ""
            raise ConfigError(
                f"stages.{name}.replay reads the source corpora of {replay.source!r} under "
                f"data_root={data_root}; {len(missing)} file(s) are not there: {shown}. Point "
                "FEWNER_SHARED_DATA (or data_root) at them, or train without replay "
                f"(stages.{name}.replay.sentences=0; recipe ner-sft)"
            )


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
