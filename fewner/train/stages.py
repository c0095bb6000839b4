"""Staged recipes: stages run in order in one run folder, each continuing the same adapter.

The OBP-LLM and CLLMFS recipes (``fewner/resources/recipes/obp-llm.yaml``, ``cllmfs.yaml``) are

1. ``source``: SFT on source-domain data (e.g. a few hundred CoNLL-2003 sentences, all their
   types); optional (``enabled: false``);
2. ``target``: SFT on the target support set, plus the recipe's contrastive term;
3. ``dpo`` (``kind: dpo``, OBP-LLM): DPO on boundary-shifted and error-feedback preference pairs
   of the target support set, the reference being the adapter as the stage starts
   (:mod:`fewner.train.preference_stage`);

then an optional ``test`` evaluation of the final adapter. Any stage names and any number of
stages work; the names become folders.

Run folder::

    RUN/config.json           resolved config (+ where and how it ran)
    RUN/metrics.json          per-stage summaries and the test scores
    RUN/adapter/              the final adapter (fewner predict --adapter RUN/adapter)
    RUN/<stage>/log.jsonl     step and dev-eval records of the stage
    RUN/<stage>/checkpoints/  per-epoch (and every checkpoint_every steps) checkpoints
    RUN/<stage>/adapter/      the adapter at the end of the stage
    RUN/<stage>/metrics.json  the stage summary; "completed": true once the stage is done
    RUN/<stage>/pairs.jsonl   (dpo) every preference pair with its reference log-probs
    RUN/<stage>/knowledge.jsonl, grait.json, selection.jsonl, features.pt
                              (grait) refusal-aware SFT: fewner/grait/stage.py
    RUN/test/predictions.jsonl, RUN/test/metrics.json

What differs between stage kinds (how a stage is prepared, what the loop trains on) is the
kind's :class:`~fewner.train.kinds.StageKind`; this module runs any registered kind.

Everything a run needs is prepared before the first step (data read, examples encoded, loss
terms built for every stage), so a typo in the target stage fails in seconds, not after the
source stage. ``resume=True`` skips completed stages (loading their adapters) and continues the
interrupted one from its latest checkpoint; the config must equal the one the run started with.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fewner.data.spec import DataSpec
from fewner.errors import ConfigError
from fewner.prompts import ExtractionFormat, load_template
from fewner.runs import RunDir, write_json_atomic
from fewner.train.config import EvalSpec, TrainConfig, config_to_dict, init_adapter_path
from fewner.train.kinds import STAGE_KINDS, PreparedStage, RunContext, TrainingItems
from fewner.train.model_loading import load_model
from fewner.train.replay import check_replay_files
from fewner.train.span_style import SpanStyle, decide_span_style
from fewner.types import Sentence

__all__ = ["PreparedStage", "TrainingItems", "read_sentences", "run_training"]

Log = Callable[[str], None]


def read_sentences(config: TrainConfig, spec: DataSpec) -> tuple[list[Sentence], list[str]]:
    """The sentences ``spec`` selects (a file under ``data_root`` or inline examples, after
    ``skip`` and ``limit``) and the types to prompt for."""
    return spec.sentences_and_types(config.data_root)


def _evaluator(
    spec: EvalSpec,
    sentences: list[Sentence],
    types: list[str],
    fmt: ExtractionFormat,
    tokenizer: Any,
    model_id: str,
    abstain: bool = False,
    style: SpanStyle | None = None,
) -> Callable[[Any], tuple[dict[str, Any], Any]]:
    """``evaluate(model) -> (summary, ExtractionResult)``: span F1 of ``model`` on ``sentences``,
    and the per-prompt correct / wrong / refused rates (:mod:`fewner.eval.refusal`). ``style``:
    the run's span style; its widening is applied to the predictions first, so the scores are
    those of the model the run saves."""

    def evaluate(model: Any) -> tuple[dict[str, Any], Any]:
        from fewner.eval.metrics import score
        from fewner.eval.refusal import prompt_outcomes
        from fewner.predict.extractor import extractor_for_model

        extractor = extractor_for_model(
            model,
            tokenizer,
            f"{model_id}+lora:training",
            fmt,
            batch_size=spec.batch_size,
            max_new_tokens=spec.max_new_tokens,
            constrained=spec.constrained,
            abstain=abstain,
        )
        result = extractor.extract(sentences, types)
        if style is not None:  # widened as the saved model widens (a no-op when it does not)
            result.predictions, widened = style.widen(result.predictions, types)
            result.stats.update(widened)
        scores = score(sentences, result.predictions)
        outcomes = prompt_outcomes(sentences, result.predictions, types, result.abstained)
        summary = {
            "f1": scores.micro.f1,
            "precision": scores.micro.precision,
            "recall": scores.micro.recall,
            "sentences": len(sentences),
            "prompts": outcomes.to_dict(),
            "abstain": abstain,
            "stats": dict(result.stats),
        }
        return {**summary, "scores": scores.to_dict()}, result

    return evaluate


#: Keys that do not change what a run trains: they may differ when a run is continued.
_FREE_KEYS = {"dev", "test", "target_stages", "_run"}
_FREE_STAGE_KEYS = {
    "eval_every",
    "eval_at_end",
    "checkpoint_every",
    "keep_checkpoints",
    "log_every",
}


def _trajectory_view(config: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in config.items() if k not in _FREE_KEYS}
    view["stages"] = {
        name: {k: v for k, v in stage.items() if k not in _FREE_STAGE_KEYS}
        for name, stage in (view.get("stages") or {}).items()
    }
    return view


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists stay values)."""
    if not isinstance(data, dict) or not data:
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _stage_key_defaults() -> dict[str, Any]:
    """A stage key's default (StageSpec's own keys and LoopSettings'), by key name."""
    from dataclasses import MISSING, fields

    from fewner.train.config import StageSpec
    from fewner.train.settings import LoopSettings

    return {f.name: f.default for cls in (StageSpec, LoopSettings) for f in fields(cls)
            if f.default is not MISSING}


