"""Where the LLM extractor's recall goes, and how well it types what it finds (dev split).

    cd experiments && FEWNER_SHARED_DATA=../../shared/data python extractor_errors.py conll \\
        --limit 100 --none-bias -1 [--retype] [--typing]

Each gold mention is classified from the per-type answers *before* merging: found with the right
type; the right type's question answered "none"; found only under a wrong type; found under the
right type but lost in the merge; the right type's question listed other mentions; boundary
error. ``--typing`` also scores every candidate span that matches a gold span exactly under every
type (``backend.logprobs`` of the one-mention answer) and counts how often each typing rule picks
the gold type. Support set 0's types, the dataset's definitions, labels read as words.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from none_bias_sweep import DEFINITIONS, DEV_FILES
from span_eval import LABEL_NAMES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", choices=sorted(DEV_FILES))
    ap.add_argument("--source", default="smollm2-135m-ner")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--none-bias", type=float, default=-1.0)
    ap.add_argument("--retype", action="store_true")
    ap.add_argument("--typing", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
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
    types = [names.get(t, t) for t in load_fixed_support_sets(root, args.dataset, 5).episodes[0].types]
    definitions = {names.get(k, k): v for k, v in load_definitions(DEFINITIONS[args.dataset]).items()}
    dev = rename_labels(read_corpus(root / DEV_FILES[args.dataset]).sentences[: args.limit], names)
    predictor = ExtractorPredictor(
        saved.model, types, adapter=saved.adapter, layout="sentence_first", definitions=definitions,
        batch_size=32, none_bias=args.none_bias, retype=args.retype,
    )
    result = predictor.predict_sentences(dev, types)
    extractor, by_id = predictor._extractor, {s.id: s for s in dev}
    answered: dict[tuple[str, str], set[tuple[int, int]]] = {}
    for record in result.records:
        sentence = by_id[record["sentence_id"]]
        parsed = extractor.fmt.parse(record["answer"], sentence, record["type"])
        answered[sentence.id, record["type"]] = {(s.start, s.end) for s in parsed.spans}
    kinds: Counter[str] = Counter()
    for gold, predicted in zip(dev, result.sentences, strict=True):
        final = {(s.start, s.end): s.label for s in predicted.spans}
        for span in gold.spans:
            where, own = (span.start, span.end), answered.get((gold.id, span.label), set())
            if final.get(where) == span.label:
                kinds["right type"] += 1
            elif where in own:
                kinds["right type answered, lost in the merge"] += 1
            elif any(where in answered.get((gold.id, t), set()) for t in types):
                kinds["only under a wrong type"] += 1
            elif any(a < span.end and span.start < b for a, b in own):
                kinds["boundary"] += 1
            elif not own:
                kinds["right type answered none"] += 1
            else:
                kinds["right type listed other mentions"] += 1
    scores, _ = score_predictions(dev, result.sentences, types)
    row = {"dataset": args.dataset, "sentences": len(dev), "none_bias": args.none_bias,
           "retype": args.retype, "gold_mentions": sum(len(s.spans) for s in dev), **kinds,
           "f1": round(100 * scores.micro.f1, 1), "p": round(100 * scores.micro.precision, 1),
           "r": round(100 * scores.micro.recall, 1),
           "stats": {k: result.stats.get(k, 0) for k in ("spans", "type_conflicts", "retyped")}}
    if args.typing:
        row["typing"] = typing_accuracy(predictor, dev, types, answered)
    print(json.dumps(row, indent=1))


def typing_accuracy(predictor, dev, types, answered) -> dict[str, int]:
    """How often each rule gives a gold-matching candidate span its gold type."""
    extractor, backend, grammar = predictor._extractor, predictor.backend(), predictor.template.grammar
    gold = {(s.id, sp.start, sp.end): sp.label for s in dev for sp in s.spans}
    claimed: dict[tuple[str, int, int], list[str]] = {}
    for (sid, t), spans in answered.items():
        for a, b in spans:
            claimed.setdefault((sid, a, b), []).append(t)
    keys = [k for k in claimed if k in gold]
    by_id = {s.id: s for s in dev}
    prompts = [extractor.prompt(by_id[k[0]], t) for k in keys for t in types]
    answers = [grammar.render([by_id[k[0]].text[k[1]:k[2]]]) for k in keys for _ in types]
    total = backend.logprobs(prompts, answers)
    unique = sorted(set(prompts))
    prefix = dict(zip(unique, backend.logprobs(unique, [grammar.prefix] * len(unique)), strict=True))
    none = dict(zip(unique, backend.logprobs(unique, [grammar.none] * len(unique)), strict=True))
    counts: Counter[str] = Counter(candidates=len(keys))
    for n, key in enumerate(keys):
        rows = range(n * len(types), (n + 1) * len(types))  # this span's score under each type
        picks = {
            "answer log-probability": lambda r: total[r],
            "minus the none answer's": lambda r: total[r] - none[prompts[r]],
            "mention part only": lambda r: total[r] - prefix[prompts[r]],
        }
        for name, score in picks.items():
            counts[name] += types[max(rows, key=score) - rows.start] == gold[key]
        counts["first extracting type in list order"] += sorted(claimed[key], key=types.index)[0] == gold[key]
        counts["gold type among the extracting types"] += gold[key] in claimed[key]
    return dict(counts)


if __name__ == "__main__":
    main()
