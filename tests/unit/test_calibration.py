"""none_bias on a real (tiny, random) model: it moves the "none" decision at the first answer
token only, it is saved with the model, and calibrate_none_bias picks it by support-set F1."""

from __future__ import annotations

from pathlib import Path

import pytest

from fewner.predict.calibration import DEFAULT_GRID, calibrate_none_bias
from fewner.predictors import load_folder
from fewner.predictors.extractor import ExtractorPredictor
from fewner.types import Sentence
from tests.tiny_models import tiny_causal_lm

LABELS = ["PER", "LOC"]
NONE = "There are no entities of this type in the sentence."


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("calibration") / "lm")


def _predictor(model: Path, **options) -> ExtractorPredictor:
    return ExtractorPredictor(
        str(model), LABELS, definitions="conll2003", max_new_tokens=48, batch_size=4,
        backend_options={"device": "cpu"}, **options,
    )


def _support() -> list[Sentence]:
    return [
        Sentence.from_words("Peter met Anna in Paris .".split(), [(0, 1, "PER"), (2, 3, "PER"), (4, 5, "LOC")], id="s0"),
        Sentence.from_words("Rain fell on Berlin .".split(), [(3, 4, "LOC")], id="s1"),
        Sentence.from_words("nothing happened here .".split(), [], id="s2"),
    ]


def _answers(predictor: ExtractorPredictor) -> list[str]:
    return [r["answer"] for r in predictor.predict_sentences(_support()).records]


def test_a_large_bias_decides_none_either_way(model: Path) -> None:
    predictor = _predictor(model)
    predictor.none_bias = 1e4
    assert all(a == NONE for a in _answers(predictor))
    predictor.none_bias = -1e4  # "none" is never the first token: every answer lists mentions
    answers = _answers(predictor)
    assert all(a != NONE and a.startswith("The entities") for a in answers), answers
    predictor.none_bias = 0.0
    assert predictor.settings()["none_bias"] == 0.0


def test_none_bias_is_saved_and_can_be_overridden_on_load(model: Path, tmp_path: Path) -> None:
    predictor = _predictor(model, none_bias=-2.5)
    predictor.save(tmp_path / "saved")
    assert load_folder(tmp_path / "saved").none_bias == -2.5
    assert load_folder(tmp_path / "saved", none_bias=1.0).none_bias == 1.0


def test_calibration_keeps_the_best_f1_and_reports_the_grid(model: Path) -> None:
    predictor = _predictor(model)
    support = _support()
    seen: list[tuple[int, int]] = []
    result = calibrate_none_bias(predictor, support, grid=(1e4, -1e4), progress=lambda d, t: seen.append((d, t)))
    assert [r["none_bias"] for r in result.rows] == [1e4, -1e4]
    assert seen == [(1, 2), (2, 2)]
    always_none, never_none = result.rows
    assert always_none["spans"] == 0 and always_none["f1"] == 0.0
    assert never_none["spans"] > 0
    best = max(result.rows, key=lambda r: r["f1"])["none_bias"]
    assert result.none_bias == best == predictor.none_bias  # applied
    assert result.gold_spans == 4 and result.sentences == 3
    assert "<- chosen" in result.table()
    assert result.as_dict()["grid"] == result.rows


def test_calibration_without_apply_restores_the_bias_and_ties_go_to_the_first(model: Path) -> None:
    predictor = _predictor(model, none_bias=0.5)
    result = calibrate_none_bias(predictor, _support(), grid=(1e4, 2e4), apply=False)
    assert result.none_bias == 1e4  # both score 0: the first tried wins
    assert predictor.none_bias == 0.5
    assert DEFAULT_GRID[0] == 0.0  # ties with no bias keep no bias


def test_calibration_refuses_what_it_cannot_use(model: Path) -> None:
    predictor = _predictor(model)
    with pytest.raises(ValueError, match="empty"):
        calibrate_none_bias(predictor, [])
    with pytest.raises(ValueError, match="grid is empty"):
        calibrate_none_bias(predictor, _support(), grid=())
    with pytest.raises(ValueError, match="no mention"):
        calibrate_none_bias(predictor, [_support()[2]])
    with pytest.raises(TypeError, match="none_bias"):
        calibrate_none_bias(object(), _support())


