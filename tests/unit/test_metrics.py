"""Span metrics on hand-made sentences: counts, averages, error kinds, pairing, episodes."""

from __future__ import annotations

import json
import math

import pytest

from fewner.errors import FewnerError
from fewner.eval.metrics import (
    PRF,
    PairingError,
    aggregate_episodes,
    pair_sentences,
    score,
)
from fewner.types import Sentence, Span

WORDS = "Ann Lee met Bob in New York City today".split()


def sent(spans, id: str = "s1", words=WORDS) -> Sentence:
    return Sentence.from_words(words, spans, id=id)


def test_perfect_prediction_scores_one() -> None:
    gold = [sent([(0, 2, "PER"), (3, 4, "PER"), (5, 8, "LOC")])]
    s = score(gold, gold)
    assert (s.micro.precision, s.micro.recall, s.micro.f1) == (1.0, 1.0, 1.0)
    assert s.macro.f1 == s.weighted.f1 == 1.0
    assert s.boundary_errors.count == 0 and s.boundary_errors.predicted == 3


def test_counts_and_averages_by_hand() -> None:
    gold = [sent([(0, 2, "PER"), (3, 4, "PER"), (5, 8, "LOC")])]
    pred = [sent([(0, 2, "PER"), (5, 7, "LOC"), (8, 9, "ORG")])]
    s = score(gold, pred)
    assert (s.micro.tp, s.micro.fp, s.micro.fn) == (1, 2, 2)
    assert s.micro.precision == pytest.approx(1 / 3)
    assert s.micro.recall == pytest.approx(1 / 3)
    assert s.per_type["PER"] == PRF(tp=1, fp=0, fn=1)
    assert s.per_type["PER"].support == 2
    assert s.per_type["ORG"].support == 0
    # macro: mean over PER (f1 2/3), LOC (0) and the predicted-only ORG (0)
    assert s.macro.types == 3
    assert s.macro.f1 == pytest.approx((2 / 3) / 3)
    # weighted by gold support: PER 2, LOC 1, ORG 0
    assert s.weighted.f1 == pytest.approx((2 / 3) * 2 / 3)
    assert s.weighted.precision == pytest.approx(1.0 * 2 / 3)


def test_error_kinds_boundary_type_spurious_missed() -> None:
    gold = [sent([(0, 2, "PER"), (3, 4, "PER"), (5, 8, "LOC")])]
    pred = [
        sent(
            [
                (0, 1, "PER"),  # boundary: overlaps gold PER, other boundaries
                (3, 4, "ORG"),  # type: exact boundaries of gold PER
                (5, 6, "ORG"),  # boundary+type: overlaps gold LOC only
                (8, 9, "MISC"),  # spurious
            ]
        )
    ]
    s = score(gold, pred)
    assert dict(s.error_kinds) == {
        "boundary": 1,
        "type": 1,
        "boundary+type": 1,
        "spurious": 1,
        "missed": 0,
    }
    assert s.boundary_errors.count == 1
    assert s.boundary_errors.rate == pytest.approx(1 / 4)  # share of predicted spans
    assert s.boundary_errors.per_type["PER"].rate == 1.0
    assert s.boundary_errors.per_type["ORG"].rate == 0.0
    assert s.type_errors.count == 1
    assert s.type_errors.per_type["ORG"].rate == pytest.approx(1 / 2)
    assert sum(s.error_kinds[k] for k in ("boundary", "type", "boundary+type", "spurious")) == (
        s.micro.fp
    )


def test_missed_counts_gold_with_no_overlapping_prediction() -> None:
    gold = [sent([(0, 2, "PER"), (5, 8, "LOC")])]
    pred = [sent([(0, 1, "PER")])]
    s = score(gold, pred)
    assert s.error_kinds["missed"] == 1
    assert s.micro.fn == 2


def test_correct_prediction_is_not_a_boundary_error_even_with_nested_gold() -> None:
    gold = [sent([(5, 8, "LOC"), (6, 8, "LOC")])]
    pred = [sent([(6, 8, "LOC")])]
    s = score(gold, pred)
    assert s.micro.tp == 1 and s.boundary_errors.count == 0


def test_character_offsets_not_tokens_decide_matches() -> None:
    gold = Sentence.from_words(WORDS, [(5, 8, "LOC")], id="a")
    off_by_one = gold.with_spans([Span(gold.spans[0].start, gold.spans[0].end - 1, "LOC")])
    s = score([gold], [off_by_one])
    assert s.micro.tp == 0 and s.boundary_errors.count == 1


def test_duplicate_predictions_count_once() -> None:
    gold = sent([(0, 2, "PER")])
    pred = gold.with_spans([Span(0, 7, "PER"), Span(0, 7, "PER")])
    s = score([gold], [pred])
    assert s.micro.tp == 1 and s.micro.fp == 0


def test_empty_everything_scores_zero_not_nan() -> None:
    s = score([sent([])], [sent([])])
    assert (s.micro.f1, s.macro.f1, s.weighted.f1, s.boundary_errors.rate) == (0, 0, 0, 0)
    assert s.per_type == {}


