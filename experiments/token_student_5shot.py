"""The token-classifier student trained on a 5-shot support set alone: the baseline the span model
is compared with (same support sets, same test sets).

    python experiments/token_student_5shot.py [--datasets conll,wnut] [--sets 0,1,2]
        [--epochs 30] [--lr 5e-5] [--out FILE.json]

For each support set: a fresh MiniLM-L6 token classifier (``Student.build``, the distillation
study's student) trained on the support sentences only (schedule ``original``) and scored on
the whole test set and on its first 200 sentences (the ICL ensemble's). Prints micro F1 per set
and mean ± std.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    import torch

    from fewner.data.spec import default_data_root
    from fewner.data.support_sets import load_fixed_support_sets
    from fewner.distill.schedules import make_schedule
    from fewner.distill.student import Student
    from fewner.distill.trainer import TrainSettings, train_student
    from fewner.eval.pairing import score_predictions

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="conll,wnut")
    ap.add_argument("--sets", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(default_data_root())
    settings = TrainSettings(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, checkpoint=False)
    results: dict = {"settings": vars(args), "datasets": {}}
    for name in args.datasets.split(","):
        episodes = load_fixed_support_sets(root, name, 5).episodes
        row: dict = {"sets": {}}
        for index in [int(i) for i in args.sets.split(",")]:
            episode = episodes[index]
            types = list(episode.types)
            student = Student.build("minilm-l6", types, seed=index)
            started = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                train_student(student, [], list(episode.support), make_schedule("original"), settings, Path(tmp))
            seconds = time.perf_counter() - started
            test = list(episode.query)
            pred = student.predict(test)
            scores, _ = score_predictions(test, pred, types)
            first, _ = score_predictions(test[:200], pred[:200], types)
            row["sets"][index] = {"f1": round(100 * scores.micro.f1, 2), "f1_first_200": round(100 * first.micro.f1, 2),
                                  "train_seconds": round(seconds, 1), "test_sentences": len(test)}
            print(f"{name} set {index}: F1 {100 * scores.micro.f1:.1f} (first 200: {100 * first.micro.f1:.1f}), "
                  f"trained in {seconds:.0f} s", flush=True)
        f1s = [r["f1"] for r in row["sets"].values()]
        row["mean_f1"] = round(statistics.mean(f1s), 2)
        row["std_f1"] = round(statistics.stdev(f1s), 2) if len(f1s) > 1 else 0.0
        row["mean_f1_first_200"] = round(statistics.mean(r["f1_first_200"] for r in row["sets"].values()), 2)
        print(f"{name}: F1 {row['mean_f1']:.1f} ± {row['std_f1']:.1f}", flush=True)
        results["datasets"][name] = row
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
