"""Issue 19's pipeline table: teacher / student from support only / students from 500 and 2,000
teacher-labelled pool sentences, per fixed 5-shot support set, then mean +- std over the sets.

For each support set the largest pool runs first (``fewner distill-from ... --pool-limit N``);
a smaller pool is the first N sentences of the same pool, so its run starts from a copy of the
larger run's teacher labels and test scores and only trains and evaluates a student. Every run
is a ``fewner distill-from`` run folder (resumable: rerunning this script continues where it
stopped). The pool is the dataset's own train text without its labels, never the test text.

    python experiments/distill_from_support.py --dataset wnut --sets 0 1 2 --pools 2000 500 \
        --out runs/pipeline-wnut
    python experiments/distill_from_support.py --dataset wnut --sets 0 1 2 --pools 2000 500 \
        --out runs/pipeline-wnut --summarize      # the table only (markdown; --json too)

The student learns the teacher's labels as checked by the support-only student (the default
``verify.by``); the same runs with ``--set verify.by=none --labels-from OUT`` into another folder
give the row of the student learning every teacher label, printed beside with ``--compare``:

    python experiments/distill_from_support.py --dataset wnut --sets 0 1 2 --pools 2000 500 \
        --set verify.by=none --labels-from runs/pipeline-wnut --out runs/pipeline-wnut-raw
    python experiments/distill_from_support.py --dataset wnut --sets 0 1 2 --pools 2000 500 \
        --out runs/pipeline-wnut --summarize --compare "every teacher label=runs/pipeline-wnut-raw"

The distillation study's groups in this harness (experiments/pipeline_groups.sh): ``--also
bbc_news:1000:0`` adds 1,000 BBC News sentences (a seeded sample) to the pool, ``--schedule
distilled`` trains on the teacher labels alone, and ``--labels-from OTHER_OUT`` starts each run
from another run's teacher labels (a run learns its own pool's sentences only).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

DATASETS = {  # name -> (pool file, test file, shipped definitions or None)
    "wnut": ("wnut17/wnut17train.conll", "wnut17/emerging.test.annotated", "wnut17"),
    "conll": ("conll2003/train.txt", "conll2003/test.txt", "conll2003"),
    "gum": ("gum/gum-train.conll", "gum/gum-test.conll", None),
}
ROWS = ("teacher", "support_only", "student")


def run_folder(out: Path, support_set: int, pool: int) -> Path:
    return out / f"set{support_set}" / f"pool{pool}"


def run_one(args: argparse.Namespace, support_set: int, pool: int, larger: Path | None) -> None:
    pool_file, test_file, definitions = DATASETS[args.dataset]
    root = Path(args.data_root)
    folder = run_folder(Path(args.out), support_set, pool)
    if (folder / "metrics.json").is_file():
        print(f"[set {support_set}, pool {pool}] finished before", flush=True)
        return
    if args.labels_from and larger is None:
        larger = run_folder(Path(args.labels_from), support_set, pool)
    if larger is not None and not (folder / "teacher" / "labels.jsonl").exists():
        # the larger run's labels and test scores: the same teacher on a superset of this pool
        (folder / "teacher").mkdir(parents=True, exist_ok=True)
        for name in ("labels.jsonl", "test.json", "labelling.json"):
            if (larger / "teacher" / name).is_file():
                shutil.copy2(larger / "teacher" / name, folder / "teacher" / name)
    support = root / "domain_transfer_support_sets" / f"samples-{args.dataset}-5shot" / f"{support_set}.txt"
    command = [
        sys.executable, "-m", "fewner.cli", "distill-from", str(support), str(root / pool_file),
        "--teacher", args.teacher, "--test", str(root / test_file), "--pool-limit", str(pool),
        "--threads", str(args.threads), "--out", str(folder),
    ]
    if definitions:
        command += ["--definitions", definitions]
    also = []
    for item in args.also:
        path, limit, seed = (item.split(":") + [None, None])[:3]
        source = (root / path).resolve()
        also.append(f"{{path: {source}, limit: {limit or 'null'}, seed: {seed or 'null'}}}")
    if also:
        command += ["--set", f"pool.also=[{', '.join(also)}]"]
    if args.schedule:
        command += ["--set", f"schedule={args.schedule}"]
    for item in args.set:
        command += ["--set", item]
    print(f"[set {support_set}, pool {pool}] {' '.join(command[3:])}", flush=True)
    subprocess.run(command, check=True)


def collect(args: argparse.Namespace) -> dict[str, Any]:
    """Per pool size and row: the values of every finished set, and their mean and std; each
    ``--compare NAME=OUT`` adds OUT's student row (same sets and pool) as ``student (NAME)``."""
    table: dict[str, Any] = {}
    compare = [item.split("=", 1) for item in args.compare]
    for pool in args.pools:
        rows: dict[str, dict[str, list[float]]] = {}
        sets = []
        for support_set in args.sets:
            path = run_folder(Path(args.out), support_set, pool) / "metrics.json"
            if not path.is_file():
                continue
            sets.append(support_set)
            metrics = json.loads(path.read_text())
            found = [(row, metrics["results"].get(row)) for row in ROWS]
            for name, other in compare:
                other_path = run_folder(Path(other), support_set, pool) / "metrics.json"
                if other_path.is_file():
                    found.append((f"student ({name})",
                                  json.loads(other_path.read_text())["results"].get("student")))
            for row, result in found:
                if result is None:
                    continue
                values = rows.setdefault(row, {"f1": [], "sentences_per_second": [], "sentences": []})
                for key in values:
                    values[key].append(result[key])
            labelling = metrics.get("teacher_labelling", {})
            rows.setdefault("labelling", {"sentences_per_second": []})["sentences_per_second"].append(
                labelling.get("sentences_per_second") or 0.0)
        table[str(pool)] = {"sets": sets, "rows": {
            row: {key: _stats(v) for key, v in values.items()} for row, values in rows.items()}}
    return table


