"""Predictions are written as they are made: a run cut short (a crash, a kill) leaves the
predictions made so far in ``OUT.partial.jsonl`` (whole lines, the same records the finished
``OUT.jsonl`` has), and never a half-written ``OUT.jsonl``; a finished run removes the partial
file. Kills with resume are in :mod:`tests.faults.test_llm_jobs`."""

from __future__ import annotations

from pathlib import Path

import pytest

from fewner.predictors.dictionary import DictionaryPredictor
from fewner.predictors.files import partial_path, predict_file
from tests.unit.distill_tiny import tiny_sentences


class Crash(Exception):
    pass


def _predictor() -> DictionaryPredictor:
    predictor = DictionaryPredictor(tiny_sentences(), ["PER", "LOC", "ORG"])
    predictor.batch_sentences = 2
    return predictor


def test_a_run_cut_short_leaves_the_predictions_made_so_far(tmp_path: Path) -> None:
    sentences = tiny_sentences()
    whole = tmp_path / "whole.jsonl"
    predict_file(_predictor(), sentences, whole, progress=False)
    assert not partial_path(whole).exists()
    expected = whole.read_text(encoding="utf-8").splitlines(keepends=True)

    predictor = _predictor()
    real = predictor.iter_predict

    def crashing(*args, **kwargs):
        for number, part in enumerate(real(*args, **kwargs)):
            if number == 2:
                raise Crash
            yield part

    predictor.iter_predict = crashing  # type: ignore[method-assign]
    out = tmp_path / "cut.jsonl"
    with pytest.raises(Crash):
        predict_file(predictor, sentences, out, progress=False)
    assert not out.exists()
    partial = partial_path(out).read_text(encoding="utf-8")
    assert partial.splitlines(keepends=True) == expected[:4]  # two batches of two sentences


def test_an_old_output_stays_whole_until_the_new_one_is_complete(tmp_path: Path) -> None:
    out = tmp_path / "preds.jsonl"
    out.write_text('{"old": true}\n', encoding="utf-8")
    predictor = _predictor()
    real = predictor.iter_predict

    def crashing(*args, **kwargs):
        yield from real(*args, **kwargs)
        raise Crash  # after every prediction, before OUT.jsonl is written

    predictor.iter_predict = crashing  # type: ignore[method-assign]
    with pytest.raises(Crash):
        predict_file(predictor, tiny_sentences(), out, progress=False)
    assert out.read_text(encoding="utf-8") == '{"old": true}\n'
    assert len(partial_path(out).read_text(encoding="utf-8").splitlines()) == 5
