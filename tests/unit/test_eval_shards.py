"""fewner.eval.shards: summed counts of shards rescore exactly to the scores of the whole."""

from __future__ import annotations

import random

import pytest

from fewner.eval.metrics import PRF, score
from fewner.eval.shards import add_up, group, pooled_rate, rescore, true_positives
from fewner.types import Sentence, Span

LABELS = ("PER", "LOC", "ORG")


def _row(tp: int, predicted: int, gold: int, **extra) -> dict:
    prf = PRF(tp, predicted - tp, gold - tp)
    return {
        "precision": prf.precision, "recall": prf.recall, "f1": prf.f1,
        "predicted": predicted, "gold": gold, **extra,
    }  # fmt: skip


def test_true_positives_are_recovered_exactly_from_precision_and_predicted() -> None:
    for predicted in range(0, 120):
        for tp in range(predicted + 1):
            assert true_positives(_row(tp, predicted, predicted)) == tp
    for tp, predicted in ((99_999, 100_003), (1, 1_000_000), (123_457, 987_654)):
        assert true_positives(_row(tp, predicted, predicted)) == tp


def test_rescore_gives_the_prf_of_the_counts_to_the_last_bit() -> None:
    row = {"run": "x", "precision": 0.0, "recall": 0.0, "f1": 0.0, "predicted": 16, "gold": 12}
    got = rescore(row, 7)
    want = PRF(7, 9, 5)
    assert (got["precision"], got["recall"], got["f1"]) == (want.precision, want.recall, want.f1)
    assert got["run"] == "x" and row["precision"] == 0.0  # a copy; the input is left alone
    assert rescore({"predicted": 0, "gold": 0}, 0) == {
        "predicted": 0, "gold": 0, "precision": 0.0, "recall": 0.0, "f1": 0.0,
    }  # fmt: skip
    with pytest.raises(ValueError, match="do not fit"):
        rescore(row, 13)


def test_add_up_sums_counts_per_key_and_rescores_from_summed_true_positives() -> None:
    rows = [
        _row(3, 10, 6, dataset="a", run="r1", sentences=100, note="first"),
        _row(1, 2, 4, dataset="b", run="r1", sentences=7, note="other key"),
        _row(5, 6, 10, dataset="a", run="r1", sentences=50, note="second"),
    ]
    merged = add_up(rows, ("dataset", "run"), ["predicted", "gold", "sentences"])
    assert [(r["dataset"], r["note"]) for r in merged] == [("a", "first"), ("b", "other key")]
    a = merged[0]
    assert (a["predicted"], a["gold"], a["sentences"]) == (16, 16, 150)
    want = PRF(8, 8, 8)
    assert (a["precision"], a["recall"], a["f1"]) == (want.precision, want.recall, want.f1)
    assert merged[1] == rows[1]  # a key of one row comes back unchanged


def test_add_up_keeps_none_counts_and_applies_combine_functions() -> None:
    rows = [
        {"model": "m", "seconds": 2.0, "misses": None, "calls": [1, 2]},
        {"model": "m", "seconds": 3.5, "misses": 4, "calls": [3]},
    ]
    calls = {"calls": lambda g: sum(sum(r["calls"]) for r in g)}
    (row,) = add_up(rows, ("model",), ["seconds", "misses"], combine=calls)
    assert row == {"model": "m", "seconds": 5.5, "misses": None, "calls": 6}


def test_add_up_refuses_to_rescore_without_summing_the_counts() -> None:
    with pytest.raises(ValueError, match="sum_fields"):
        add_up([_row(1, 2, 3, k=1)], ("k",), ["predicted"])
    renamed = [{**_row(1, 2, 3, k=1), "support": 3}, {**_row(2, 2, 5, k=1), "support": 5}]
    (row,) = add_up(renamed, ("k",), ["predicted", "support"], gold="support")
    assert (row["precision"], row["recall"]) == (PRF(3, 1, 5).precision, PRF(3, 1, 5).recall)


def test_pooled_rate_is_total_count_over_total_time() -> None:
    rows = [{"n": 100, "rate": 0.5}, {"n": 50, "rate": 0.25}, {"n": 0, "rate": None}]
    assert pooled_rate(rows, "n", "rate") == pytest.approx(150 / 400)
    assert pooled_rate([{"n": 3, "rate": 0}], "n", "rate") is None
    assert pooled_rate([{"n": 0, "rate": 1.0}], "n", "rate") is None


def test_group_keeps_first_seen_order_and_copies_rows() -> None:
    rows = [{"k": 2, "v": 1}, {"k": 1, "v": 2}, {"k": 2, "v": 3}]
    groups = group(rows, ("k",))
    assert list(groups) == [(2,), (1,)] and [r["v"] for r in groups[(2,)]] == [1, 3]
    groups[(1,)][0]["v"] = 99
    assert rows[1]["v"] == 2


def _random_spans(rng: random.Random, sentence: Sentence, k: int) -> list[Span]:
    picks = rng.sample(sentence.tokens, min(k, len(sentence.tokens)))
    return [Span(t.start, t.end, rng.choice(LABELS)) for t in picks]


def _random_corpus(n: int, seed: int) -> tuple[list[Sentence], list[Sentence]]:
    rng = random.Random(seed)
    gold, pred = [], []
    for i in range(n):
        words = [f"w{rng.randrange(50)}" for _ in range(rng.randrange(3, 12))]
        sentence = Sentence.from_words(words, id=f"s{i}")
        g = _random_spans(rng, sentence, rng.randrange(4))
        kept = [s for s in g if rng.random() < 0.6]  # the rest: missed
        p = kept + _random_spans(rng, sentence, rng.randrange(3))  # right, retyped or spurious
        gold.append(sentence.with_spans(g))
        pred.append(sentence.with_spans(set(p)))
    return gold, pred


def _summary_row(gold: list[Sentence], pred: list[Sentence], shard: str) -> dict:
    micro = score(gold, pred).micro
    return {
        "run": "r", "shard": shard, "precision": micro.precision, "recall": micro.recall,
        "f1": micro.f1, "predicted": micro.predicted, "gold": micro.support,
        "sentences": len(gold),
    }  # fmt: skip


@pytest.mark.parametrize("seed", range(5))
def test_merging_shards_equals_scoring_the_concatenation(seed: int) -> None:
    gold, pred = _random_corpus(60, seed)
    cut = 17 + seed * 7
    shards = [
        _summary_row(gold[:cut], pred[:cut], "first"),
        _summary_row(gold[cut:], pred[cut:], "second"),
    ]
    (merged,) = add_up(shards, ("run",), ["predicted", "gold", "sentences"])
    whole = _summary_row(gold, pred, "first")
    assert merged == whole  # every float to the last bit, not approximately
