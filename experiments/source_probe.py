"""A cheap probe of a source-stage adapter: does it answer "none" where the type is present?

    python experiments/source_probe.py ADAPTER [ADAPTER ...] [--dataset conll] [--sentences 150]

For each (dev sentence, type) question, one forward pass scores the first answer token: the
template's "none" sentence and its mention sentence start with different tokens ("There" vs
"The"), so p(none) is the softmax over those two. Prints, per adapter: the share of questions
answered none at 0.5, recall/precision of "has a mention" at 0.5, ROC AUC, and the same
recall/precision at the threshold that maximises F1 (what a calibrated none-bias could buy).
Dev sentences only (CoNLL valid, WNUT dev): used to choose training variants, never to report.
Seconds: ~1 per 10 questions on 2 threads; a full extraction run costs ~30x more.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from span_eval import LABEL_NAMES

FILES = {
    "conll": "conll2003/valid.txt",
    "wnut": "wnut17/emerging.dev.conll",
    "wikineural": "source/wiki/wikineural-en-val.tsv",  # in-domain check: the mixture's own set
}
DEFINITIONS = {"conll": "conll2003", "wnut": "wnut17", "wikineural": None}


def auc(pos: list[float], neg: list[float]) -> float:
    """P(score of a random positive > a random negative), ties half."""
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def pr(scores: list[tuple[float, bool]], threshold: float) -> tuple[float, float, float]:
    tp = sum(1 for s, y in scores if s >= threshold and y)
    fp = sum(1 for s, y in scores if s >= threshold and not y)
    fn = sum(1 for s, y in scores if s < threshold and y)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("adapters", nargs="+", help="adapter folders (or a run folder holding adapter/)")
    ap.add_argument("--dataset", default="conll", choices=sorted(FILES))
    ap.add_argument("--sentences", type=int, default=150)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--definitions", choices=["dataset", "generic"], default="dataset",
                    help="the dataset's shipped definitions, or the generic 'any X mentioned'")
    ap.add_argument("--layout", choices=["sentence_first", "type_first"], default="sentence_first",
                    help="the prompt layout the adapter was trained with")
    ap.add_argument("--out", help="append one JSON line per adapter to this file")
    args = ap.parse_args()

    import torch
    from peft import PeftModel

    torch.set_num_threads(args.threads)
    from fewner.data.io import read_corpus
    from fewner.data.spec import default_data_root, rename_labels
    from fewner.predictors.extractor import GENERIC_DEFINITION
    from fewner.prompts import ExtractionFormat, load_definitions, load_template
    from fewner.train.collate import encode_prompt
    from fewner.train.stages import load_model

    names = LABEL_NAMES.get(args.dataset, LABEL_NAMES["conll"])
    corpus = read_corpus(Path(default_data_root()) / FILES[args.dataset])
    sentences = rename_labels([s for s in corpus if s.tokens][: args.sentences], names)
    types = sorted({names.get(t, t) for t in corpus.labels})
    shipped = load_definitions(DEFINITIONS[args.dataset]) if DEFINITIONS[args.dataset] else {}
    definitions = {names.get(k, k): v for k, v in shipped.items()} if args.definitions == "dataset" else {}
    template = load_template("obp-llm", layout=args.layout)
    fmt = ExtractionFormat(template, {t: definitions.get(t, GENERIC_DEFINITION.format(label=t)) for t in types})
    base, tokenizer, _ = load_model("smollm2-135m-instruct", lambda *_: None, torch.device("cpu"))
    none_id = tokenizer(template.grammar.none, add_special_tokens=False)["input_ids"][0]
    some_id = tokenizer(template.grammar.prefix, add_special_tokens=False)["input_ids"][0]
    if none_id == some_id:
        raise SystemExit("the template's none and mention answers start with the same token")

    for adapter in args.adapters:
        folder = Path(adapter)
        folder = folder / "adapter" if (folder / "adapter").is_dir() else folder
        model = PeftModel.from_pretrained(base, str(folder)) if folder.name != "none" else base
        model.eval()
        started = time.perf_counter()
        scores: list[tuple[float, bool]] = []
        with torch.inference_mode():
            for sentence in sentences:
                present = {s.label for s in sentence.spans}
                for t in types:
                    ids = encode_prompt(tokenizer, fmt.prompt(sentence, t))["input_ids"]
                    logits = model(torch.tensor([ids])).logits[0, -1].float()
                    two = torch.log_softmax(logits[[some_id, none_id]], dim=0)
                    scores.append((float(two[0].exp()), t in present))
        seconds = time.perf_counter() - started
        pos = [s for s, y in scores if y]
        neg = [s for s, y in scores if not y]
        p, r, f = pr(scores, 0.5)
        best = max((pr(scores, th) + (th,) for th in [i / 100 for i in range(1, 100)]), key=lambda x: x[2])
        row = {
            "adapter": str(adapter), "dataset": args.dataset, "definitions": args.definitions,
            "layout": args.layout,
            "questions": len(scores),
            "with_mentions": len(pos), "answered_none": round(sum(1 for s, _ in scores if s < 0.5) / len(scores), 3),
            "p": round(p, 3), "r": round(r, 3), "f1": round(f, 3), "auc": round(auc(pos, neg), 3),
            "best": {"threshold": best[3], "p": round(best[0], 3), "r": round(best[1], 3), "f1": round(best[2], 3)},
            "seconds": round(seconds, 1),
        }
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
        if isinstance(model, PeftModel):
            base = model.unload()


if __name__ == "__main__":
    main()
