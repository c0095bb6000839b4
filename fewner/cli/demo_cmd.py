"""``fewner demo``: the main job on bundled data, end to end in seconds.

It reads the bundled Few-NERD sample (800 sentences, 17 types, CC BY-SA 4.0), samples N-way
K~2K-shot episodes, labels each query set with the support-set dictionary baseline, and scores
every episode (mean ± std over episodes, the Few-NERD protocol). Later capabilities (LoRA-tuned
extraction) plug in as other predictors; the baseline stays as the floor they must beat.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click
from rich.table import Table

from fewner.baselines.dictionary import DictionaryMatcher
from fewner.cli.common import err, out, progress, report_read
from fewner.data.episodes import EpisodeSampler, sample_episodes
from fewner.data.io import read_corpus, write_corpus, write_episodes
from fewner.eval.metrics import aggregate_episodes, score
from fewner.eval.report import episodes_table
from fewner.runs import RunDir

DEMO_FILE = "fewnerd_inter_test_sample.txt"


def demo_data_path() -> Path:
    """Location of the bundled sample inside the installed package."""
    return Path(str(resources.files("fewner") / "resources" / "demo" / DEMO_FILE))


@click.command()
@click.option("--n-way", default=5, show_default=True, help="Entity types per episode.")
@click.option("--k-shot", default=1, show_default=True, help="Each type gets K..2K support mentions.")
@click.option("--n-query", default=2, show_default=True, help="Each type gets Q..2Q query mentions.")
@click.option("--episodes", "n_episodes", default=50, show_default=True, help="Episodes to sample.")
@click.option("--seed", default=0, show_default=True, help="Seed for episode sampling.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/demo"),
    show_default=True,
    help="Run folder: config.json, metrics.json, episodes.jsonl, predictions.jsonl.",
)
@click.option("--show", default=5, show_default=True, help="Query sentences to print with their entities.")
def demo(n_way: int, k_shot: int, n_query: int, n_episodes: int, seed: int, out_dir: Path, show: int) -> None:
    """Sample few-shot episodes from the bundled Few-NERD sample and evaluate a predictor.

    The predictor is the support-set dictionary baseline (no model): it tags query text with
    the mentions seen in the support set. Scores are per-episode micro P/R/F1, reported as
    mean ± std over episodes and pooled.
    """
    run = RunDir(out_dir)
    config = {
        "data": str(demo_data_path()),
        "n_way": n_way,
        "k_shot": k_shot,
        "n_query": n_query,
        "episodes": n_episodes,
        "seed": seed,
        "predictor": "dictionary",
    }
    run.write_config(config)

    corpus = read_corpus(demo_data_path(), format="tags", scheme="bio")
    report_read(corpus)
    err.print(f"read {len(corpus)} sentences, {len(corpus.labels)} types from the bundled sample")

    sampler = EpisodeSampler(corpus.sentences)
    with progress() as bar:
        task = bar.add_task("sampling episodes", total=n_episodes)
        episodes = sample_episodes(
            corpus.sentences, n_way, k_shot, n_query, n_episodes, seed,
            progress=lambda done, _total: bar.update(task, completed=done),
            sampler=sampler,
        )
    write_episodes(episodes, run.file("episodes.jsonl"))

    scores, predictions = [], []
    with progress() as bar:
        task = bar.add_task("predicting + scoring", total=len(episodes))
        for episode in episodes:
            matcher = DictionaryMatcher(episode.support, episode.types)
            predicted = [matcher.predict(s) for s in episode.query]
            predictions.extend(predicted)
            scores.append(score(episode.query, predicted, pair="order"))
            bar.advance(task)
    write_corpus(predictions, run.file("predictions.jsonl"), "jsonl")

    _print_examples(episodes[0].query[:show], predictions[:show])
    summary = aggregate_episodes(scores)
    out.print(episodes_table(summary))
    boundary = sum(s.boundary_errors.count for s in scores)
    predicted_total = sum(s.micro.predicted for s in scores)
    out.print(
        f"boundary errors: {boundary} of {predicted_total} predicted spans"
        f" ({boundary / max(predicted_total, 1):.1%})"
    )
    run.write_metrics({**summary.to_dict(), "boundary_errors": boundary, "predicted_spans": predicted_total})
    out.print(f"run folder: {run.path}")


def _print_examples(gold, predicted) -> None:
    table = Table(title="first query sentences (predicted entities with character offsets)", title_justify="left")
    table.add_column("sentence", overflow="fold", ratio=3)
    table.add_column("predicted", overflow="fold", ratio=2)
    table.add_column("gold", overflow="fold", ratio=2)
    for g, p in zip(gold, predicted, strict=True):
        table.add_row(g.text, _spans(p), _spans(g))
    out.print(table)


def _spans(sentence) -> str:
    return "\n".join(f"[{s.start}:{s.end}] {sentence.mention(s)} ({s.label})" for s in sentence.spans) or "-"
