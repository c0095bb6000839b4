"""A model on Few-NERD INTER: 5-way 1~2-shot episodes re-sampled from the INTER test split.

    python experiments/span_fewnerd.py MODEL [--zero-shot-episodes 300] [--adapt-episodes 30]
        [--n-way 5] [--k-shot 1] [--seed 0] [--names hand|tags] [--recipe span] [--out FILE.json]

MODEL: the span model (``--recipe span``) or the LLM extractor's source stage
(``smollm2-135m-ner --recipe ner-sft``, or ``--recipe calibrate``: no training); any model ``fewner.load`` reads zero-shot and
``fewner.fit(recipe=...)`` adapts.

Episodes are drawn with fewner's Few-NERD greedy sampler (``fewner episodes sample``: N types, K~2K
support mentions each, a query set with 1~2 mentions per type) from
../shared/data/fewnerd/inter_test_bio_unofficial/big_test.txt; episode ``i`` depends on the seed
and ``i`` only, so the first ``--adapt-episodes`` are also the first zero-shot ones. Zero-shot:
the model reads each episode's types by name. Adapted: a fresh copy of MODEL is fit on the
episode's support set (``fewner.fit(recipe=RECIPE)``, default settings) and scored on its query.
Reported per setting: micro F1 pooled over all episodes (Few-NERD's protocol: counts summed over
episodes) and mean ± std of the per-episode F1.

With ``--out FILE.json`` every episode's predictions are kept in ``FILE.parts/`` as they finish
(fewner JSONL, plus the adaptation seconds), and a rerun with the same options scores the kept
ones instead of predicting them again: a stopped run resumes.

Label names: ``hand`` reads each type as the words a user would type for it (below), ``tags``
reads the tag itself with ``_``/``-`` as spaces (``person_athlete`` -> "person athlete").
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _overrides import parse_overrides

HAND_NAMES = {
    "organization_government/governmentagency": "government agency",
    "person_actor": "actor",
    "event_election": "election",
    "location_bodiesofwater": "body of water",
    "art_music": "music",
    "event_sportsevent": "sports event",
    "organization_politicalparty": "political party",
    "building_theater": "theater",
    "other_educationaldegree": "educational degree",
    "art_writtenart": "written work",
    "person_athlete": "athlete",
    "other_medical": "medical term",
    "other_livingthing": "living thing",
    "building_hospital": "hospital",
    "product_weapon": "weapon",
    "location_other": "location",
    "product_car": "car",
}
TEST_FILE = "fewnerd/inter_test_bio_unofficial/big_test.txt"


def main() -> None:
    import torch

    import fewner
    from fewner.data.episodes import sample_episodes
    from fewner.data.formats.jsonl import write_jsonl
    from fewner.data.io import read_corpus
    from fewner.data.spec import default_data_root, rename_labels
    from fewner.eval.metrics import aggregate_episodes, score
    from fewner.progress import progress_reporter
    from fewner.spanmodel.batching import label_text

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--zero-shot-episodes", type=int, default=300)
    ap.add_argument("--adapt-episodes", type=int, default=30)
    ap.add_argument("--n-way", type=int, default=5)
    ap.add_argument("--k-shot", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--names", choices=["hand", "tags"], default="hand")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--recipe", default="span", help="fewner.fit recipe of the adapted rows (span, ner-sft)")
    ap.add_argument("--batch-size", type=int, default=None, help="prompts/sentences per forward pass")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="recipe override of the adapted rows (YAML value), e.g. stages.target.epochs=2")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    sentences = read_corpus(Path(default_data_root()) / TEST_FILE).sentences
    count = max(args.zero_shot_episodes, args.adapt_episodes)
    episodes = sample_episodes(sentences, args.n_way, args.k_shot, args.k_shot, count, args.seed)
    hand = HAND_NAMES if args.names == "hand" else {}
    # every model reads the same label text: the sentences' tags renamed up front
    names = {t: hand.get(t) or label_text(t) for e in episodes for t in e.types}
    results: dict = {"model": args.model, "recipe": args.recipe, "episodes": count, "n_way": args.n_way,
                     "k_shot": args.k_shot, "seed": args.seed, "names": args.names, "test_file": TEST_FILE}

    def summary(scores) -> dict:
        s = aggregate_episodes(scores)
        return {"episodes": s.episodes, "pooled_f1": round(100 * s.pooled.f1, 2),
                "mean_f1": round(100 * s.f1.mean, 2), "std_f1": round(100 * s.f1.std, 2),
                "query_sentences": sum(len(e.query) for e in episodes[: s.episodes])}

    def renamed(episode) -> tuple[list, list, list[str]]:
        return (rename_labels(list(episode.support), names), rename_labels(list(episode.query), names),
                [names[t] for t in episode.types])

    parts = Path(args.out).with_suffix(".parts") if args.out else None
    if parts:
        parts.mkdir(parents=True, exist_ok=True)
        settings = {k: results[k] for k in ("model", "recipe", "n_way", "k_shot", "seed", "names")}
        settings["overrides"] = args.overrides
        kept = parts / "settings.json"
        if kept.exists() and json.loads(kept.read_text()) != settings:
            raise SystemExit(f"{parts} holds episodes of other settings; remove it or choose another --out")
        kept.write_text(json.dumps(settings, indent=2) + "\n")

    def cached(setting: str, i: int, predict) -> tuple:
        """(predicted sentences, seconds) of episode i: read back from ``parts`` or predicted and kept."""
        path = parts / f"{setting}-{i:03d}.jsonl" if parts else None
        if path and path.exists():
            return read_corpus(path).sentences, json.loads(path.with_suffix(".json").read_text())["seconds"]
        predicted, took = predict()
        if path:
            write_jsonl(predicted, path.with_suffix(".tmp"))
            path.with_suffix(".json").write_text(json.dumps({"seconds": took}) + "\n")
            path.with_suffix(".tmp").replace(path)
        return predicted, took

    overrides = parse_overrides(args.overrides)
    if args.recipe == "span":
        options = {"model": args.model, **({"overrides": overrides} if overrides else {})}
    elif args.recipe == "calibrate":  # no training: MODEL itself, its none_bias chosen
        options = {"model": args.model, **overrides}
    else:  # an LLM recipe continues its own init_adapter (the source stage); bf16 trains 2.7x faster
        options = {"overrides": {"precision": "bf16", **overrides}}
    zero = fewner.load(args.model)
    if args.batch_size:
        zero.batch_size = args.batch_size
    zero_scores = []
    started = time.perf_counter()
    with progress_reporter(True, args.zero_shot_episodes, "zero-shot episodes") as advance:
        for i, episode in enumerate(episodes[: args.zero_shot_episodes]):
            _, query, types = renamed(episode)
            predicted, _ = cached("zero", i, lambda q=query, t=types: (zero.predict_sentences(q, t).sentences, 0.0))
            zero_scores.append(score(query, predicted, pair="order"))
            advance(1)
    results["zero_shot"] = {**summary(zero_scores), "seconds": round(time.perf_counter() - started, 1)}
    if args.adapt_episodes:
        results["zero_shot_first_adapted"] = summary(zero_scores[: args.adapt_episodes])
    print("zero-shot:", results["zero_shot"], flush=True)

    adapted_scores, seconds = [], []
    with progress_reporter(True, args.adapt_episodes, "adapted episodes") as advance:
        for i, episode in enumerate(episodes[: args.adapt_episodes]):
            support, query, types = renamed(episode)

            def adapt_and_predict(support=support, query=query, types=types):
                started = time.perf_counter()
                predictor = fewner.fit(support, types, recipe=args.recipe, progress=False, **options)
                took = time.perf_counter() - started
                if args.batch_size:
                    predictor.batch_size = args.batch_size
                return predictor.predict_sentences(query, types).sentences, took

            predicted, took = cached("adapted", i, adapt_and_predict)
            seconds.append(took)
            adapted_scores.append(score(query, predicted, pair="order"))
            advance(1)
    if adapted_scores:
        results["adapted"] = {**summary(adapted_scores), "mean_adapt_seconds": round(sum(seconds) / len(seconds), 1)}
        print("adapted:", results["adapted"], flush=True)
        print("zero-shot on the same episodes:", results["zero_shot_first_adapted"], flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