def test_to_dict_is_json_serialisable_and_complete() -> None:
    gold = [sent([(0, 2, "PER"), (5, 8, "LOC")])]
    pred = [sent([(0, 1, "PER")])]
    d = json.loads(json.dumps(score(gold, pred).to_dict()))
    assert set(d) >= {"micro", "macro", "weighted", "per_type", "boundary_errors", "type_errors"}
    assert d["per_type"]["LOC"]["support"] == 1
    assert d["boundary_errors"]["count"] == 1
    assert d["sentences"] == 1


# ----- pairing --------------------------------------------------------------------------------
def test_pairs_by_id_regardless_of_order() -> None:
    a, b = sent([(0, 2, "PER")], id="a"), sent([(3, 4, "PER")], id="b")
    pairs = pair_sentences([a, b], [b, a])
    assert [(g.id, p.id) for g, p in pairs] == [("a", "a"), ("b", "b")]
    assert score([a, b], [b, a]).micro.f1 == 1.0


def test_falls_back_to_order_when_ids_differ_but_texts_match() -> None:
    gold = [sent([(0, 2, "PER")], id="doc1:1"), sent([], id="doc1:2", words=["x"])]
    pred = [sent([(0, 2, "PER")], id="0"), sent([], id="1", words=["x"])]
    assert score(gold, pred).micro.f1 == 1.0
    with pytest.raises(PairingError, match="no prediction"):
        pair_sentences(gold, pred, by="id")


def test_missing_predictions_give_a_clear_error() -> None:
    gold = [sent([], id="a"), sent([], id="b"), sent([], id="c")]
    with pytest.raises(PairingError) as info:
        score(gold, gold[:2])
    message = str(info.value)
    assert "1 gold sentence ids have no prediction (c)" in message
    assert "3 gold vs 2 predicted" in message
    assert isinstance(info.value, FewnerError)


def test_same_id_different_text_is_an_error() -> None:
    gold = [sent([], id="a")]
    pred = [sent([], id="a", words=["other", "text"])]
    with pytest.raises(PairingError, match="texts differ"):
        score(gold, pred)


def test_order_pairing_reports_first_differing_sentence() -> None:
    gold = [sent([], id="a"), sent([], id="b", words=["x"])]
    pred = [sent([], id="a"), sent([], id="b", words=["y"])]
    with pytest.raises(PairingError, match="sentence 2 differs"):
        pair_sentences(gold, pred, by="order")


def test_duplicate_ids_fall_back_to_order() -> None:
    gold = [sent([(0, 2, "PER")], id="x"), sent([], id="x", words=["y"])]
    assert score(gold, list(gold)).micro.f1 == 1.0
    with pytest.raises(PairingError, match="repeat sentence ids"):
        pair_sentences(gold, gold, by="id")


# ----- episodes ---------------------------------------------------------------------------------
def test_aggregate_episodes_mean_std_and_pooled() -> None:
    gold = sent([(0, 2, "PER"), (3, 4, "PER")])
    perfect = score([gold], [gold])  # P = R = F1 = 1, tp 2
    half = score([gold], [sent([(0, 2, "PER"), (5, 8, "LOC")])])  # tp 1 fp 1 fn 1: F1 0.5
    summary = aggregate_episodes([perfect, half])
    assert summary.episodes == 2
    assert summary.f1.mean == pytest.approx(0.75)
    assert summary.f1.std == pytest.approx(0.25)  # population std
    assert aggregate_episodes([perfect, half], ddof=1).f1.std == pytest.approx(math.sqrt(0.125))
    assert summary.pooled == PRF(tp=3, fp=1, fn=1)
    assert summary.pooled.f1 == pytest.approx(0.75)
    d = summary.to_dict()
    assert d["pooled_micro"]["tp"] == 3 and d["f1"]["mean"] == pytest.approx(0.75)


def test_pooled_differs_from_mean_when_episodes_differ_in_size() -> None:
    big_gold = sent([(0, 2, "PER"), (3, 4, "PER"), (5, 8, "LOC")])
    big = score([big_gold], [big_gold])  # 3 of 3
    small = score([sent([(0, 2, "PER")])], [sent([])])  # 0 of 1
    summary = aggregate_episodes([big, small])
    assert summary.f1.mean == pytest.approx(0.5)
    assert summary.pooled.recall == pytest.approx(3 / 4)


def test_aggregate_rejects_empty_and_too_few() -> None:
    with pytest.raises(ValueError):
        aggregate_episodes([])
    one = score([sent([])], [sent([])])
    with pytest.raises(ValueError):
        aggregate_episodes([one], ddof=1)


def test_eval_modules_do_not_import_torch() -> None:
    """`fewner evaluate` must start fast: nothing on its import path may pull in torch."""
    import subprocess
    import sys

    code = (
        "import sys, fewner.eval.metrics, fewner.eval.report, fewner.cli.evaluate_cmd;"
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
