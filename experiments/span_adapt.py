"""Few-shot adaptation of a span model on the fixed 5-shot support sets, scored on the test sets.

    python experiments/span_adapt.py MODEL [--datasets conll,wnut,gum] [--sets 0,1,2]
        [--limit N] [--steps 60] [--freeze-layers 0] [--lr-encoder 2e-5] [--lr-head 2e-4]
        [--zero-shot] [--out FILE.json]

For each dataset: the zero-shot score once (with --zero-shot), then for each support set a fresh
copy of MODEL adapted with ``fewner.fit(support, recipe="span", model=MODEL)`` and scored on the
test set (the whole set unless --limit); F1 on the first 200 test sentences is reported too
(the sentences the ICL ensemble was measured on). Prints micro F1 per set and mean ± std, adaptation
seconds, and writes everything as JSON with --out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from span_eval import LABEL_NAMES


def main() -> None:
    import torch

    import fewner
    from fewner.data.spec import default_data_root
    from fewner.data.support_sets import load_fixed_support_sets
    from fewner.eval.pairing import score_predictions

    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--datasets", default="conll,wnut,gum")
    ap.add_argument("--sets", default="0,1,2")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--freeze-layers", type=int, default=0)
    ap.add_argument("--lr-encoder", type=float, default=2e-5)
    ap.add_argument("--lr-head", type=float, default=2e-4)
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--zero-shot", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(default_data_root())
    settings = {"steps": args.steps, "batch_size": args.batch_size, "freeze_layers": args.freeze_layers,
                "lr_encoder": args.lr_encoder, "lr_head": args.lr_head}
    results: dict = {"model": args.model, "settings": settings, "limit": args.limit, "datasets": {}}

    def evaluate(predictor, episode):
        test = list(episode.query)[: args.limit]
        if args.threshold is not None:
            predictor.threshold = args.threshold
        started = time.perf_counter()
        pred = predictor.predict_sentences(test, list(episode.types)).sentences
        seconds = time.perf_counter() - started
        scores, _ = score_predictions(test, pred, list(episode.types))
        first, _ = score_predictions(test[:200], pred[:200], list(episode.types))
        return scores, len(test) / seconds, round(100 * first.micro.f1, 2)

    for name in args.datasets.split(","):
        episodes = load_fixed_support_sets(root, name, 5).episodes
        row: dict = {"sets": {}}
        if args.zero_shot:
            zs = fewner.load(args.model, label_names=LABEL_NAMES[name])
            scores, speed, first200 = evaluate(zs, episodes[0])
            row["zero_shot"] = {"f1": round(100 * scores.micro.f1, 2), "f1_first_200": first200, "p": round(100 * scores.micro.precision, 2),
                                "r": round(100 * scores.micro.recall, 2), "sentences_per_second": round(speed, 1)}
            print(f"{name} zero-shot: F1 {100 * scores.micro.f1:.1f}", flush=True)
        for index in [int(i) for i in args.sets.split(",")]:
            episode = episodes[index]
            started = time.perf_counter()
            predictor = fewner.fit(list(episode.support), list(episode.types), recipe="span", model=args.model,
                                   label_names=LABEL_NAMES[name], progress=False, **settings)
            adapt_seconds = time.perf_counter() - started
            scores, speed, first200 = evaluate(predictor, episode)
            row["sets"][index] = {
                "f1": round(100 * scores.micro.f1, 2), "f1_first_200": first200, "p": round(100 * scores.micro.precision, 2),
                "r": round(100 * scores.micro.recall, 2), "adapt_seconds": round(adapt_seconds, 1),
                "support_sentences": len(episode.support), "test_sentences": len(list(episode.query)[: args.limit]),
                "sentences_per_second": round(speed, 1),
            }
            print(f"{name} set {index}: F1 {100 * scores.micro.f1:.1f} (P {100 * scores.micro.precision:.1f} "
                  f"R {100 * scores.micro.recall:.1f}), adapted in {adapt_seconds:.0f} s", flush=True)
        f1s = [r["f1"] for r in row["sets"].values()]
        if f1s:
            row["mean_f1"] = round(statistics.mean(f1s), 2)
            row["std_f1"] = round(statistics.stdev(f1s), 2) if len(f1s) > 1 else 0.0
            first = [r["f1_first_200"] for r in row["sets"].values()]
            row["mean_f1_first_200"] = round(statistics.mean(first), 2)
            print(f"{name}: 5-shot F1 {row['mean_f1']:.1f} ± {row['std_f1']:.1f} over sets {args.sets} "
                  f"(first 200 test sentences: {row['mean_f1_first_200']:.1f})", flush=True)
        results["datasets"][name] = row
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
