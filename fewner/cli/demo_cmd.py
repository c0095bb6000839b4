"""``fewner demo``: the main job on bundled data, end to end in a few minutes.

It reads the bundled Few-NERD sample (800 sentences, 17 types, CC BY-SA 4.0), samples N-way
K~2K-shot episodes, labels each query set with the support-set dictionary baseline and scores
every episode (mean ± std over episodes, the Few-NERD protocol). Then (unless ``--no-lm``) the
few-shot pipeline proper runs on the first episode: LoRA SFT of SmolLM2 on its support set,
starting from the shipped source-stage adapter (``fewner.fit`` with the packaged ``demo`` recipe), saved as a
model folder (``runs/demo/lm/model``, loads with ``fewner.load``), and constrained extraction of
its query set by the reloaded model, printed with character offsets and scored.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click
from rich.table import Table

from fewner.cli.common import err, out, progress, report_read
from fewner.cli.options import threads_option
from fewner.data.episodes import EpisodeSampler, sample_episodes
from fewner.data.io import read_corpus, write_corpus, write_episodes
from fewner.eval.metrics import aggregate_episodes, score
from fewner.eval.report import episodes_table
from fewner.predictors.dictionary import DictionaryPredictor
from fewner.runs import RunDir

DEMO_FILE = "fewnerd_inter_test_sample.txt"


def demo_data_path() -> Path:
    """Location of the bundled sample inside the installed package."""
    return Path(str(resources.files("fewner") / "resources" / "demo" / DEMO_FILE))


@click.command()
@threads_option()
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
    help="YAML keys over the packaged demo recipe for the LM part (like configs/demo.yaml).",
)
@click.option("--lm-epochs", type=click.IntRange(min=1), default=None, help="Override the LM part's epochs.")
@click.option(
    "--span/--no-span",
    default=True,
    show_default=True,
    help="Also run fewner's span model: zero-shot on every episode, adapted to episode 0's support set.",
)
def demo(
    n_way: int, k_shot: int, n_query: int, n_episodes: int, seed: int, out_dir: Path, show: int,
    lm: bool, lm_config: Path | None, lm_epochs: int | None, span: bool,
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
            matcher = DictionaryPredictor(episode.support, episode.types)
            predicted = matcher.predict_sentences(episode.query).sentences
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
    if span:
        metrics["span"] = _span_part(episodes, run.path / "span", show)
    if lm:
        metrics["lm"] = _lm_part(episodes[0], run.path / "lm", lm_config, lm_epochs, show)
    run.write_metrics(metrics)
    out.print(f"run folder: {run.path}")


def _span_part(episodes, folder: Path, show: int) -> dict:
    """The shipped span model on every episode's query set, labels read by their names
    (zero-shot), then adapted to episode 0's support set with ``fewner.fit(recipe="span")`` and
    saved: seconds on a CPU, and the model a user would deploy."""
    import fewner

    zero = fewner.load("fewner-span-minilm")
    scores = [score(e.query, zero.predict_sentences(e.query, list(e.types)).sentences, pair="order")
              for e in episodes]
    summary = aggregate_episodes(scores)
    out.print(episodes_table(summary, title="span model, zero-shot (labels by name)"))
    first = episodes[0]
    err.print(f"span model: adapting to {len(first.support)} support sentences of episode 0 ...")
    adapted = fewner.fit(list(first.support), list(first.types), recipe="span", progress=False)
    adapted.save(folder / "model")
    predicted = adapted.predict_sentences(first.query, list(first.types)).sentences
    before, after = scores[0], score(first.query, predicted, pair="order")
    _print_examples(first.query[:show], predicted[:show], title="span model adapted to episode 0")
    out.print(
        f"span model on episode 0: F1 {before.micro.f1:.1%} zero-shot -> {after.micro.f1:.1%} after "
        f"adapting to its {len(first.support)} support sentences; saved to {folder / 'model'} "
        f"(fewner.load or fewner serve it)"
    )
    return {"zero_shot": summary.to_dict(), "episode0_zero_shot_f1": before.micro.f1,
            "episode0_adapted_f1": after.micro.f1, "model": str(folder / "model")}


def _lm_part(episode, folder: Path, config_path: Path | None, epochs: int | None, show: int) -> dict:
    """``fewner.fit`` on the episode's support set (the packaged ``demo`` recipe, or
    ``--lm-config``'s keys over it), saved as a model folder, then reloaded and run on the query
    set: what a user does with their own five examples."""
    import fewner
    from fewner.config_schema import read_yaml_mapping
    from fewner.eval.report import scores_renderable
    from fewner.predictors.files import predict_file

    types = list(episode.types)
    overrides = read_yaml_mapping(config_path)
    recipe = overrides.pop("recipe", "demo")
    if epochs is not None:
        overrides.setdefault("stages", {}).setdefault("target", {})["epochs"] = epochs
    err.print(
        f"LM part: LoRA on {len(episode.support)} support sentences x {len(types)} types, "
        f"then {len(episode.query)} query sentences (folder {folder})"
    )
    ner = fewner.fit(
        list(episode.support), types, recipe=recipe, out=folder, overrides=overrides,
        log=lambda m: err.print(m),
    )
    model = folder / "model"
    with fewner.load(model) as reloaded:  # the saved folder is all a user needs later
        metrics, scores = predict_file(
            reloaded, list(episode.query), folder / "query.jsonl", labels=types,
            gold=list(episode.query), config={"command": "demo", "model": str(model)},
            log=lambda m: err.print(m),
        )
    predicted = read_corpus(folder / "query.jsonl", format="jsonl").sentences
    _print_examples(episode.query[:show], predicted[:show], title="LoRA-tuned SmolLM2 on the query set")
    out.print(scores_renderable(scores, per_type=True, title="LoRA-tuned SmolLM2, query set of episode 0"))
    out.print(
        f"saved model: {model} (fewner.load({str(model)!r}).predict(text, labels={types[:2]!r}) "
        f"or fewner predict --model {model} FILE -o OUT.jsonl)"
    )
    return {
        "test": metrics["scores"]["micro"],
        "types": types,
        "model": str(model),
        "labels": ner.labels,
        "seconds_per_sentence": round(metrics["seconds"] / max(1, len(episode.query)), 3),
    }


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