def _absent_as_default(flat: dict[str, Any], key: str) -> Any:
    """``flat[key]``; a key absent (a run written before the key existed) reads as what the run
    then did: a stage key (``stages.NAME.KEY``) or a top-level key with a plain default (e.g.
    ``train_spans``) as that default, any other key as null."""
    from dataclasses import MISSING, fields

    if key in flat:
        return flat[key]
    parts = key.split(".")
    if len(parts) == 3 and parts[0] == "stages":
        return _stage_key_defaults().get(parts[2])
    if len(parts) == 1:
        return next((f.default for f in fields(TrainConfig) if f.name == key and f.default is not MISSING), None)
    return None


def _check_resume(
    folder: Path, config: dict[str, Any], resume: bool, only_stage: str | None
) -> None:
    """Refuse to mix runs: an existing folder needs --resume (or --stage) and the same training
    settings (evaluation, logging and checkpointing settings may change)."""
    stored = folder / "config.json"
    if stored.exists():
        if not resume and only_stage is None:
            raise ConfigError(
                f"{folder} already holds a run; pass --resume to continue it or choose another --out"
            )
        old = _flatten(_trajectory_view(json.loads(stored.read_text(encoding="utf-8"))))
        new = _flatten(_trajectory_view(json.loads(json.dumps(config))))
        diff = sorted(k for k in set(old) | set(new) if _absent_as_default(old, k) != _absent_as_default(new, k))
        if diff:
            raise ConfigError(
                f"cannot continue {folder}: its config differs in {', '.join(diff)}; "
                "use the same training settings or start a new run"
            )
    if only_stage is not None and not resume and (folder / only_stage / "checkpoints").exists():
        raise ConfigError(
            f"{folder / only_stage} already holds checkpoints; pass --resume to continue the stage"
        )


