"""Evaluate a span model folder on the benchmark test sets (zero-shot: labels by name).

    python experiments/span_eval.py MODEL [--datasets conll,wnut,gum] [--limit N]
        [--precision float32|bfloat16|int8] [--out FILE.json]

Labels are read by the names below (CoNLL's tags are abbreviations); prints micro P/R/F1 per
dataset and sentences/s, and writes them as JSON with --out.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

LABEL_NAMES = {
    "conll": {"PER": "person", "LOC": "location", "ORG": "organization", "MISC": "miscellaneous"},
    "wnut": {"creative-work": "creative work"},
    "gum": {},
}


def main() -> None:
    import torch

    import fewner
    from fewner.data.spec import default_data_root
    from fewner.data.support_sets import SUPPORT_DIR, TEST_SETS, read_types
    from fewner.eval.pairing import score_predictions

    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--datasets", default="conll,wnut,gum")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="float32", choices=["float32", "bfloat16", "int8"])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(default_data_root())
    from fewner.data.io import read_corpus

    results: dict = {"precision": args.precision}
    for name in args.datasets.split(","):
        types = list(read_types(root / SUPPORT_DIR / f"labels-{name}.txt"))
        gold = read_corpus(root / TEST_SETS[name]).sentences[: args.limit]
        overrides = {"label_names": LABEL_NAMES[name], "precision": args.precision}
        if args.threshold is not None:
            overrides["threshold"] = args.threshold
        predictor = fewner.load(args.model, **overrides)
        started = time.perf_counter()
        pred = predictor.predict_sentences(gold, types).sentences
        seconds = time.perf_counter() - started
        scores, _ = score_predictions(gold, pred, types)
        m = scores.micro
        results[name] = {
            "sentences": len(gold), "p": round(100 * m.precision, 1), "r": round(100 * m.recall, 1),
            "f1": round(100 * m.f1, 1), "sentences_per_second": round(len(gold) / seconds, 1),
            "per_type_f1": {t: round(100 * v.f1, 1) for t, v in scores.per_type.items()},
        }
        print(f"{name}: {len(gold)} sentences  P {m.precision:.3f} R {m.recall:.3f} F1 {m.f1:.3f}  "
              f"{len(gold) / seconds:.1f} sent/s  {results[name]['per_type_f1']}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
