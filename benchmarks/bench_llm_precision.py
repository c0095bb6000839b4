"""The LLM extractor in float32 vs bfloat16 on a CPU: speed and F1 of the same predictions.

Why: extraction is most of a 5-shot run's time (500 WNUT-17 test sentences x 6 types), and CPUs
with bf16 instructions (AVX512-BF16, AMX) run bfloat16 matrix products faster; the span model
keeps its F1 in bfloat16, the LLM's greedy answers may move where two tokens are close.

The shipped ``smollm2-135m-ner`` zero-shot (its saved ``none_bias``, sentence-first prompts with
the WNUT-17 definitions, as ``experiments/source_fewshot.py --rows zero`` runs it) on the first
``--sentences`` WNUT-17 test sentences, once per precision in alternating order (``--repeat``;
the fastest run counts, the machine is shared). Prints seconds, sentences/s, the ratio, micro F1
of each and how many sentences got identical predictions.

    python benchmarks/bench_llm_precision.py --sentences 100 --threads 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import RESULTS, alternate, machine, write_json

WNUT_TEST = "wnut17/emerging.test.annotated"
WNUT_NAMES = {"creative-work": "creative work"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-ner")
    ap.add_argument("--sentences", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="timed runs of each precision (alternating)")
    ap.add_argument("--json", type=Path, help="default: benchmarks/results/llm_precision.json")
    args = ap.parse_args()

    import torch

    import fewner
    from fewner.data.io import read_corpus
    from fewner.data.spec import default_data_root, rename_labels
    from fewner.eval.pairing import score_predictions
    from fewner.predictors.extractor import ExtractorPredictor
    from fewner.prompts import load_definitions

    torch.set_num_threads(args.threads)
    test = read_corpus(Path(default_data_root()) / WNUT_TEST).sentences[: args.sentences]
    test = rename_labels(test, WNUT_NAMES)
    types = sorted({s.label for x in test for s in x.spans})
    definitions = {WNUT_NAMES.get(k, k): v for k, v in load_definitions("wnut17").items()}
    saved = fewner.load(args.model)  # the shipped folder: its base model, adapter and none_bias
    predictors = {
        dtype: ExtractorPredictor(saved.model, types, adapter=saved.adapter, layout="sentence_first",
                                  definitions=definitions, none_bias=saved.none_bias,
                                  batch_size=args.batch_size, backend_options={"dtype": dtype})
        for dtype in ("float32", "bfloat16")
    }
    outputs, times = alternate(
        {d: lambda p=p: p.predict_sentences(test, types).sentences for d, p in predictors.items()}, args.repeat
    )
    summary: dict = {"machine": machine(), "model": args.model, "threads": args.threads,
                     "batch_size": args.batch_size, "sentences": len(test), "types": types,
                     "all_runs_s": times}
    for dtype, predicted in outputs.items():
        scores, _ = score_predictions(test, predicted, types)
        best = min(times[dtype])
        summary[dtype] = {"seconds": best, "sentences_per_s": round(len(test) / best, 2),
                          "f1": round(100 * scores.micro.f1, 2), "p": round(100 * scores.micro.precision, 2),
                          "r": round(100 * scores.micro.recall, 2)}
        print(f"{dtype:9s} {best:7.1f} s  {len(test) / best:6.2f} sentences/s  "
              f"F1 {100 * scores.micro.f1:5.1f} (P {100 * scores.micro.precision:.1f} / "
              f"R {100 * scores.micro.recall:.1f})")
    same = sum(set(a.spans) == set(b.spans) for a, b in zip(outputs["float32"], outputs["bfloat16"], strict=True))
    summary["speedup"] = round(summary["float32"]["seconds"] / summary["bfloat16"]["seconds"], 2)
    summary["identical_sentences"] = same
    print(f"bfloat16 speed-up {summary['speedup']:.2f}x; identical predictions in {same}/{len(test)} sentences")
    print("wrote", write_json("llm_precision", summary, args.json or RESULTS / "llm_precision.json"))


if __name__ == "__main__":
    main()
