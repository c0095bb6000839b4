"""``fewner demo``: the main job on bundled data, end to end in a few minutes.

It reads the bundled Few-NERD sample (800 sentences, 17 types, CC BY-SA 4.0), samples N-way
K~2K-shot episodes, labels each query set with the support-set dictionary baseline and scores
every episode (mean ± std over episodes, the Few-NERD protocol). Then (unless ``--no-lm``) the
few-shot pipeline proper runs on the first episode: LoRA SFT of SmolLM2 on its support set with
the attention contrastive term (``configs/demo.yaml``), and constrained extraction on its query
set, printed with character offsets and scored.
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
@click.option(
    "--lm/--no-lm",
    default=True,
    show_default=True,
    help="Also train SmolLM2 (LoRA) on the first episode's support set and extract its query set.",
)
@click.option(
    "--lm-config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Training config for the LM part [default: configs/demo.yaml].",
)
@click.option("--lm-epochs", type=click.IntRange(min=1), default=None, help="Override the LM part's epochs.")
def demo(
    n_way: int, k_shot: int, n_query: int, n_episodes: int, seed: int, out_dir: Path, show: int,
    lm: bool, lm_config: Path | None, lm_epochs: int | None,
) -> None:
    """Sample few-shot episodes from the bundled Few-NERD sample and run few-shot NER on them.

    First the support-set dictionary baseline (no model) on every episode: scores are
    per-episode micro P/R/F1, reported as mean ± std over episodes and pooled. Then, with --lm
    (the default), LoRA fine-tuning of SmolLM2-135M-Instruct on the first episode's support
    set and substring-constrained extraction of its query set (a few minutes on 2 cores).
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
    metrics = {**summary.to_dict(), "boundary_errors": boundary, "predicted_spans": predicted_total}
    if lm:
        metrics["lm"] = _lm_part(episodes[0], run.path / "lm", lm_config, lm_epochs, show)
    run.write_metrics(metrics)
    out.print(f"run folder: {run.path}")


def _lm_part(episode, folder: Path, config_path: Path | None, epochs: int | None, show: int) -> dict:
    """LoRA SFT on the episode's support set, then constrained extraction of its query set."""
    from fewner.data.io import read_corpus
    from fewner.eval.metrics import score as score_spans
    from fewner.eval.report import scores_renderable
    from fewner.train.config import load_config
    from fewner.train.stages import run_training

    folder.mkdir(parents=True, exist_ok=True)
    write_corpus(list(episode.support), folder / "support.txt", "tags")
    write_corpus(list(episode.query), folder / "query.txt", "tags")
    types = list(episode.types)
    overrides = [
        f"data_root={folder.resolve()}",
        f"stages.target.data.types={types!r}",
        f"test.data.types={types!r}",
    ]
    if epochs is not None:
        overrides.append(f"stages.target.epochs={epochs}")
    config = load_config(config_path or _default_lm_config(), overrides)
    err.print(
        f"LM part: LoRA on {len(episode.support)} support sentences x {len(types)} types, "
        f"then {len(episode.query)} query sentences (run folder {folder})"
    )
    metrics = run_training(config, folder / "run", progress=True, log=lambda m: err.print(m))
    predicted = read_corpus(folder / "run" / "test" / "predictions.jsonl", format="jsonl").sentences
    _print_examples(episode.query[:show], predicted[:show], title="LoRA-tuned SmolLM2 on the query set")
    scores = score_spans(episode.query, predicted, pair="order")
    out.print(scores_renderable(scores, per_type=True, title="LoRA-tuned SmolLM2, query set of episode 0"))
    return {"test": metrics.get("test"), "types": types}


def _default_lm_config() -> Path:
    """configs/demo.yaml of the checkout (the demo runs from a source tree via ./dev)."""
    here = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"
    if not here.is_file():
        from fewner.errors import ConfigError

        raise ConfigError(f"{here} not found: pass --lm-config FILE or --no-lm")
    return here


def _print_examples(gold, predicted, title: str = "dictionary baseline") -> None:
    table = Table(title=f"{title}: first query sentences, entities with character offsets", title_justify="left")
    table.add_column("sentence", overflow="fold", ratio=3)
    table.add_column("predicted", overflow="fold", ratio=2)
    table.add_column("gold", overflow="fold", ratio=2)
    for g, p in zip(gold, predicted, strict=True):
        table.add_row(g.text, _spans(p), _spans(g))
    out.print(table)


def _spans(sentence) -> str:
    return "\n".join(f"[{s.start}:{s.end}] {sentence.mention(s)} ({s.label})" for s in sentence.spans) or "-"