def _stats(values: list[Any]) -> dict[str, Any]:
    """Mean and std of the measured values (None: answers read from a cache, no speed)."""
    known = [v for v in values if v is not None]
    return {"values": values, "mean": statistics.mean(known) if known else None,
            "std": statistics.stdev(known) if len(known) > 1 else 0.0}


def print_table(table: dict[str, Any]) -> None:
    names = {"teacher": "teacher (scored on the first test sentences)",
             "support_only": "student, support set only", "student": "student, support + teacher labels"}
    print(f"support sets: {sorted(set().union(*(e['sets'] for e in table.values())))}")
    print("| pool | row | F1 % (mean ± std) | test sentences | sentences/s | support sets |")
    print("|---|---|---|---|---|---|")
    for pool, entry in table.items():
        for row in entry["rows"]:
            values = entry["rows"][row]
            if row == "labelling":
                continue
            f1 = values["f1"]
            speed = values["sentences_per_second"]["mean"]
            speed = "cached" if speed is None else f"{speed:.3g}"
            print(f"| {pool} | {names.get(row, row)} | {100 * f1['mean']:.1f} ± {100 * f1['std']:.1f} | "
                  f"{int(values['sentences']['mean'])} | {speed} | {len(f1['values'])} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="wnut")
    parser.add_argument("--sets", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--pools", nargs="+", type=int, default=[2000, 500],
                        help="pool sizes; the largest runs first and the others reuse its labels")
    parser.add_argument("--teacher", default="icl-fast")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--also", action="append", default=[], metavar="PATH[:LIMIT[:SEED]]",
                        help="another unlabeled source after the pool (relative to --data-root), "
                             "e.g. bbc_news:1000:0")
    parser.add_argument("--schedule", default=None,
                        help="the blending schedule (default: the preset's simple_mix)")
    parser.add_argument("--labels-from", default=None, metavar="OTHER_OUT",
                        help="start every run from OTHER_OUT's teacher labels for the same set "
                             "and pool (a superset of this run's pool)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--data-root", default=os.environ.get("FEWNER_SHARED_DATA", "../shared/data"))
    parser.add_argument("--compare", action="append", default=[], metavar="NAME=OTHER_OUT",
                        help="with the table: OTHER_OUT's student row too, as 'student (NAME)' "
                             "(e.g. the same runs with verify.by=none)")
    parser.add_argument("--summarize", action="store_true", help="only print the table")
    parser.add_argument("--json", action="store_true", help="also print the table as JSON")
    args = parser.parse_args()
    args.pools = sorted(set(args.pools), reverse=True)

    if not args.summarize:
        for support_set in args.sets:
            largest = run_folder(Path(args.out), support_set, args.pools[0])
            for i, pool in enumerate(args.pools):
                run_one(args, support_set, pool, None if i == 0 else largest)
    table = collect(args)
    print_table(table)
    if args.json:
        print(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
