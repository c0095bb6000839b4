"""Extraction with answers fixed by their first token vs token-by-token greedy, in one run.

The shipped source-stage extractor (or ``--model``) reads the first ``--sentences`` WNUT-17 test
sentences for its six types, twice: with the HF backend's ``first_step_answers`` (a row whose
first token is the "none" sentence's is answered after one step) and without; the two arms
alternate chunk by chunk so machine noise hits both. Prints questions/s of both, the ratio, the
share of questions answered at the first step, and whether the predictions are identical
(they must be: the shortcut writes the text greedy decoding writes).

    python benchmarks/bench_first_step.py --sentences 60 --threads 2
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-ner", help="model folder or shipped name")
    parser.add_argument("--sentences", type=int, default=60)
    parser.add_argument("--chunk", type=int, default=10, help="sentences per alternation")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-root", default=os.environ.get("FEWNER_SHARED_DATA", "../shared/data"))
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    import fewner
    from fewner.data.io import read_corpus

    gold = [s for s in read_corpus(Path(args.data_root) / "wnut17" / "emerging.test.annotated") if s.tokens]
    gold = gold[: args.sentences]
    labels = sorted({s.label for g in read_corpus(Path(args.data_root) / "wnut17" / "emerging.dev.conll") for s in g.spans})
    arms = {
        "first step": fewner.load(args.model, backend_options={"first_step_answers": True}),
        "token by token": fewner.load(args.model, backend_options={"first_step_answers": False}),
    }
    seconds = dict.fromkeys(arms, 0.0)
    spans: dict[str, list] = {name: [] for name in arms}
    for predictor in arms.values():  # load weights and warm up outside the clock
        predictor.predict_sentences(gold[:1], labels)
    for start in range(0, len(gold), args.chunk):
        chunk = gold[start : start + args.chunk]
        for name, predictor in arms.items():
            t0 = time.perf_counter()
            out = predictor.predict_sentences(chunk, labels).sentences
            seconds[name] += time.perf_counter() - t0
            spans[name].extend(sorted((x.start, x.end, x.label) for x in s.spans) for s in out)
    questions = len(gold) * len(labels)
    backend = arms["first step"].backend()
    inner = getattr(backend, "inner", backend)
    answered = getattr(inner, "answered_at_first_step", None)
    print(f"{len(gold)} WNUT-17 test sentences x {len(labels)} types = {questions} questions, "
          f"{args.threads} threads, model {args.model}")
    for name in arms:
        print(f"  {name:15s} {seconds[name]:7.1f} s  {questions / seconds[name]:6.2f} questions/s")
    print(f"ratio (first step / token by token, questions/s): {seconds['token by token'] / seconds['first step']:.2f}x")
    if answered is not None:
        warm = len(labels)  # the warm-up sentence's questions
        print(f"answered at the first step: {answered} of {questions + warm} questions "
              f"({100 * answered / (questions + warm):.0f} %)")
    same = spans["first step"] == spans["token by token"]
    print(f"identical predictions: {same}")
    if not same:
        raise SystemExit("the shortcut changed predictions")


if __name__ == "__main__":
    main()