def run_training(
    config: TrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    only_stage: str | None = None,
    progress: bool = False,
    log: Log = lambda _m: None,
    on_step: Callable[[str, int], None] | None = None,
) -> dict[str, Any]:
    """Run the enabled stages of ``config`` into ``out``; return the run's metrics.

    ``only_stage``: run just this stage (starting from the adapter of the last earlier stage
    found in ``out``, else from a fresh adapter), and skip the test evaluation.
    ``on_step(stage, step)``: called after each optimizer step (tests simulate crashes with it).
    """
    import torch

    from fewner.train.distributed import current
    from fewner.train.loop import Trainer
    from fewner.train.lora import load_adapter_weights, save_adapter, wrap

    dist = current()  # several processes under `accelerate launch` (fewner.train.distributed)
    if not dist.is_main:
        log = lambda _m: None  # noqa: E731 - one voice per run
    if only_stage is not None and only_stage not in config.stages:
        raise ConfigError(
            f"--stage {only_stage!r}: no such stage; stages: {', '.join(config.stages)}"
        )
    resolved = config_to_dict(config)
    _check_resume(Path(out), resolved, resume, only_stage)
    check_replay_files(config.stages, config.data_root)  # before the model loads

    template = load_template(config.template, layout=config.layout)
    formats: dict[str, ExtractionFormat] = {}

    def fmt_for(definitions: str | dict[str, str] | None) -> ExtractionFormat:
        name = definitions or config.definitions
        key = name if isinstance(name, str) else json.dumps(name, sort_keys=True)
        if key not in formats:
            formats[key] = ExtractionFormat(template, name)
        return formats[key]

    base, tokenizer, model_id = load_model(config.model, log, dist.device(config.device))
    torch.manual_seed(config.seed)  # LoRA initialisation
    model = wrap(base, config.lora.settings())
    if config.init_adapter is not None:  # e.g. a source stage shared by several target variants
        load_adapter_weights(model, init_adapter_path(config.init_adapter))
        log(f"started from the adapter in {config.init_adapter}")

    ctx = RunContext(config, model, tokenizer, model_id, dist, resume=resume, log=log)
    style = decide_span_style(config)  # before training: it may change what the targets learn
    if style.extension.asked == "auto" or style.train_spans == "heads":
        answers = f"widened by {style.extension.chosen}" if style.widens else "kept as predicted"
        log(f"span style: answers {answers}; target stages train on {style.train_spans}")
    stages: list[PreparedStage] = []
    for name in config.enabled_stages():
        spec = config.stages[name]
        sentences, types = read_sentences(config, spec.data)
        sentences = style.training_sentences(name, sentences)
        kind = STAGE_KINDS[spec.kind]
        stages.append(kind.setup(ctx, name, spec, sentences, types, fmt_for(spec.definitions)))
    dev = test = None
    if config.dev is not None:
        dev = _evaluator(
            config.dev,
            *read_sentences(config, config.dev.data),
            fmt_for(config.dev.definitions),
            tokenizer,
            model_id,
            abstain=_abstain(config, config.dev),
            style=style,
        )
    if config.test is not None and only_stage is None:
        test = _evaluator(
            config.test,
            *read_sentences(config, config.test.data),
            fmt_for(config.test.definitions),
            tokenizer,
            model_id,
            abstain=_abstain(config, config.test),
            style=style,
        )

    # Everything is ready: only now does the run folder get written (a config error leaves none).
    run = RunDir(out)
    if dist.is_main:
        run.write_config(resolved)  # the same training settings; evaluation settings may be new
    summaries: dict[str, Any] = {}
    last_adapter: Path | None = None
    for stage in stages:
        folder = run.path / stage.name
        done = _completed(folder)
        if only_stage is not None and stage.name != only_stage:
            if _before(config, stage.name, only_stage) and (folder / "adapter").is_dir():
                load_adapter_weights(model, folder / "adapter")
                log(f"{stage.name}: loaded its adapter from {folder / 'adapter'}")
            continue
        if resume and done is not None:
            load_adapter_weights(model, folder / "adapter")
            last_adapter, summaries[stage.name] = folder / "adapter", done
            log(f"{stage.name}: already completed; continuing from its adapter")
            continue
        settings = stage.spec.loop_settings(
            seed=config.stage_seed(stage.name), precision=config.precision
        )
        items: TrainingItems = STAGE_KINDS[stage.spec.kind].prepare(ctx, stage, folder)
        trainer = Trainer(
            model,
            items.items,
            stage.terms,
            settings,
            folder,
            pad_id=tokenizer.pad_token_id,
            evaluate=(lambda m: dev(m)[0]) if dev is not None else None,
            on_step=(lambda step, n=stage.name: on_step(n, step)) if on_step else None,
            progress=progress,
            description=stage.name,
            dist=dist,
            **items.trainer_options,
        )
        result = trainer.train(resume=resume)
        last_adapter = folder / "adapter"
        if dist.is_main:
            save_adapter(model, last_adapter)
        summary = {
            "completed": True,
            **asdict(result),
            "types": stage.types,
            "sentences": stage.sentences,
            "processes": dist.world,
            **items.summary,
        }
        if dist.is_main:
            write_json_atomic(folder / "metrics.json", summary)
        dist.barrier()
        summaries[stage.name] = summary
        log(
            f"{stage.name}: {result.steps} steps in {result.seconds:.1f}s; last loss {result.last_logs.get('loss')}"
        )

    metrics: dict[str, Any] = {"stages": summaries, "span_style": style.as_dict()}
    if not dist.is_main:  # rank 0 saves, tests and writes the run's metrics
        return metrics
    if last_adapter is not None and only_stage is None:
        save_adapter(model, run.path / "adapter")
        metrics["adapter"] = str(run.path / "adapter")
    if test is not None:
        metrics["test"] = _run_test(test, model, run.path / "test", log)
    run.write_metrics(metrics)
    return metrics


