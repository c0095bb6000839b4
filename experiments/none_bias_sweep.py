"""F1 of the shipped source model at several none_bias values, on the dev split (to choose one).

    cd experiments && FEWNER_SHARED_DATA=../../shared/data python none_bias_sweep.py wnut \\
        --limit 250 --biases 0,-1,-2 [--retype] [--out results/none_bias_dev.jsonl]

Support set 0's types, labels read as words (span_eval.LABEL_NAMES) with the dataset's
definitions; one JSON line per bias (F1/P/R, seconds, type conflicts, spans, per-type F1).
Dev sentences only: WNUT-17 dev, CoNLL-2003 valid.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from span_eval import LABEL_NAMES

DEV_FILES = {"wnut": "wnut17/emerging.dev.conll", "conll": "conll2003/valid.txt"}
DEFINITIONS = {"wnut": "wnut17", "conll": "conll2003"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", choices=sorted(DEV_FILES))
    ap.add_argument("--source", default="smollm2-135m-ner")
    ap.add_argument("--limit", type=int, default=250)
    ap.add_argument("--biases", default="0,-1,-2")
    ap.add_argument("--retype", action="store_true")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="append the JSON lines to this file")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    import fewner
    from fewner.data.io import read_corpus
    from fewner.data.spec import default_data_root, rename_labels
    from fewner.data.support_sets import load_fixed_support_sets
    from fewner.eval.pairing import score_predictions
    from fewner.predictors.extractor import ExtractorPredictor
    from fewner.prompts import load_definitions

    root, names = Path(default_data_root()), LABEL_NAMES[args.dataset]
    saved = fewner.load(args.source)  # a shipped name or a folder
    episode = load_fixed_support_sets(root, args.dataset, 5).episodes[0]
    types = [names.get(t, t) for t in episode.types]
    definitions = {names.get(k, k): v for k, v in load_definitions(DEFINITIONS[args.dataset]).items()}
    dev = rename_labels(read_corpus(root / DEV_FILES[args.dataset]).sentences[: args.limit], names)
    predictor = ExtractorPredictor(
        saved.model, types, adapter=saved.adapter, layout="sentence_first", definitions=definitions,
        batch_size=args.batch_size, retype=args.retype,
    )
    for bias in [float(b) for b in args.biases.split(",")]:
        predictor.none_bias = bias
        started = time.perf_counter()
        result = predictor.predict_sentences(dev, types)
        scores, _ = score_predictions(dev, result.sentences, types)
        row = {
            "source": str(args.source), "dataset": args.dataset, "split": "dev", "sentences": len(dev),
            "none_bias": bias,
            "retype": args.retype, "f1": round(100 * scores.micro.f1, 2),
            "p": round(100 * scores.micro.precision, 2), "r": round(100 * scores.micro.recall, 2),
            "seconds": round(time.perf_counter() - started),
            "type_conflicts": result.stats.get("type_conflicts", 0), "spans": result.stats.get("spans", 0),
            "per_type": {t: round(100 * v.f1, 1) for t, v in sorted(scores.per_type.items())},
        }
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
