"""Today's EL4NER ensemble vs the faster presets, on the same test sentences, in one run.

Runs ``fewner icl`` per dataset on the first ``--sentences`` test sentences with the fixed 5-shot
support set ``--support-set`` as the pool: the baseline (preset ``el4ner`` without stage 3:
span retrieval, k=4, llama.cpp, one thread, one model after the other) and each of
``--fast-recipes`` (default ``el4ner-fast``: the whole pool as one fixed prompt prefix;
``el4ner-pool``: that prefix plus the 2 most similar demonstrations; both run the models side
by side). Each arm gets its own fresh answer cache, so every speed is cold; the arms run one
after the other on the same machine. Prints micro P/R/F1, sentences/s, each faster arm's speed
ratio to the baseline and its F1 change, and writes the JSON summary.

An arm whose run folder already holds a finished run with the same command is read back, not
rerun (the benchmark resumes arm by arm); an arm that was interrupted starts again from an
empty cache, so its time stays a cold figure. The baseline uses one core: ``--arms baseline``
may run beside other work; run ``--arms fast`` on an otherwise idle machine.

    python benchmarks/bench_fast_teacher.py --datasets wnut conll --sentences 200 --work /tmp/bft
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_json  # noqa: E402

DATASETS = {  # name -> (test file under the data root, shipped definitions)
    "wnut": ("wnut17/emerging.test.annotated", "wnut17"),
    "conll": ("conll2003/test.txt", "conll2003"),
    "gum": ("gum/gum-test.conll", None),
}


def arm_command(args: argparse.Namespace, dataset: str, recipe: str, extra: list[str], out: Path) -> list[str]:
    test, definitions = DATASETS[dataset]
    root = Path(args.data_root)
    pool = root / "domain_transfer_support_sets" / f"samples-{dataset}-5shot" / f"{args.support_set}.txt"
    command = [
        sys.executable, "-m", "fewner.cli", "icl", "--recipe", recipe,
        "--pool", str(pool), "--limit", str(args.sentences), "--gold", str(root / test),
        "--cache", str(out.parent / "cache.sqlite"), "--set", "validate.enabled=false",
        str(root / test), "-o", str(out),
    ]
    if definitions:
        command[4:4] = ["--definitions", definitions]
    for item in extra:
        command += ["--set", item]
    return command


def run_arm(
    args: argparse.Namespace, dataset: str, name: str, recipe: str, extra: list[str],
    kind: str = "baseline",
) -> dict[str, Any] | None:
    """The arm's scores and speed: read back when it finished before with the same command,
    else run now (``kind`` in ``--arms``) or None."""
    folder = Path(args.work) / dataset / name
    out = folder / "predictions.jsonl"
    command = arm_command(args, dataset, recipe, extra, out)
    stamp = folder / "command.json"
    metrics_path = folder / "predictions.run" / "metrics.json"
    if metrics_path.exists() and stamp.exists() and json.loads(stamp.read_text()) == command[1:]:
        print(f"[{dataset}/{name}] finished before: read back", flush=True)
    elif kind not in args.arms:
        return None
    else:
        shutil.rmtree(folder, ignore_errors=True)  # an interrupted arm restarts cold
        folder.mkdir(parents=True)
        stamp.write_text(json.dumps(command[1:]))
        print(f"[{dataset}/{name}] {' '.join(command[3:])}", flush=True)
        subprocess.run(command, check=True)
    metrics = json.loads(metrics_path.read_text())
    scores = metrics["scores"]["unvalidated"]["micro"]
    return {
        "recipe": recipe,
        "overrides": extra,
        "sentences": metrics["sentences"],
        "seconds": metrics["seconds"],
        "sentences_per_second": metrics["sentences_per_second"],
        "model_load_seconds": metrics.get("model_load_seconds"),
        "precision": scores["precision"],
        "recall": scores["recall"],
        "f1": scores["f1"],
        "cache": metrics.get("cache"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["wnut", "conll"], choices=sorted(DATASETS))
    parser.add_argument("--sentences", type=int, default=200, help="first N test sentences")
    parser.add_argument("--support-set", type=int, default=0, help="fixed 5-shot support set (0-9)")
    parser.add_argument("--fast-recipes", nargs="+", default=["el4ner-fast", "el4ner-pool"],
                        help="the faster presets, one arm each, compared with the baseline")
    parser.add_argument("--fast-set", action="append", default=[], metavar="KEY=VALUE",
                        help="override of the fast arm's config (repeatable)")
    parser.add_argument("--arms", nargs="+", default=["baseline", "fast"], choices=["baseline", "fast"],
                        help="which arms to run now (a finished arm is read back either way); the "
                        "baseline is single-threaded, the fast arm may use every core: run the "
                        "baselines beside other work, the fast arms on a quiet machine")
    parser.add_argument("--work", default="runs/bench_fast_teacher", help="run folders (resumable)")
    parser.add_argument("--data-root", default=os.environ.get("FEWNER_SHARED_DATA", "../shared/data"))
    parser.add_argument("--out", type=Path, help="JSON summary (default benchmarks/results/...)")
    args = parser.parse_args()

    summary: dict[str, Any] = {"machine": machine(), "sentences": args.sentences,
                               "support_set": args.support_set, "datasets": {}}
    for dataset in args.datasets:
        arms = {}
        base = run_arm(args, dataset, "baseline", "el4ner", [])
        if base is not None:
            arms["el4ner (today, no stage 3)"] = base
        for recipe in args.fast_recipes:
            fast = run_arm(args, dataset, recipe, recipe, args.fast_set, kind="fast")
            if fast is not None:
                if base is not None:
                    fast["speed_ratio"] = round(fast["sentences_per_second"] / base["sentences_per_second"], 2)
                    fast["f1_change_points"] = round(100 * (fast["f1"] - base["f1"]), 1)
                arms[recipe] = fast
        summary["datasets"][dataset] = arms
    print()
    print("| dataset | arm | P / R / F1 % | sentences/s | speed vs el4ner | F1 change |")
    print("|---|---|---|---|---|---|")
    for dataset, arms in summary["datasets"].items():
        for name, arm in arms.items():
            ratio = f"**{arm['speed_ratio']:.1f}x**" if "speed_ratio" in arm else ""
            change = f"{arm['f1_change_points']:+.1f}" if "f1_change_points" in arm else ""
            print(f"| {dataset} | {name} | {100 * arm['precision']:.1f} / {100 * arm['recall']:.1f} / "
                  f"**{100 * arm['f1']:.1f}** | {arm['sentences_per_second']:.3f} | {ratio} | {change} |")
    path = write_json(f"fast_teacher_{'_'.join(args.datasets)}_{args.sentences}", summary, args.out)
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    main()
