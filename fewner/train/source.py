"""The broad source stage of the LLM extractor: many types from many datasets, then few shots.

A source file (``fewner/resources/source/smollm2-source.yaml`` ships) names a mixture (the same
file format as the span model's pre-training mixture, :mod:`fewner.spanmodel.source`: datasets,
caps, negative types, dropped positives), the base model, LoRA preset, prompt template and the
optimization settings. :func:`train_source` turns one dealt epoch of the mixture into training
examples (every asked type of a sentence: its own types and sampled absent ones, the latter
answered "none"), packs the examples of a sentence into one sequence
(:mod:`fewner.train.packing`), trains with the shared :class:`~fewner.train.loop.Trainer`
(checkpoints, exact resume, progress with ETA) and saves a model folder that
``fewner.load(FOLDER)`` serves zero-shot for any label.

Definitions: each asked type gets its Pile-NER definition (``definitions.json``, turned into the
noun phrase the template's sentence needs) with probability ``definition_rate``, else the generic
"any {label} mentioned" that :class:`~fewner.predictors.extractor.ExtractorPredictor` gives a label
without a definition; so the model is served with definitions or without.

Run folder: ``config.json`` (resolved), ``data.json`` (mixture counts), ``train/`` (the loop's
log and checkpoints), ``adapter/``, ``model/`` (fewner.json + adapter), ``metrics.json``.

``full: true`` trains every weight instead of a LoRA adapter (a LoRA on q/k/v/o could not learn
*whether* a type is present, README "Where the decision can be read"); ``model/`` then holds
the weights themselves in ``model/weights/`` (bfloat16, what the model is served in), not an
adapter, and still loads with one call.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fewner.errors import ConfigError

__all__ = ["SourceSettings", "load_source_settings", "pile_ner_definitions", "train_source"]

Log = Callable[[str], None]

#: where a fully trained source model keeps its weights inside its model folder
WEIGHTS_DIR = "weights"

_VERB = re.compile(
    r"'[^']+'\s+(?:\w+\s+){0,8}?(?:refers to|represents|denotes|pertains to|signifies|encompasses"
    r"|includes|identifies|is)\s+",
)


@dataclass
class SourceSettings:
    """What a source file holds (module docstring); paths are relative to ``data_root``."""

    mixture: str = "smollm2-source"
    model: str = "smollm2-135m-instruct"
    lora: str = "obp-llm"
    #: train every weight instead of a LoRA adapter; the model folder then holds the weights
    full: bool = False
    device: str = "auto"
    template: str = "obp-llm"
    layout: str = "sentence_first"
    definitions: str | None = "source/pile-ner-391/definitions.json"
    definition_rate: float = 0.5
    packing: bool = True
    max_length: int = 1024
    seed: int = 0
    loop: dict[str, Any] = field(default_factory=dict)
    licence: str = ""
    source_file: str = ""

    def check(self) -> None:
        if not 0 <= self.definition_rate <= 1:
            raise ConfigError(f"definition_rate: {self.definition_rate}; expected 0..1")
        if self.layout != "sentence_first" and self.packing:
            raise ConfigError("packing needs layout: sentence_first (the prefix is the sentence)")


def _shipped_source(name: str) -> Path | None:
    from importlib.resources import files

    path = Path(str(files("fewner.resources") / "source" / f"{name}.yaml"))
    return path if path.is_file() else None


def load_source_settings(
    path: str | Path, overrides: Sequence[str] | Mapping[str, Any] | None = None
) -> SourceSettings:
    """Read a source file (a path or a shipped name); ``overrides`` change keys of its
    ``training`` block: ``KEY=VALUE`` strings (``--set``) or a mapping, dotted keys reaching into
    ``loop`` (``loop.epochs=2``)."""
    from fewner.config_schema import apply_overrides, load_yaml

    file = Path(path) if Path(path).suffix in (".yaml", ".yml") else _shipped_source(str(path))
    if file is None or not file.is_file():
        raise ConfigError(f"no source file {path!r} (a .yaml path, or a shipped name like 'smollm2-source')")
    spec = load_yaml(file.read_text(encoding="utf-8")) or {}
    training = apply_overrides(dict(spec.get("training") or {}), overrides or {}, example="packing=false")
    known = {f.name for f in SourceSettings.__dataclass_fields__.values()} - {"source_file", "licence"}
    unknown = sorted(set(training) - known)
    if unknown:
        raise ConfigError(f"{file}: training: unknown key(s) {unknown}; expected some of {sorted(known)}")
    settings = SourceSettings(**training, licence=str(spec.get("licence", "")), source_file=str(file))
    if "mixture" not in training:
        settings.mixture = str(file)  # the file is its own mixture
    settings.check()
    return settings


def pile_ner_definitions(path: str | Path) -> dict[str, str]:
    """Pile-NER's ``definitions.json`` (SLIMER) as ``type -> noun phrase``.

    Each entry's ``Definition`` reads "'location' refers to geographic entities ...": the part
    after the verb is the noun phrase the OBP-LLM sentence "The entity of {type} refers to
    {definition} in the input sentence" needs (trailing period dropped). Entries whose text has
    no such verb keep their whole text.
    """
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    for name, entry in raw.items():
        try:
            text = json.loads(entry["gpt_answer"])["Definition"]
        except (KeyError, TypeError, ValueError):
            continue
        match = _VERB.search(text)
        phrase = text[match.end():] if match else text
        phrase = phrase.strip().rstrip(".").strip()
        if phrase:
            out[name.lower()] = phrase
    return out


def source_definitions(settings: SourceSettings, data_root: str | Path) -> dict[str, str]:
    """The type definitions a source file names (``definitions``, under ``data_root``); {} if none."""
    if not settings.definitions:
        return {}
    file = Path(data_root) / settings.definitions
    if not file.is_file():
        raise ConfigError(f"definitions: no file {file}")
    return pile_ner_definitions(file)


def _formats(settings: SourceSettings, types: list[str], definitions: dict[str, str]) -> tuple[Any, Any]:
    from fewner.predictors.extractor import GENERIC_DEFINITION
    from fewner.prompts import ExtractionFormat, load_template

    template = load_template(settings.template, layout=settings.layout)
    generic = {t: GENERIC_DEFINITION.format(label=t) for t in types}
    specific = {t: definitions.get(t, generic[t]) for t in types}
    return ExtractionFormat(template, specific), ExtractionFormat(template, generic)


def build_items(
    examples: list[Any],
    settings: SourceSettings,
    tokenizer: Any,
    definitions: dict[str, str],
    *,
    progress: bool = False,
) -> tuple[list[Any], Counter[str]]:
    """Training items (packed sequences, or one example per asked type) and counts."""
    from fewner.progress import progress_reporter
    from fewner.train.packing import pack

    types = sorted({t for e in examples for t in e.labels})
    formats = _formats(settings, types, definitions)
    rng = random.Random(f"{settings.seed}-definitions")
    counts: Counter[str] = Counter()
    items: list[Any] = []
    with progress_reporter(progress, len(examples), "encode") as advance:
        for i, example in enumerate(examples):
            advance(1)
            encoded = _encode(i, example, settings, tokenizer, definitions, formats, rng, counts)
            if not encoded:
                # negatives can be 0 and the sentence's own types all dropped: nothing is asked
                counts["sentences with no question (skipped)"] += 1
                continue
            if settings.packing:
                _keep(items, [pack(encoded)], settings.max_length, counts, "sentences")
            else:
                _keep(items, encoded, settings.max_length, counts, "questions")
    counts["items"] = len(items)
    counts["tokens"] = sum(len(x) for x in items)
    return items, counts


def _keep(items: list[Any], new: list[Any], max_length: int, counts: Counter[str], what: str) -> None:
    for item in new:
        if len(item) > max_length:
            counts[f"{what} longer than max_length (skipped)"] += 1
        else:
            items.append(item)


def _encode(i: int, example: Any, settings: SourceSettings, tokenizer: Any,
            definitions: dict[str, str], formats: tuple[Any, Any], rng: random.Random,
            counts: Counter[str]) -> list[Any]:
    """The encoded question of every asked type of one dealt example."""
    from fewner.train.collate import encode_example
    from fewner.types import Sentence

    sentence = Sentence.from_words(list(example.words), list(example.spans), id=f"s{i}")
    present = {s.label for s in sentence.spans}
    encoded = []
    for label in example.labels:
        use_definition = label in definitions and rng.random() < settings.definition_rate
        counts["questions with a definition" if use_definition else "questions, generic"] += 1
        counts["questions with mentions" if label in present else "questions answered none"] += 1
        fmt = formats[0] if use_definition else formats[1]
        encoded.append(encode_example(fmt, tokenizer, sentence, label))
    counts["sentences"] += 1
    return encoded


def train_source(
    settings: SourceSettings,
    out: str | Path,
    *,
    data_root: str | Path,
    resume: bool = False,
    progress: bool = True,
    log: Log = print,
    limit: int | None = None,
) -> dict[str, Any]:
    """Train the source adapter into ``out`` (module docstring); returns the metrics.

    ``limit``: only the first ``limit`` dealt sentences (benchmarks and tests).
    """
    import torch

    from fewner.devices import resolve_device
    from fewner.runs import write_json_atomic
    from fewner.spanmodel.source import load_mixture_file
    from fewner.train.loop import Trainer
    from fewner.train.lora import LoraSettings, save_adapter, wrap
    from fewner.train.model_loading import load_model
    from fewner.train.packing import packed_trainer_options
    from fewner.train.settings import LoopSettings

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    resolved = asdict(settings)
    config_file = out / "config.json"
    if config_file.exists() and resume:
        before = json.loads(config_file.read_text(encoding="utf-8"))
        if before.get("settings") != json.loads(json.dumps(resolved)):
            raise ConfigError(f"{out}: --resume with other settings than the run started with")
    elif config_file.exists() and (out / "train").exists():
        raise ConfigError(f"{out} holds a source run; pass resume=True (--resume) or another folder")
    write_json_atomic(config_file, {"settings": resolved, "data_root": str(data_root), "limit": limit})

    started = time.time()
    mixture = load_mixture_file(settings.mixture, data_root)
    examples = mixture.epoch(settings.seed, 0)
    if limit is not None:
        examples = examples[:limit]
    definitions = source_definitions(settings, data_root)

    torch.manual_seed(settings.seed)
    model, tokenizer, model_id = load_model(settings.model, log, resolve_device(settings.device))
    if not settings.full:
        model = wrap(model, LoraSettings.from_preset(settings.lora))
    items, counts = build_items(examples, settings, tokenizer, definitions, progress=progress)
    if not items:
        raise ConfigError("the mixture gave no training sequence within max_length")
    summary = {**mixture.summary(), "encoded": dict(counts), "definitions": len(definitions)}
    write_json_atomic(out / "data.json", summary)
    log(
        f"source: {counts['sentences']} sentences, {counts['items']} sequences, "
        f"{counts['tokens']} tokens ({'packed' if settings.packing else 'one per question'})"
    )
    loop = LoopSettings(**{"seed": settings.seed, **settings.loop})
    loop.check("training.loop")
    options: dict[str, Any] = {}
    terms: list[Any] = []
    if settings.packing:
        options = packed_trainer_options(tokenizer.pad_token_id)
    else:
        from fewner.train.losses import build_loss_terms

        terms = build_loss_terms([{"name": "nll"}], model)
    trainer = Trainer(model, items, terms, loop, out / "train", pad_id=tokenizer.pad_token_id,
                      progress=progress, description="source", **options)
    result = trainer.train(resume=resume)
    if settings.full:
        _save_weights(model, tokenizer, out / "model" / WEIGHTS_DIR)
    else:
        save_adapter(model, out / "adapter")
    metrics = {
        "steps": result.steps,
        "examples": result.examples,
        "seconds": result.seconds,
        "wall_seconds": time.time() - started,
        "last_logs": result.last_logs,
        "tokens": counts["tokens"],
        "tokens_per_second": counts["tokens"] * result.epochs / max(result.seconds, 1e-9),
    }
    _save_model(settings, out, model_id, summary, metrics)
    write_json_atomic(out / "metrics.json", metrics)
    return metrics


def _save_model(settings: SourceSettings, out: Path, model_id: str, data: dict[str, Any],
                metrics: dict[str, Any]) -> None:
    from fewner.predictors.extractor import ExtractorPredictor

    training = {
        "recipe": "source",
        "source_file": Path(settings.source_file).name,
        "mixture": data.get("datasets"),
        "types": data.get("types"),
        "licence": settings.licence,
        "template": settings.template,
        "layout": settings.layout,
        "definition_rate": settings.definition_rate,
        "packing": settings.packing,
        "full": settings.full,
    }
    if settings.full:
        from fewner.models.catalogue import base_model_record

        model, adapter = str(out / "model" / WEIGHTS_DIR), None
        base = {**base_model_record(settings.model), "fine_tuned": "every weight (full: true)"}
    else:
        model, adapter, base = settings.model, out / "adapter", None
    predictor = ExtractorPredictor(
        model, adapter=adapter, template=settings.template, layout=settings.layout,
        training=training, metrics={"source": metrics}, base_model=base,
    )
    predictor.save(out / "model")


def _save_weights(model: Any, tokenizer: Any, folder: Path) -> None:
    """The fully trained model as a transformers folder, in bfloat16 (half the size of float32;
    the HF backend serves bfloat16 on CUDA and casts on load elsewhere), written atomically."""
    import torch

    from fewner.train.lora import save_pretrained_atomic

    save_pretrained_atomic(folder, model.to(torch.bfloat16), tokenizer)
