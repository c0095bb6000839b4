"""What the broad source stage buys the LLM extractor: zero-shot and 5-shot rows per dataset.

    python experiments/source_fewshot.py [--source smollm2-135m-ner] [--datasets wnut,conll,gum]
        [--sets 0,1,2] [--rows zero,sft] [--limit 500] [--threads 2] [--out FILE.json]
        [--query dev] [--dtype bfloat16] [--predictions DIR] [--set stages.target.epochs=2 ...]

Rows (each on the fixed 5-shot support sets; the test set's first ``--limit`` sentences):

* ``zero``: the source-stage model alone (no target data), once per dataset, with its saved
  ``none_bias`` (keyed ``zero[none_bias=B]`` when not 0; ``--none-bias`` overrides it);
* ``calib``: ``fewner.fit(support, types, recipe="calibrate")``: the same model, no training, its
  ``none_bias`` chosen on the support set (fewner/predict/calibration.py);
* ``sft``: ``fewner.fit(support, types, recipe="ner-sft")``: packed LoRA SFT from the source adapter
  (a fresh LoRA on a fully trained source model), with the recipe's ``span_extension: auto`` and
  ``train_spans: auto`` (since 2026-12-05: on noun-phrase support sets such as GUM's, trained on
  head words and widened back; results of earlier dates were trained on the mentions) and its lr
  (3e-5 since 2026-12-06; ``sft`` results of earlier dates ran at 1e-4: ``--set stages.target.lr=1e-4``);
* ``sft-replay``: ``fewner.fit(support, types, recipe="ner-sft-replay")``: ``sft`` with 50 source
  sentences replayed beside the support set (``stages.target.replay``, fewner/train/replay.py), lr 1e-4;
* ``sft-attn`` / ``sft-hidden``: ``sft`` at lr 1e-4 (as measured; so are the rows below), unpacked,
  with OBP-LLM's attention contrastive term (lambda 0.01) / CLLMFS's hidden-state term (lambda 0.001);
* ``sft-dpo``: ``sft`` then OBP-LLM's DPO stage (boundary-shifted + error-feedback pairs);
* ``sft-replay-np``: ``sft-replay`` whose model widens its answers to their noun chunk
  (``span_extension: noun_chunk``, fewner/text/noun_phrases.py);
* ``sft-replay-heads``: the same, trained on the head word of every support mention (spaCy's
  root of the span: "the owner of the bar" -> "owner") and widened back at prediction: the
  model answers the words it points at well, the parse supplies the phrase (the experiment that
  led to the recipe's ``train_spans: auto``; kept to reproduce its recorded numbers);
* ``today``: the ``obp-llm`` recipe as it was before the source stage (source SFT on 300
  CoNLL-2003 sentences, then 20 epochs of target SFT, type-first prompts); its source stage is
  trained once, into ``OUT.today-source/`` beside ``--out``, and every run starts from it.

Labels are read as words (``PER`` -> ``person``: span_eval.LABEL_NAMES) with the dataset's
definitions under the new names. Results are written after every run (``--out``, default
``experiments/results/source_fewshot.json``) and a finished (dataset, set, row) is not rerun, so
the script resumes. Prints a table of mean ± std F1 per row and dataset.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

from _overrides import parse_overrides
from span_eval import LABEL_NAMES

DEFINITIONS = {"wnut": "wnut17", "conll": "conll2003", "gum": "gum"}
# for choosing a recipe; GUM has no dev split: its train split minus the support sentences (the
# fixed support sets were sampled from it)
DEV_FILES = {"wnut": "wnut17/emerging.dev.conll", "conll": "conll2003/valid.txt", "gum": "gum/gum-train.conll"}
ATTN = [{"name": "nll"}, {"name": "attn_contrastive", "weight": 0.01, "layer": 0.8}]
HIDDEN = [{"name": "nll"}, {"name": "hidden_contrastive", "weight": 0.001, "layer": 0.8}]


def row_plan(row: str, model: str, adapter: str | None, support: list, types: list[str]) -> tuple[str, dict]:
    """(recipe, overrides) of a trained row: LoRA SFT from the source adapter, or a fresh LoRA
    on the fully trained source model."""
    base = {"model": model, "init_adapter": adapter, "precision": "bf16"}
    if row not in ("sft", "sft-replay", "today"):  # measured before ner-sft's lr became 3e-5 (2026-12-06)
        base["stages.target.lr"] = 1.0e-4
    if row == "sft":
        return "ner-sft", base
    if row == "sft-replay":  # the same config as ner-sft + stages.target.replay: {sentences: 50}
        return "ner-sft-replay", base
    if row in ("sft-replay-np", "sft-replay-heads"):  # mentions: the heads row converts them itself
        return "ner-sft", {**base, "stages.target.replay": {"sentences": 50}, "span_extension": "noun_chunk",
                           "train_spans": "mentions"}
    if row == "sft-attn":
        return "ner-sft", {**base, "stages.target.packing": False, "stages.target.loss": ATTN}
    if row == "sft-hidden":
        return "ner-sft", {**base, "stages.target.packing": False, "stages.target.loss": HIDDEN}
    if row == "sft-dpo":
        dpo = {"kind": "dpo", "data": {"inline": list(support), "types": types}, "epochs": 3,
               "batch_size": 8, "lr": 5.0e-6}
        return "ner-sft", {**base, "stages.dpo": dpo, "target_stages": ["target", "dpo"]}
    if row == "today":  # adapter: its own 300-CoNLL source stage (today_source_adapter), not the broad one
        return "obp-llm", {"init_adapter": adapter, "precision": "bf16", "stages.source.enabled": False,
                           "stages.dpo.enabled": False}
    raise SystemExit(f"unknown row {row!r}")


def today_source_adapter(folder: Path) -> Path:
    """The ``today`` row's source stage (``obp-llm``'s LoRA SFT on the first 300 CoNLL-2003
    training sentences), trained once into ``folder`` (resumed if cut off) and shared by every
    ``today`` run as its ``init_adapter``: the same stage each run would train first (stage seeds
    do not depend on which stages are enabled), ~11 minutes on 2 cores saved per run."""
    adapter = folder / "adapter"
    if not (adapter / "adapter_config.json").is_file():
        from fewner.train.recipes import recipe_config
        from fewner.train.stages import run_training

        config = recipe_config("obp-llm", {"precision": "bf16", "stages.target.enabled": False,
                                           "stages.dpo.enabled": False, "dev": None, "test": None})
        run_training(config, folder, resume=(folder / "config.json").is_file(), log=print)
    return adapter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="smollm2-135m-ner", help="source-stage model folder or shipped name")
    ap.add_argument("--datasets", default="wnut,conll,gum")
    ap.add_argument("--sets", default="0,1,2")
    ap.add_argument("--rows", default="zero,sft")
    ap.add_argument("--limit", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16, help="prompts per forward pass when extracting")
    ap.add_argument("--out", default="experiments/results/source_fewshot.json")
    ap.add_argument("--query", choices=("test", "dev"), default="test",
                    help="score on the test set (the table) or the dev split (choosing a recipe)")
    ap.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                    help="the LLM's weights when extracting (training keeps its own precision); "
                         "bfloat16 runs are keyed ROW@bfloat16")
    ap.add_argument("--predictions", type=Path, default=None, metavar="DIR",
                    help="also write each run's predicted test sentences to DIR/<key>.jsonl "
                         "(fewner's lossless jsonl; for error analysis without a rerun)")
    ap.add_argument("--none-bias", type=float, default=None,
                    help="the zero row's none_bias [default: the source model's saved one]")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="recipe override for the trained rows (YAML value), e.g. stages.target.epochs=2; "
                         "the runs are keyed ROW[KEY=VALUE,...]")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    import fewner
    from fewner.data.io import read_corpus, write_corpus
    from fewner.data.spec import default_data_root, rename_labels
    from fewner.data.support_sets import load_fixed_support_sets
    from fewner.eval.pairing import score_predictions
    from fewner.predictors.extractor import ExtractorPredictor
    from fewner.prompts import load_definitions
    from fewner.spanmodel.shipped import shipped_path

    source = shipped_path(args.source) or Path(args.source)
    saved = fewner.load(source)  # a LoRA source stage: catalogue model + adapter; a full one: its weights
    model, adapter = saved.model, None if saved.adapter is None else str(saved.adapter)
    none_bias = saved.none_bias if args.none_bias is None else args.none_bias
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {"runs": {}}
    results.update({"source": str(args.source), "limit": args.limit})
    root = Path(default_data_root())
    extra = parse_overrides(args.overrides)

    def save() -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1, sort_keys=True))

    for name in args.datasets.split(","):
        names = LABEL_NAMES[name]
        episodes = load_fixed_support_sets(root, name, 5).episodes
        shipped_defs = load_definitions(DEFINITIONS[name])
        definitions = {names.get(k, k): v for k, v in shipped_defs.items()}
        query = None
        if args.query == "dev":
            if name not in DEV_FILES:
                raise SystemExit(f"{name} has no dev split here (dev: {', '.join(DEV_FILES)})")
            query = read_corpus(root / DEV_FILES[name]).sentences
        for row in args.rows.split(","):
            for index in ([0] if row == "zero" else [int(i) for i in args.sets.split(",")]):
                if row == "zero":
                    tag = f"zero[none_bias={none_bias}]" if none_bias else "zero"
                else:
                    tag = row if row == "calib" or not extra else f"{row}[{','.join(args.overrides)}]"
                tag += "" if args.dtype == "float32" else f"@{args.dtype}"
                key = f"{name}/{tag}/{index}" + ("/dev" if args.query == "dev" else "")
                if key in results["runs"]:
                    continue
                episode = episodes[index]
                types = [names.get(t, t) for t in episode.types]
                if query is not None:  # a dev sentence that is also a support sentence is left out
                    seen = {x.text for x in episode.support}
                    pool = [x for x in query if x.text not in seen]
                else:
                    pool = list(episode.query)
                test = rename_labels(pool[: args.limit], names)
                support = rename_labels(list(episode.support), names)
                # trained once per --out, before the timer: train_seconds is the target stage alone
                today_adapter = today_source_adapter(out.with_suffix(".today-source")) if row == "today" else None
                started = time.perf_counter()
                if row == "zero":
                    predictor = ExtractorPredictor(
                        model, types, adapter=adapter, layout="sentence_first", definitions=definitions,
                        none_bias=none_bias,
                    )
                elif row == "calib":
                    predictor = fewner.fit(support, types, recipe="calibrate", model=source,
                                           definitions=definitions, batch_size=args.batch_size,
                                           progress=False)
                else:
                    start_from = adapter if today_adapter is None else str(today_adapter)
                    recipe, overrides = row_plan(row, model, start_from, support, types)
                    if row == "sft-replay-heads":
                        from fewner.text.noun_phrases import NounChunker, head_words

                        support = head_words(support, NounChunker())
                    overrides.update(extra)
                    predictor = fewner.fit(support, types, recipe=recipe, definitions=definitions,
                                           overrides=overrides, progress=False)
                trained = time.perf_counter() - started
                predictor.batch_size = args.batch_size
                if args.dtype != "float32":
                    predictor.close()  # calib's backend ran in float32; the next one loads in dtype
                    predictor.backend_options["dtype"] = args.dtype
                predicted = predictor.predict_sentences(test, types).sentences
                seconds = time.perf_counter() - started - trained
                scores, _ = score_predictions(test, predicted, types)
                if args.predictions is not None:
                    name_of_run = re.sub(r"[^\w.=,-]+", "_", key)
                    write_corpus(predicted, args.predictions / f"{name_of_run}.jsonl", "jsonl")
                results["runs"][key] = {
                    "f1": round(100 * scores.micro.f1, 2), "p": round(100 * scores.micro.precision, 2),
                    "r": round(100 * scores.micro.recall, 2), "train_seconds": round(trained, 1),
                    "predict_seconds": round(seconds, 1), "sentences": len(test), "types": types,
                    "per_type": {t: round(100 * v.f1, 2) for t, v in sorted(scores.per_type.items())},
                    # false positives by kind (boundary / type / boundary+type / spurious) and
                    # gold spans no prediction overlaps (missed): fewner/eval/metrics.py
                    "errors": dict(scores.error_kinds), "tp": scores.micro.tp,
                }
                if row == "calib":
                    results["runs"][key]["calibration"] = predictor.metrics["calibration"]
                print(f"{key}: F1 {100 * scores.micro.f1:.1f}"
                      + (f" (none_bias {predictor.none_bias:+.1f})" if row == "calib" else "")
                      + f" (train {trained:.0f} s, "
                      f"predict {seconds:.0f} s for {len(test)} sentences)", flush=True)
                save()
    table(results)


def table(results: dict) -> None:
    rows: dict[str, dict[str, list[float]]] = {}
    for key, run in results["runs"].items():
        name, row = key.split("/")[:2]
        row += "/dev" if key.endswith("/dev") else ""
        rows.setdefault(row, {}).setdefault(name, []).append(run["f1"])
    names = sorted({k.split("/")[0] for k in results["runs"]})
    print("| row | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for row, per in rows.items():
        cells = []
        for name in names:
            values = per.get(name, [])
            if not values:
                cells.append("-")
            elif len(values) == 1:
                cells.append(f"{values[0]:.1f} (n=1)")
            else:
                cells.append(f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f} (n={len(values)})")
        print(f"| {row} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
