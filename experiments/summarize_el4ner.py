"""Print the EL4NER table from the run folders written by experiments/el4ner.sh.

Usage: python experiments/summarize_el4ner.py OUT [--json]

One row per (dataset, run, predictions): single models and ensembles, without and with stage-3
self-validation, under each retrieval method. Columns: micro P/R/F1 (percent), predicted and gold
spans, sentences, sentences per second of the pipeline (model calls + retrieval of queries; not
model loading), the model calls actually made (cache misses; fewer than the calls asked for when
an earlier run of the script had already cached some), and parse failures per stage summed over
the run's models (extract/classify/validate). A second table gives, per model of every run, the
seconds spent in its backend (answers served from the cache cost next to nothing, so in a
cold-cache ensemble run this is that model's own cost) and its failed/total answers per stage.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ORDER = ["single-", "ensemble-span", "ensemble-sentence", "ensemble-random"]


def _rank(name: str) -> tuple[int, str]:
    for i, prefix in enumerate(ORDER):
        if name.startswith(prefix):
            return i, name
    return len(ORDER), name


def rows(out: Path) -> list[dict]:
    table = []
    for metrics_path in sorted(out.glob("*/*.run/metrics.json")):
        dataset = metrics_path.parent.parent.name
        run = metrics_path.parent.name.removesuffix(".run")
        metrics = json.loads(metrics_path.read_text())
        config = json.loads((metrics_path.parent / "config.json").read_text())
        scores = metrics.get("scores") or {}
        models = metrics["models"]
        failures = "/".join(
            str(sum(m.get(f"{stage}_failures", 0) for m in models.values()))
            for stage in ("extract", "classify", "validate")
        )
        misses = sum((c.get("misses") or 0) for c in metrics["cache"].values())
        wall = metrics_path.parent.parent / f"{run}.seconds"
        for key, label in (("unvalidated", "without validation"), ("validated", "with validation")):
            s = scores.get(key)
            if not s:
                continue
            micro = s["micro"]
            table.append(
                {
                    "dataset": dataset,
                    "run": run,
                    "predictions": label,
                    "retrieval": config["resolved"]["retrieval"]["method"],
                    "models": len(models),
                    "precision": micro["precision"],
                    "recall": micro["recall"],
                    "f1": micro["f1"],
                    "predicted": micro["predicted"],
                    "gold": micro["support"],
                    "sentences": metrics["sentences"],
                    "sentences_per_second": metrics["sentences_per_second"],
                    "model_calls": misses,
                    "parse_failures": failures,
                    "wall_seconds": int(wall.read_text()) if wall.is_file() else None,
                }
            )
    table.sort(
        key=lambda r: (r["dataset"], _rank(r["run"]), r["predictions"] != "without validation")
    )
    return table


def model_rows(out: Path) -> list[dict]:
    """Per model of every run: seconds spent in its backend (cache hits cost ~0) and failures."""
    table = []
    for metrics_path in sorted(out.glob("*/*.run/metrics.json")):
        metrics = json.loads(metrics_path.read_text())
        for name, m in metrics["models"].items():
            table.append(
                {
                    "dataset": metrics_path.parent.parent.name,
                    "run": metrics_path.parent.name.removesuffix(".run"),
                    "model": name,
                    "backend_seconds": m["seconds"],
                    "seconds_per_sentence": round(m["seconds"] / max(1, metrics["sentences"]), 3),
                    "cache_misses": metrics["cache"].get(name, {}).get("misses"),
                    "failures": {
                        stage: [m.get(f"{stage}_failures", 0), m.get(f"{stage}_answers", 0)]
                        for stage in ("extract", "classify", "validate")
                    },
                }
            )
    table.sort(key=lambda r: (r["dataset"], _rank(r["run"]), r["model"]))
    return table


def main(out: Path, as_json: bool) -> None:
    table = rows(out)
    models = model_rows(out)
    if as_json:
        print(json.dumps({"runs": table, "models": models}, indent=2))
        return
    print(
        "| dataset | run | stage 3 | P | R | F1 | pred | gold | sent | sent/s | model calls "
        "| parse failures e/c/v | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in table:
        print(
            f"| {r['dataset']} | {r['run']} | {'yes' if r['predictions'] == 'with validation' else 'no'} "
            f"| {100 * r['precision']:.1f} | {100 * r['recall']:.1f} | {100 * r['f1']:.1f} "
            f"| {r['predicted']} | {r['gold']} | {r['sentences']} | {r['sentences_per_second']} "
            f"| {r['model_calls']} | {r['parse_failures']} | {r['wall_seconds']} |"
        )
    print()
    print("| dataset | run | model | backend s | s/sentence | new calls | failed/answers e, c, v |")
    print("|---|---|---|---|---|---|---|")
    for r in models:
        fails = ", ".join(f"{f}/{a}" for f, a in r["failures"].values())
        print(
            f"| {r['dataset']} | {r['run']} | {r['model']} | {r['backend_seconds']:.1f} "
            f"| {r['seconds_per_sentence']} | {r['cache_misses']} | {fails} |"
        )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), "--json" in sys.argv[2:])
