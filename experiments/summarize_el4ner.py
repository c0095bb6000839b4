"""Print the EL4NER table from the run folders written by experiments/el4ner.sh.

Usage: python experiments/summarize_el4ner.py SOURCE... [--json]

A SOURCE is an OUT folder of experiments/el4ner.sh or a JSON summary this script printed
(--json). Several sources are shards of one test set (el4ner.sh's START/LIMIT): rows with the
same dataset, run and model are added up — span counts, sentences, model calls, failures and
seconds — and P/R/F1 and sentences per second recomputed from the sums
(:func:`fewner.eval.shards.add_up`), so two 100-sentence shards give exactly the table of one
200-sentence run.

One row per (dataset, run, predictions): single models and ensembles, without and with stage-3
self-validation, under each retrieval method. Columns: micro P/R/F1 (percent), predicted and gold
spans, sentences, sentences per second of the pipeline (model calls + retrieval of queries; not
model loading), the model calls actually made (cache misses; fewer than the calls asked for when
an earlier run of the script had already cached some), and parse failures per stage summed over
the run's models (extract/classify/validate). A second table gives, per model of every run, the
seconds spent in its backend (answers served from the cache cost next to nothing, so in a
cold-cache ensemble run this is that model's own cost) and its failed/total answers per stage.
A third table scores stage 1 alone, untyped: each model's proposed spans and the voted spans
against the gold spans (character offsets, type ignored), from the run's answers file; it needs
fewner importable (the gold file is read with fewner's reader) and costs no model call.
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
    table.sort(key=_run_order)
    return table


def _run_order(row: dict) -> tuple:
    return row["dataset"], _rank(row["run"]), row["predictions"] != "without validation"


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


def span_rows(out: Path) -> list[dict]:
    """Stage 1 untyped: every model's proposals and the vote's kept spans vs gold spans."""
    from fewner.data.io import read_corpus
    from fewner.eval.metrics import PRF

    table = []
    for answers_path in sorted(out.glob("*/*.answers.jsonl")):
        run = answers_path.name.removesuffix(".answers.jsonl")
        config_path = answers_path.with_name(f"{run}.run") / "config.json"
        if not config_path.is_file():
            continue
        config = json.loads(config_path.read_text())
        if not config.get("gold"):
            continue
        gold = {
            s.id: {(x.start, x.end) for x in s.spans} for s in read_corpus(config["gold"]).sentences
        }
        counts: dict[str, PRF] = {}
        for line in answers_path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            want = gold.get(record["sentence_id"], set())
            sets = {  # None: an unparseable answer, no spans
                m: {tuple(x) for x in spans or ()} for m, spans in record["proposals"].items()
            }
            sets["(vote)"] = {tuple(x) for x in record["kept"]}
            for name, got in sets.items():
                tp = len(got & want)
                counts[name] = counts.get(name, PRF(0, 0, 0)) + PRF(
                    tp, len(got) - tp, len(want) - tp
                )
        for name, prf in sorted(counts.items()):
            table.append(
                {
                    "dataset": answers_path.parent.name,
                    "run": run,
                    "spans_of": name,
                    "precision": prf.precision,
                    "recall": prf.recall,
                    "f1": prf.f1,
                    "predicted": prf.predicted,
                    "gold": prf.support,
                }
            )
    return table


def summary(source: Path) -> dict:
    """The three tables of one OUT folder, or a JSON summary read back."""
    if source.is_file():
        return json.loads(source.read_text(encoding="utf-8"))
    try:
        spans = span_rows(source)
    except ImportError:  # fewner not importable: the stage-1 table is left out
        spans = []
    return {"runs": rows(source), "models": model_rows(source), "stage1_spans": spans}


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _add_parse_failures(group: list[dict]) -> str:
    """The "extract/classify/validate" failure counts of the shards, added up."""
    return "/".join(
        str(sum(int(g["parse_failures"].split("/")[i]) for g in group)) for i in range(3)
    )


def _add_stage_failures(group: list[dict]) -> dict[str, list[int]]:
    """Per stage, the [failed, answers] counts of the shards, added up."""
    return {
        stage: [sum(g["failures"][stage][i] for g in group) for i in range(2)]
        for stage in group[0]["failures"]
    }


def merge(summaries: list[dict]) -> dict:
    """Shards of one test set added up (module docstring); one summary is returned as is."""
    from fewner.eval.shards import add_up, pooled_rate

    if len(summaries) == 1:
        return summaries[0]

    def every(table: str) -> list[dict]:
        return [r for s in summaries for r in s.get(table, ())]  # older summaries lack tables

    runs = add_up(
        every("runs"),
        ("dataset", "run", "predictions"),
        ["predicted", "gold", "sentences", "model_calls", "wall_seconds"],
        combine={
            "sentences_per_second": lambda g: _rounded(
                pooled_rate(g, "sentences", "sentences_per_second"), 4
            ),
            "parse_failures": _add_parse_failures,
        },
    )
    sentences = {(r["dataset"], r["run"]): r["sentences"] for r in runs}
    models = add_up(
        every("models"),
        ("dataset", "run", "model"),
        ["backend_seconds", "cache_misses"],
        combine={"failures": _add_stage_failures},
    )
    for row in models:
        row["backend_seconds"] = round(row["backend_seconds"], 3)
        n = sentences[row["dataset"], row["run"]]
        row["seconds_per_sentence"] = round(row["backend_seconds"] / max(1, n), 3)
    spans = add_up(every("stage1_spans"), ("dataset", "run", "spans_of"), ["predicted", "gold"])
    return {"runs": sorted(runs, key=_run_order), "models": models, "stage1_spans": spans}


def main(sources: list[Path], as_json: bool) -> None:
    merged = merge([summary(s) for s in sources])
    table, models, spans = merged["runs"], merged["models"], merged["stage1_spans"]
    if as_json:
        print(json.dumps(merged, indent=2))
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
    if spans:
        print()
        print("| dataset | run | stage-1 spans of | P | R | F1 | pred | gold |")
        print("|---|---|---|---|---|---|---|---|")
        for r in spans:
            print(
                f"| {r['dataset']} | {r['run']} | {r['spans_of']} | {100 * r['precision']:.1f} "
                f"| {100 * r['recall']:.1f} | {100 * r['f1']:.1f} | {r['predicted']} | {r['gold']} |"
            )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main([Path(a) for a in sys.argv[1:] if a != "--json"], "--json" in sys.argv[1:])
