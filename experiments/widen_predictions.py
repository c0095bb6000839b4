"""Noun-phrase widening (span_extension) measured on saved predictions, and what ``auto`` chooses.

    cd experiments
    python widen_predictions.py gum --predictions RUNS/gum_sft-replay_0.jsonl RUNS/gum_sft-replay_1.jsonl
    python widen_predictions.py --choices            # auto's choice on every 5-shot support set

``--predictions``: files written by ``source_fewshot.py --predictions DIR`` (named
``<dataset>_<row>_<set>.jsonl``); each is scored as predicted and with every span widened to its
noun chunk (fewner/text/noun_phrases.py; the same function the extractor applies with
``span_extension: noun_chunk``), against the first ``--limit`` test sentences, with auto's choice
on that run's support set. ``--choices``: the share of gold spans widening would change, per
support set 0-9 of CoNLL-2003, WNUT-17 and GUM, and what ``auto`` makes of it. ``--out``: also
write the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

DATASETS = ("conll", "wnut", "gum")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", nargs="?", choices=DATASETS)
    ap.add_argument("--predictions", type=Path, nargs="*", default=[], metavar="RUN.jsonl")
    ap.add_argument("--limit", type=int, default=500)
    ap.add_argument("--choices", action="store_true", help="auto's choice on every support set")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.predictions and args.dataset is None:
        ap.error("--predictions needs the dataset they are of")
    results: dict = {}
    if args.choices:
        results["choices"] = choices()
    if args.predictions:
        results["runs"] = widened_runs(args.dataset, args.predictions, args.limit)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True))


def choices() -> dict:
    from fewner.data.spec import default_data_root
    from fewner.data.support_sets import load_fixed_support_sets
    from fewner.text.noun_phrases import AUTO_MAX_CHANGED, choose_extension

    out: dict = {}
    print(f"auto widens when at most {AUTO_MAX_CHANGED:.0%} of the support set's gold spans would change")
    print("| dataset | changed share, sets 0-9 | auto widens on |")
    print("|---|---|---:|")
    for name in DATASETS:
        episodes = load_fixed_support_sets(Path(default_data_root()), name, 5).episodes
        picked = [choose_extension("auto", list(e.support)) for e in episodes]
        out[name] = [c.as_dict() for c in picked]
        shares = " ".join(f"{c.changed_share:.2f}" for c in picked)
        print(f"| {name} | {shares} | {sum(c.chosen == 'noun_chunk' for c in picked)} of {len(picked)} |")
    return out


def widened_runs(dataset: str, paths: list[Path], limit: int) -> dict:
    from span_eval import LABEL_NAMES

    from fewner.data.io import read_corpus
    from fewner.data.spec import default_data_root, rename_labels
    from fewner.data.support_sets import load_fixed_support_sets
    from fewner.eval.metrics import pair_sentences, score
    from fewner.text.noun_phrases import NounChunker, choose_extension, widen_to_noun_chunks

    names = LABEL_NAMES[dataset]
    episodes = load_fixed_support_sets(Path(default_data_root()), dataset, 5).episodes
    gold = rename_labels(list(episodes[0].query)[:limit], names)  # what source_fewshot.py scores
    chunker = NounChunker()
    out: dict = {}
    print(f"\n{dataset}, first {len(gold)} test sentences: span F1 as predicted and widened")
    print("| run | support set | auto chooses (changed share) | F1 | P | R | widened F1 | P | R |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for path in paths:
        index = int(re.search(r"_(\d+)\.jsonl$", path.name).group(1))
        pairs = pair_sentences(gold, read_corpus(path).sentences, by="id")
        golds, predicted = [g for g, _ in pairs], [p for _, p in pairs]
        types = list(dict.fromkeys(names.get(t, t) for t in episodes[index].types))
        widened, counts = widen_to_noun_chunks(predicted, chunker, types)
        before, after = score(golds, predicted).micro, score(golds, widened).micro
        choice = choose_extension("auto", rename_labels(list(episodes[index].support), names), chunker)
        out[path.name] = {
            "support_set": index, "sentences": len(golds), "auto": choice.as_dict(),
            "predicted": {"f1": before.f1, "precision": before.precision, "recall": before.recall},
            "widened": {"f1": after.f1, "precision": after.precision, "recall": after.recall},
            "widening": dict(counts),
        }
        print(f"| {path.name} | {index} | {choice.chosen} ({choice.changed_share:.2f}) "
              f"| {100 * before.f1:.1f} | {100 * before.precision:.1f} | {100 * before.recall:.1f} "
              f"| {100 * after.f1:.1f} | {100 * after.precision:.1f} | {100 * after.recall:.1f} |")
    if len(out) > 1:
        for key in ("predicted", "widened"):
            f1 = [100 * r[key]["f1"] for r in out.values()]
            print(f"{key}: {statistics.mean(f1):.1f} ± {statistics.stdev(f1):.1f} over {len(f1)} runs")
    return out


if __name__ == "__main__":
    main()
