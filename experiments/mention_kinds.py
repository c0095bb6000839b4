"""What kind of mentions a test set annotates: names, pronouns or common noun phrases.

    python experiments/mention_kinds.py [gum|wnut|conll] [--limit 500] [--predictions RUN.jsonl]

Prints, for the first ``--limit`` test sentences, the share of gold mentions that are a single
pronoun, that start with a determiner or possessive ("the bar", "your list"), and whose every
word is capitalized (name-like), and the same per type. A source stage trained on names learns
the last kind only: the table says how much of a dataset that covers. With ``--predictions``
(a run's predicted sentences, ``source_fewshot.py --predictions DIR``), also per kind: the gold
mentions found (exact span and type), found with another type, and the predicted spans of that
kind that are right (precision).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

PRONOUNS = set("""i me my mine we us our ours you your yours he him his she her hers it its they them
their theirs this that these those who whom which what myself yourself himself herself itself
ourselves yourselves themselves one someone something everyone everything anyone anything""".split())
DETERMINERS = set("""the a an this that these those my your his her its our their some any every each
all no another such both either neither""".split())


def kind(words: list[str]) -> str:
    """'pronoun', 'determiner NP', 'name-like' or 'other' (a bare common noun phrase, a number)."""
    if len(words) == 1 and words[0].lower() in PRONOUNS:
        return "pronoun"
    if words[0].lower() in DETERMINERS:
        return "determiner NP"
    if all(w[:1].isupper() for w in words if w[:1].isalpha()) and any(w[:1].isalpha() for w in words):
        return "name-like"
    return "other"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", choices=("conll", "gum", "wnut"))
    ap.add_argument("--limit", type=int, default=500)
    ap.add_argument("--predictions", type=Path, default=None, metavar="RUN.jsonl",
                    help="a run's predicted test sentences: recall and precision per kind")
    args = ap.parse_args()

    from fewner.data.spec import default_data_root
    from fewner.data.support_sets import load_fixed_support_sets

    # the test sentences source_fewshot.py scores (an episode's query is the dataset's test set)
    episode = load_fixed_support_sets(Path(default_data_root()), args.dataset, 5).episodes[0]
    sentences = list(episode.query)[: args.limit]
    kinds: Counter[str] = Counter()
    per_type: dict[str, Counter[str]] = {}
    for sentence in sentences:
        for span in sentence.spans:
            words = sentence.text[span.start:span.end].split()
            k = kind(words)
            kinds[k] += 1
            per_type.setdefault(span.label, Counter())[k] += 1
    total = sum(kinds.values())
    columns = ["name-like", "determiner NP", "pronoun", "other"]
    print(f"{args.dataset}: {len(sentences)} test sentences, {total} mentions")
    print("| type | mentions | " + " | ".join(columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    rows = [("all", kinds)] + sorted(per_type.items(), key=lambda kv: -sum(kv[1].values()))
    for name, counts in rows:
        n = sum(counts.values())
        print(f"| {name} | {n} | " + " | ".join(f"{100 * counts[c] / n:.0f} %" for c in columns) + " |")
    if args.predictions is not None:
        by_kind(sentences, args.dataset, args.predictions, columns)


def by_kind(gold_sentences: list, dataset: str, path: Path, columns: list[str]) -> None:
    """Recall and precision per mention kind of one run's predictions (paired by sentence id;
    gold labels read as words, ``PER`` -> ``person``, as source_fewshot.py scores them)."""
    from span_eval import LABEL_NAMES

    from fewner.data.io import read_corpus
    from fewner.data.spec import rename_labels
    from fewner.eval.metrics import pair_sentences

    gold_sentences = rename_labels(gold_sentences, LABEL_NAMES[dataset])
    pairs = pair_sentences(gold_sentences, read_corpus(path).sentences, by="id")
    gold_n, found, other_type, pred_n, right = (Counter() for _ in range(5))
    for g, predicted in pairs:
        gold, pred = set(g.spans), set(predicted.spans)
        places = {(p.start, p.end) for p in pred}
        for span in gold:
            k = kind(g.text[span.start:span.end].split())
            gold_n[k] += 1
            found[k] += span in pred
            other_type[k] += span not in pred and (span.start, span.end) in places
        for span in pred:
            k = kind(g.text[span.start:span.end].split())
            pred_n[k] += 1
            right[k] += span in gold
    print(f"\n{path.name}: per kind (gold mentions; predicted spans classified by their own words)")
    print("| kind | gold | found | other type | predicted | precision |")
    print("|---|---:|---:|---:|---:|---:|")
    for k in [*columns, "all"]:
        pick = columns if k == "all" else [k]
        g, f, o, n, r = (sum(c[x] for x in pick) for c in (gold_n, found, other_type, pred_n, right))
        print(f"| {k} | {g} | {100 * f / max(g, 1):.0f} % | {100 * o / max(g, 1):.0f} % "
              f"| {n} | {100 * r / max(n, 1):.0f} % |")


if __name__ == "__main__":
    main()
