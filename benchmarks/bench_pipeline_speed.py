"""The distilled student against its teacher, in one run: sentences/s and F1 of a
``fewner distill-from`` run's student (float32 and bfloat16) and of its teacher refitted on the
same support set, on the same test sentences, and the speed ratio (issue 19's target: the
student at least 1,000x the teacher).

The teacher is rebuilt from the run's config (``RUN/config.json``) with an empty answer cache,
so it answers every prompt (its cached answers would make it look fast), and labels the first
``--teacher-sentences`` test sentences; the student labels the whole test file, in float32 (as
saved), bfloat16 and int8 (``fewner.load(RUN/model, precision=...)``). Run it with nothing
else on the machine.

    python benchmarks/bench_pipeline_speed.py runs/pipeline-wnut/set0/pool2000 --threads 2
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_json  # noqa: E402


def timed_predictions(model, sentences, labels):
    started = time.perf_counter()
    predictions = model.predict_sentences(sentences, labels).sentences
    return predictions, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a fewner distill-from run folder")
    parser.add_argument("--teacher-sentences", type=int, default=100,
                        help="the teacher's first call also evaluates the shared prompt prefix")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2, help="student timings; the fastest is kept")
    parser.add_argument("--precisions", nargs="+", default=["float32", "bfloat16", "int8"],
                        help="the student's inference precisions to time")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import torch

    import fewner
    from fewner.distill.from_support import read_labelled
    from fewner.distill.from_support_config import load_from_support_config
    from fewner.distill.teacher_labels import make_teacher
    from fewner.eval.metrics import score

    torch.set_num_threads(args.threads)
    run = Path(args.run)
    resolved = json.loads((run / "config.json").read_text())  # the run's resolved config
    config = load_from_support_config(values=resolved)
    support, labels, test = read_labelled(config)

    rows = {}
    for precision in args.precisions:
        model = fewner.load(run / "model", precision=precision)
        best = None
        for _ in range(args.repeat):
            predictions, seconds = timed_predictions(model, test, labels)
            best = seconds if best is None else min(best, seconds)
        rows[f"student {precision}"] = {"f1": score(test, predictions).micro.f1,
                                        "sentences": len(test), "seconds": best}
        print(f"student {precision}: {len(test) / best:.1f} sentences/s", flush=True)

    part = test[: args.teacher_sentences]
    with tempfile.TemporaryDirectory() as tmp:
        teacher = make_teacher(config.teacher, support, labels, cache=Path(tmp) / "cache.sqlite",
                               folder=Path(tmp) / "fit", progress=False)
        try:
            predictions, seconds = timed_predictions(teacher, part, labels)
        finally:
            teacher.close()
    rows[f"teacher {config.teacher.use}"] = {"f1": score(part, predictions).micro.f1,
                                             "sentences": len(part), "seconds": seconds}

    teacher_speed = len(part) / seconds
    print(f"\n{run}: {len(test)} test sentences (teacher: the first {len(part)}), "
          f"{args.threads} threads")
    print(f"{'':28s} {'F1':>7s} {'sentences/s':>12s} {'x teacher':>10s}")
    for name, row in rows.items():
        row["sentences_per_second"] = row["sentences"] / row["seconds"]
        row["x_teacher"] = row["sentences_per_second"] / teacher_speed
        print(f"{name:28s} {100 * row['f1']:7.1f} {row['sentences_per_second']:12.2f} "
              f"{row['x_teacher']:10.0f}")
    path = write_json("pipeline_speed", {"machine": machine(), "command": " ".join(sys.argv),
                                         "run": str(run), "rows": rows}, args.out)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
