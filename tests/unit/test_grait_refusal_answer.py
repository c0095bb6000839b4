"""The refusal answer: templates, parser, constraint, extractor (abstentions are never "none")."""

from __future__ import annotations

import json
import re

import pytest

from fewner.backends.scripted import ScriptedBackend
from fewner.decoding import OBP_GRAMMAR, AnswerGrammar
from fewner.decoding.constraint import Constraint
from fewner.predict.extractor import Extractor
from fewner.prompts import ExtractionFormat, load_template
from fewner.types import Sentence

SENTENCE = Sentence.from_words(["Peter", "lives", "in", "Paris"], [(0, 1, "PER")], id="s0")


@pytest.mark.parametrize("template", ["obp-llm", "cllmfs"])
def test_refusal_round_trip(template: str) -> None:
    fmt = ExtractionFormat(template, "conll2003")
    refusal = fmt.refusal_target()
    assert refusal and refusal != fmt.grammar.none
    parsed = fmt.parse(refusal, SENTENCE, "PER")
    assert parsed.is_refusal and not parsed.is_none and parsed.spans == ()
    assert parsed.stats["refused"] == 1 and parsed.stats["unparseable"] == 0
    none = fmt.parse(fmt.target(SENTENCE, "LOC"), SENTENCE, "LOC")
    assert none.is_none and not none.is_refusal
    gold = fmt.parse(fmt.target(SENTENCE, "PER"), SENTENCE, "PER")
    assert not gold.is_refusal and [SENTENCE.mention(s) for s in gold.spans] == ["Peter"]
    cut = fmt.parse(refusal[: len(refusal) // 2], SENTENCE, "PER")
    assert not cut.is_refusal and cut.stats["truncated"] == 1


def test_obp_template_keeps_the_published_grammar() -> None:
    assert load_template("obp-llm-v1").grammar == OBP_GRAMMAR
    assert OBP_GRAMMAR.refusal == "I am not sure about the entities of this type in the sentence."


def test_refusal_must_be_distinct() -> None:
    with pytest.raises(ValueError, match="differ"):
        AnswerGrammar(refusal=OBP_GRAMMAR.none)
    with pytest.raises(ValueError, match="marker"):
        AnswerGrammar(refusal="not sure <<< x")
    assert AnswerGrammar(refusal=None).refusal is None


def test_constraint_offers_the_refusal_only_when_asked() -> None:
    refusal = OBP_GRAMMAR.refusal
    plain = Constraint.for_sentence(SENTENCE, OBP_GRAMMAR)
    allowed = Constraint.for_sentence(SENTENCE, OBP_GRAMMAR, refusal=True)
    assert not plain.accepts(refusal) and allowed.accepts(refusal)
    assert allowed.accepts(OBP_GRAMMAR.none) and allowed.accepts(OBP_GRAMMAR.render(["Paris"]))
    assert allowed.is_prefix(refusal[:10]) and not plain.is_prefix(refusal[:10])
    assert not allowed.accepts(refusal[:-1])
    # a refusal written anyway is kept, never rewritten into the none answer
    assert plain.enforce(refusal) == (refusal, {})
    assert re.fullmatch(allowed.regex(), refusal) and not re.fullmatch(plain.regex(), refusal)
    assert refusal in allowed.gbnf() and refusal not in plain.gbnf()


def test_extractor_keeps_abstentions_apart() -> None:
    fmt = ExtractionFormat("obp-llm", "conll2003")
    sentences = [SENTENCE, Sentence.from_words(["Rome", "wins"], [(0, 1, "LOC")], id="s1")]

    def answer(prompt: str) -> str:
        if "Peter" in prompt and "type PER" in prompt:
            return fmt.template.render_target(["Peter"])
        if "Rome" in prompt and "type LOC" in prompt:
            return fmt.refusal_target()
        return fmt.grammar.none

    extractor = Extractor(ScriptedBackend(answer), fmt, abstain=True)
    result = extractor.extract(sentences, ["PER", "LOC"])
    assert result.abstained == {"s1": ["LOC"]}
    assert result.abstained_types("s0") == [] and result.abstained_types("s1") == ["LOC"]
    assert [s.label for s in result.predictions[0].spans] == ["PER"]
    assert result.predictions[1].spans == ()
    assert result.stats["refused"] == 1 and result.stats["none"] == 2
    refused = [r for r in result.answers if r.get("refused")]
    assert [(r["sentence_id"], r["type"]) for r in refused] == [("s1", "LOC")]
    assert extractor.settings()["abstain"] is True
    # without abstain the constraint does not offer it, but a written refusal still counts
    plain = Extractor(ScriptedBackend(answer), fmt).extract(sentences, ["PER", "LOC"])
    assert plain.abstained == {"s1": ["LOC"]}


def test_predict_cli_writes_abstained_types(tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from fewner.cli import cli

    data = tmp_path / "in.conll"
    data.write_text("Rome B-LOC\nwins O\n\nPeter B-PER\n", encoding="utf-8")
    fmt = ExtractionFormat("obp-llm", "conll2003")
    import fewner.backends.factory as factory

    real = factory.make_backend

    def answer(prompt: str) -> str:
        return fmt.refusal_target() if "Rome" in prompt else fmt.grammar.none

    monkeypatch.setattr(
        factory,
        "make_backend",
        lambda kind, model, cache=None, **opt: real("scripted", "cli", cache=None, answers=answer),
    )
    out = tmp_path / "pred.jsonl"
    result = CliRunner().invoke(
        cli,
        [
            "predict",
            str(data),
            "-o",
            str(out),
            "--model",
            "x",
            "--types",
            "LOC,PER",
            "--definitions",
            "conll2003",
            "--abstain",
            "--no-cache",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["abstained_types"] == ["LOC", "PER"] and rows[1]["abstained_types"] == []