def test_recipe_calibrate_saves_a_model_that_loads_with_its_bias(model: Path, tmp_path: Path) -> None:
    import fewner
    from fewner.errors import ConfigError

    _predictor(model).save(tmp_path / "source")
    predictor = fewner.fit(
        _support(), LABELS, recipe="calibrate", model=tmp_path / "source", grid=[1e4, -1e4],
        out=tmp_path / "run", progress=False, max_new_tokens=48,
    )
    grid = predictor.metrics["calibration"]["grid"]
    assert [r["none_bias"] for r in grid] == [1e4, -1e4]
    assert predictor.none_bias == max(grid, key=lambda r: r["f1"])["none_bias"]
    loaded = fewner.load(tmp_path / "run" / "model")
    assert loaded.none_bias == predictor.none_bias and loaded.labels == LABELS
    assert "<- chosen" in (tmp_path / "run" / "calibration.txt").read_text()
    with pytest.raises(ConfigError, match="no saved model"):
        fewner.fit(_support(), LABELS, recipe="calibrate", model=tmp_path / "missing")


def test_fit_cli_runs_the_calibrate_recipe(model: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from fewner.cli import cli

    _predictor(model).save(tmp_path / "source")
    support = tmp_path / "support.txt"
    support.write_text(
        "Peter B-PER\nmet O\nAnna B-PER\nin O\nParis B-LOC\n. O\n\n"
        "Rain O\nfell O\non O\nBerlin B-LOC\n. O\n\n"
    )
    result = CliRunner().invoke(cli, [
        "fit", str(support), "--recipe", "calibrate", "--model", str(tmp_path / "source"),
        "--set", "grid=[10000, -10000]", "--set", "max_new_tokens=48", "-o", str(tmp_path / "run"),
    ])
    assert result.exit_code == 0, result.output
    assert "<- chosen" in result.output
    assert (tmp_path / "run" / "model" / "fewner.json").is_file()


def test_predict_cli_takes_none_bias(model: Path, tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from fewner.cli import cli

    _predictor(model).save(tmp_path / "m")
    text = tmp_path / "in.txt"
    text.write_text("Peter B-PER\nmet O\nAnna B-PER\nin O\nParis B-LOC\n. O\n\n")
    counts = {}
    for bias in ("10000", "-10000"):
        out = tmp_path / f"out{bias}.jsonl"
        result = CliRunner().invoke(cli, [
            "predict", "--model", str(tmp_path / "m"), str(text), "-o", str(out), "--no-cache",
            "--none-bias", bias, "--max-new-tokens", "48",
        ])
        assert result.exit_code == 0, result.output
        counts[bias] = sum(len(json.loads(line)["entities"]) for line in out.read_text().splitlines())
    assert counts["10000"] == 0 and counts["-10000"] > 0


def test_retype_gives_each_span_the_type_that_scores_it_highest(model: Path) -> None:
    from fewner.errors import BackendError

    predictor = _predictor(model, none_bias=-1e4, retype=True)  # every question answers mentions
    result = predictor.predict_sentences(_support())
    extractor = predictor._extractor
    spans = [(s, sp) for s in result.sentences for sp in s.spans]
    assert spans
    for sentence, span in spans:
        answer = extractor.fmt.template.render_target([sentence.text[span.start : span.end]])
        scores = predictor.backend().logprobs(
            [extractor.prompt(sentence, t) for t in LABELS], [answer] * len(LABELS)
        )
        assert span.label == LABELS[scores.index(max(scores))]
    plain = _predictor(model, none_bias=-1e4).predict_sentences(_support())
    assert {(s.id, sp.start, sp.end) for s in plain.sentences for sp in s.spans} >= {
        (s.id, sp.start, sp.end) for s, sp in spans
    }  # the same places, typed anew
    assert "retyped" in result.stats and predictor.settings()["retype"] is True
    from fewner.backends.base import Backend
    from fewner.backends.scripted import ScriptedBackend

    class Unscored(ScriptedBackend):  # a backend that cannot score completions
        _logprobs = Backend._logprobs

    backend = Unscored(answers=lambda prompt: "The entities I extracted for you are <<< Paris >>>")
    scripted = ExtractorPredictor("rules", LABELS, backend="scripted", definitions="conll2003",
                                  retype=True, backend_object=backend)
    with pytest.raises(BackendError, match="retype scores every span"):
        scripted.predict_sentences(_support())
