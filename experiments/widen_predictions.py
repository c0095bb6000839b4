"""Noun-phrase widening (span_extension) measured on saved predictions, and what ``auto`` chooses.

    cd experiments
    python widen_predictions.py gum --predictions RUNS/gum_sft-replay_0.jsonl RUNS/gum_sft-replay_1.jsonl
    python widen_predictions.py --choices            # auto's choice on every 5-shot support set

``--predictions``: files written by ``source_fewshot.py --predictions DIR`` (named
``<dataset>_<row>_<set>.jsonl``); each is scored as predicted, widened by each rule
(fewner/text/noun_phrases.py; the function the extractor applies with ``span_extension``) and
as ``auto`` chooses on that run's support set, against the first ``--limit`` test sentences. ``--choices``: the share of gold spans widening would change, per
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
    print("| dataset | changed share, sets 0-9 | auto: noun_chunk | auto: noun_phrase |")
    print("|---|---|---:|---:|")
    for name in DATASETS:
        episodes = load_fixed_support_sets(Path(default_data_root()), name, 5).episodes
        picked = [choose_extension("auto", list(e.support)) for e in episodes]
        out[name] = [c.as_dict() for c in picked]
        shares = " ".join(f"{c.changed_share:.2f}" for c in picked)
        counts = [sum(c.chosen == rule for c in picked) for rule in ("noun_chunk", "noun_phrase")]
        print(f"| {name} | {shares} | {counts[0]} of {len(picked)} | {counts[1]} of {len(picked)} |")
    return out


def widened_runs(dataset: str, paths: list[Path], limit: int) -> dict:
    from span_eval import LABEL_NAMES

    from fewner.data.io import read_corpus
    from fewner.data.spec import default_data_root, rename_labels
    from fewner.data.support_sets import load_fixed_support_sets
    from fewner.eval.metrics import pair_sentences, score
    from fewner.text.noun_phrases import WIDENING_RULES, NounChunker, choose_extension, widen_spans

    names = LABEL_NAMES[dataset]
    episodes = load_fixed_support_sets(Path(default_data_root()), dataset, 5).episodes
    gold = rename_labels(list(episodes[0].query)[:limit], names)  # what source_fewshot.py scores
    chunker = NounChunker()
    out: dict = {}
    columns = ["none", *WIDENING_RULES, "auto"]
    print(f"\n{dataset}, first {len(gold)} test sentences: span F1 (P / R) as predicted and widened")
    print("| run | auto chooses | " + " | ".join(columns) + " |")
    print("|---|---|" + "---:|" * len(columns))
    for path in paths:
        index = int(re.search(r"_(\d+)\.jsonl$", path.name).group(1))
        pairs = pair_sentences(gold, read_corpus(path).sentences, by="id")
        golds, predicted = [g for g, _ in pairs], [p for _, p in pairs]
        types = list(dict.fromkeys(names.get(t, t) for t in episodes[index].types))
        choice = choose_extension("auto", rename_labels(list(episodes[index].support), names), chunker)
        run: dict = {"support_set": index, "sentences": len(golds), "auto": choice.as_dict()}
        parses = chunker.parse(predicted)  # once per run, for every rule
        for rule in columns:
            applied = choice.chosen if rule == "auto" else rule
            widened = predicted if applied == "none" else widen_spans(
                predicted, chunker, applied, types, parses=parses)[0]
            m = score(golds, widened).micro
            run[rule] = {"f1": m.f1, "precision": m.precision, "recall": m.recall}
        out[path.name] = run
        cells = " | ".join(f"{100 * run[c]['f1']:.1f} ({100 * run[c]['precision']:.1f} / "
                           f"{100 * run[c]['recall']:.1f})" for c in columns)
        print(f"| {path.name} | {choice.chosen} ({choice.changed_share:.2f}) | {cells} |")
    if len(out) > 1:
        for rule in columns:
            f1 = [100 * r[rule]["f1"] for r in out.values()]
            print(f"{rule}: {statistics.mean(f1):.1f} ± {statistics.stdev(f1):.1f} over {len(f1)} runs")
    return out


if __name__ == "__main__":
    main()
