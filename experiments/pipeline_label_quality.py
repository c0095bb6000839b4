"""How good are the labels a ``fewner distill-from`` student learns? When the pool is a labelled
file whose labels were dropped (e.g. the WNUT-17 train text), score the teacher's labels
(``RUN/teacher/labels.jsonl``) and the checked ones (``RUN/teacher/verified-labels.jsonl``)
against the pool's own gold labels: precision, recall, F1 and span counts, and what the teacher
labels most often where the gold has nothing.

    python experiments/pipeline_label_quality.py runs/pipeline-wnut/set0/pool2000
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import fewner
from fewner.types import Span


def labelled(path: Path, gold: dict) -> list:
    """The pool's gold sentences with a labels file's spans instead of their own."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        sentence = gold[record["id"]]
        spans = (Span(e["start"], e["end"], e["label"]) for e in record["entities"])
        out.append(sentence.with_spans(spans))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--top", type=int, default=8, help="spurious spans to show")
    args = parser.parse_args()
    run = Path(args.run)
    config = json.loads((run / "config.json").read_text())
    pool = Path(config["pool"]["path"])
    pool = pool if pool.is_absolute() else Path(config["data_root"]) / pool
    gold = {s.id: s for s in fewner.read_corpus(pool)}
    print(f"{run}: labels against the gold labels of {pool}")
    print(f"{'':34s} {'P':>6s} {'R':>6s} {'F1':>6s} {'spans':>6s}")
    for name in ("labels.jsonl", "verified-labels.jsonl"):
        path = run / "teacher" / name
        if not path.is_file():
            continue
        predicted = labelled(path, gold)
        truth = [gold[s.id] for s in predicted]
        micro = fewner.score(truth, predicted).micro
        spans = sum(len(s.spans) for s in predicted)
        print(f"{name:34s} {100 * micro.precision:6.1f} {100 * micro.recall:6.1f} "
              f"{100 * micro.f1:6.1f} {spans:6d}")
        if name == "labels.jsonl":
            spurious = Counter()
            for s, g in zip(predicted, truth, strict=True):
                covered = {(x.start, x.end) for x in g.spans}
                for x in s.spans:
                    if (x.start, x.end) not in covered:
                        text = s.text[x.start:x.end]
                        shape = "@user" if text.startswith("@") else "#tag" if text.startswith("#") else "other"
                        spurious[(x.label, shape)] += 1
            top = ", ".join(f"{label}/{shape} {n}" for (label, shape), n in spurious.most_common(args.top))
            print(f"  teacher spans the gold lacks, by label/shape: {top}")
    print(f"  gold spans in these sentences: {sum(len(gold[i].spans) for i in gold if i in {s.id for s in truth})}")


if __name__ == "__main__":
    main()