def _abstain(config: TrainConfig, spec: EvalSpec) -> bool:
    """``spec.abstain``, or (null) whether the run has an enabled stage of a kind that teaches
    abstaining (``kind: grait``)."""
    if spec.abstain is not None:
        return spec.abstain
    return any(STAGE_KINDS[config.stages[n].kind].abstains for n in config.enabled_stages())


def _completed(folder: Path) -> dict[str, Any] | None:
    path = folder / "metrics.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if data.get("completed") else None


def _before(config: TrainConfig, stage: str, other: str) -> bool:
    names: Sequence[str] = list(config.stages)
    return names.index(stage) < names.index(other)


def _run_test(
    test: Callable[[Any], tuple[dict[str, Any], Any]], model: Any, folder: Path, log: Log
) -> dict[str, Any]:
    import torch

    from fewner.data.formats.jsonl import write_jsonl

    with torch.random.fork_rng(devices=[]):
        summary, result = test(model)
    folder.mkdir(parents=True, exist_ok=True)
    abstained = result.abstained if summary.get("abstain") or result.abstained else None
    write_jsonl(result.predictions, folder / "predictions.jsonl", abstained=abstained)
    write_json_atomic(folder / "metrics.json", summary)
    prompts = summary.get("prompts") or {}
    log(
        f"test: F1 {summary['f1']:.4f} (P {summary['precision']:.4f}, R {summary['recall']:.4f}) "
        f"on {summary['sentences']} sentences; prompts correct {prompts.get('correct_rate', 0):.3f}, "
        f"wrong {prompts.get('wrong_rate', 0):.3f}, refused {prompts.get('refused_rate', 0):.3f}"
    )
    return {k: v for k, v in summary.items() if k != "scores"}
