"""``fewner episodes``: sample N-way K~2K-shot episodes, list fixed support sets.

A thin layer over :mod:`fewner.data.episodes` and :mod:`fewner.data.support_sets`: parse options,
show progress on stderr, print a summary on stdout.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import click
from rich.table import Table

from fewner.cli.common import err, out, progress, report_read
from fewner.cli.options import reading_options
from fewner.data.episodes import (
    DEFAULT_MAX_ATTEMPTS,
    OTHER_TYPES,
    EpisodeSampler,
    mention_counts,
    sample_episodes,
)
from fewner.data.io import read_corpus, write_episodes
from fewner.data.support_sets import DATASETS, load_fixed_support_sets
from fewner.types import Episode


@click.group()
def episodes() -> None:
    """Sample N-way K~2K-shot episodes; pair fixed support sets with test sets."""


def _split_types(values: tuple[str, ...]) -> list[str] | None:
    types = [t.strip() for value in values for t in value.split(",") if t.strip()]
    return types or None


@episodes.command("sample")
@reading_options()
@click.argument(
    "input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the episodes (Few-NERD episode JSONL, one episode per line).",
)
@click.option(
    "-n",
    "--n-way",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Entity types per episode (N).",
)
@click.option(
    "-k",
    "--k-shot",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Support mentions per type: each type gets between K and 2K.",
)
@click.option(
    "-q",
    "--n-query",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Query mentions per type (Q): the query set is sampled like the support set, "
    "with Q~2Q mentions of each type, as in the released Few-NERD episodes. 0: no query.",
)
@click.option(
    "-e",
    "--episodes",
    "n_episodes",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Number of episodes.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Random seed; episode i is drawn from seed and i alone, so the same seed gives "
    "the same episodes and a longer run extends a shorter one.",
)
@click.option(
    "-t",
    "--types",
    "type_values",
    multiple=True,
    metavar="TYPE[,TYPE...]",
    help="Draw episode types only from these (repeat or comma-separate). "
    "Default: every type in INPUT.",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_ATTEMPTS,
    show_default=True,
    help="Greedy attempts per episode before giving up (a walk can dead-end when every "
    "remaining sentence would push some type past 2K).",
)
@click.option(
    "--other-types",
    type=click.Choice(OTHER_TYPES),
    default="reject",
    show_default=True,
    help="Sentences that also mention a type outside the episode: reject them (Few-NERD's "
    "sampler; no entity is ever labelled O) or drop those mentions (they become O).",
)
@click.option(
    "--fewnerd-labels",
    is_flag=True,
    help="Rename coarse_fine labels to the official Few-NERD names (person_actor -> "
    "person-actor) while reading, e.g. for big_test.txt. Give --types in the renamed form.",
)
@click.option(
    "--format",
    "input_format",
    default="auto",
    show_default=True,
    help="Format of INPUT (see `fewner data --help`); auto detects it.",
)
def sample(
    input_path: Path,
    output: Path,
    n_way: int,
    k_shot: int,
    n_query: int,
    n_episodes: int,
    seed: int,
    type_values: tuple[str, ...],
    max_attempts: int,
    other_types: str,
    fewnerd_labels: bool,
    input_format: str,
) -> None:
    """Sample N-way K~2K-shot episodes from the sentences of INPUT.

    Implements the greedy sampler of Few-NERD (Ding et al. 2021, Algorithm 1): pick N types, walk
    over the sentences in random order, keep a sentence when it mentions an episode type and no
    type goes above 2K mentions, stop when every type has at least K. The query set is drawn the
    same way (Q~2Q per type) from the remaining sentences. Mentions of other types become O.

    \b
    Example (Few-NERD INTER test, 5-way 1~2-shot):
      fewner episodes sample big_test.txt -n 5 -k 1 -q 1 -e 1000 --seed 0 -o test_5_1.jsonl
    """
    corpus = read_corpus(input_path, format=input_format, normalize_fewnerd=fewnerd_labels)
    report_read(corpus)
    sampler = EpisodeSampler(corpus.sentences)
    with progress() as bar:
        task = bar.add_task("sampling episodes", total=n_episodes)
        result = sample_episodes(
            corpus.sentences, n_way, k_shot, n_query, n_episodes, seed,
            types=_split_types(type_values),
            progress=lambda done, total: bar.update(task, completed=done),
            max_attempts=max_attempts, other_types=other_types, sampler=sampler,  # type: ignore[arg-type]
        )  # fmt: skip
    write_episodes(result, output)
    _print_summary(result, output, k_shot, n_query, sampler)


def _print_summary(
    result: list[Episode], output: Path, k_shot: int, n_query: int, sampler: EpisodeSampler
) -> None:
    type_use = Counter(t for e in result for t in e.types)
    support = [len(e.support) for e in result]
    query = [len(e.query) for e in result]
    out.print(f"wrote {len(result)} episodes to {output}")
    out.print(
        f"support sentences per episode: mean {sum(support) / len(support):.1f}, "
        f"min {min(support)}, max {max(support)} (K~2K = {k_shot}~{2 * k_shot} mentions per type)"
    )
    out.print(
        f"query sentences per episode: mean {sum(query) / len(query):.1f}, "
        f"min {min(query)}, max {max(query)} (Q~2Q = {n_query}~{2 * n_query} mentions per type)"
    )
    out.print("episodes per type: " + ", ".join(f"{t} {c}" for t, c in sorted(type_use.items())))
    stats = sampler.stats
    failures = sum(stats.failures.values())
    line = f"greedy attempts: {stats.attempts} for {stats.episodes} episodes"
    if failures:
        line += " (failed: " + ", ".join(f"{c} x {r}" for r, c in stats.failures.items()) + ")"
    out.print(line)


@episodes.command("fixed")
@reading_options()
@click.option(
    "--dataset",
    type=click.Choice(DATASETS),
    required=True,
    help="Target dataset: conll (CoNLL-2003), wnut (WNUT-17) or gum (GUM).",
)
@click.option(
    "--shots",
    type=click.Choice(["1", "5"]),
    default="5",
    show_default=True,
    help="1-shot or 5-shot support sets.",
)
@click.option(
    "--data-root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    envvar="FEWNER_SHARED_DATA",
    required=True,
    show_envvar=True,
    help="Folder holding domain_transfer_support_sets/ and the test sets "
    "(conll2003/, wnut17/, gum/).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object per set instead of a table."
)
def fixed(dataset: str, shots: str, data_root: Path, as_json: bool) -> None:
    """List the ten fixed support sets of a cross-domain benchmark.

    Each set is one episode: its support is samples-DATASET-Nshot/I.txt and its query is the
    whole target test set (Yang & Katiyar 2020; CONTaiNER). Shows sentences and mentions per type
    of every support set and of the test set.
    """
    loaded = load_fixed_support_sets(data_root, dataset, int(shots))
    for corpus in loaded.corpora:
        report_read(corpus)
    rows = [(e.id, e.support) for e in loaded.episodes]
    rows.append(("test", loaded.episodes[0].query))
    if as_json:
        for name, sentences in rows:
            counts = mention_counts(sentences)
            record = {"set": name, "sentences": len(sentences),
                      "mentions": {t: counts[t] for t in loaded.types}}  # fmt: skip
            click.echo(json.dumps(record, ensure_ascii=False))
        return
    # One column per set, one row per type: fits 80 columns for all three datasets.
    table = Table(
        title=f"{dataset} {shots}-shot fixed support sets",
        caption=f"query of every set: {loaded.files.test.name}",
    )
    table.add_column("", no_wrap=True)
    for index in range(len(loaded.episodes)):
        table.add_column(str(index), justify="right")
    table.add_column("test", justify="right")
    counts = [mention_counts(sentences) for _, sentences in rows]
    table.add_row("sentences", *(str(len(sentences)) for _, sentences in rows), end_section=True)
    for t in loaded.types:
        table.add_row(t, *(str(c[t]) for c in counts))
    out.print(table)
    err.print(f"support files: {loaded.files.supports[0].parent}")
