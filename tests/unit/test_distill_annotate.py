"""The teacher (fewner.distill.annotate and `fewner annotate`) with canned answers."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from fewner.backends.cache import CachedBackend
from fewner.backends.scripted import ScriptedBackend
from fewner.distill.annotate import (
    AnnotationPrompt,
    Annotator,
    cot_reasoning,
    gold_dictionary,
    pick_demos,
)
from fewner.errors import BackendError, ConfigError
from fewner.prompts.definitions import load_definitions
from tests.unit.distill_tiny import tiny_sentences

TYPES = ("PER", "LOC", "ORG", "MISC")


@pytest.fixture
def defs():
    return load_definitions("conll2003").require(TYPES)


def _answer_from_gold(prompt: str) -> str:
    """A perfect teacher: finds the query sentence in the prompt and answers its gold dict."""
    for s in tiny_sentences():
        if prompt.rstrip().endswith(f"Text: {s.text}\nAnswer:"):
            return " " + json.dumps(gold_dictionary(s, TYPES)) + "\nText: invented"
    raise AssertionError("unexpected prompt")


def test_pick_demos_covers_every_type_first():
    demos = pick_demos(tiny_sentences(), TYPES, 3)
    covered = set().union(*(d.labels for d in demos))
    assert covered == set(TYPES)
    assert all(d.spans for d in demos)
    with pytest.raises(ConfigError):
        pick_demos(tiny_sentences(), TYPES, -1)


def test_pick_demos_prefers_the_sentence_adding_most_types():
    t0, t1, t2, t3, t4 = tiny_sentences()  # t1 and t4 hold PER+LOC+ORG, t0 ORG+MISC
    assert [d.id for d in pick_demos([t2, t3, t0, t1, t4], TYPES, 2)] == ["t1", "t0"]
    assert [d.id for d in pick_demos([t2, t3, t0, t1, t4], TYPES, 4)] == ["t1", "t0", "t2", "t4"]
    assert pick_demos([t3], TYPES, 2) == []  # no entity, no demonstration


def test_prompt_styles(defs):
    demos = tuple(pick_demos(tiny_sentences(), TYPES, 2))
    query = tiny_sentences()[3]
    standard = AnnotationPrompt(TYPES, defs, "standard", demos).render(query)
    cot = AnnotationPrompt(TYPES, defs, "cot", demos).render(query)
    assert standard.endswith(f"Text: {query.text}\nAnswer:")
    assert cot.endswith(f"Text: {query.text}\nReasoning:")
    for d in demos:  # each demonstration's gold dictionary is in both prompts
        assert json.dumps(gold_dictionary(d, TYPES)) in standard
        assert cot_reasoning(d, defs) in cot
    assert "Reasoning:" not in standard
    with pytest.raises(ConfigError):
        AnnotationPrompt(TYPES, defs, "socratic")


def test_cot_reasoning_names_each_mention_and_type(defs):
    s = tiny_sentences()[0]
    text = cot_reasoning(s, defs)
    for span in s.spans:
        assert f'"{s.mention(span)}" is' in text and f"so {span.label}." in text
    assert "no entity" in cot_reasoning(tiny_sentences()[3], defs)


def test_perfect_teacher_reproduces_gold(defs):
    backend = ScriptedBackend(_answer_from_gold)
    annotator = Annotator(backend, AnnotationPrompt(TYPES, defs), batch_size=2, chat=False)
    result = annotator.annotate(tiny_sentences())
    assert [a.sentence.spans for a in result] == [s.spans for s in tiny_sentences()]
    assert {a.status for a in result} == {"ok"}
    assert len(backend.calls) == 3  # 5 sentences in batches of 2


def test_cot_answers_and_statuses(defs):
    s = tiny_sentences()[1]  # Peter Blackburn / Brussels / Reuters
    answers = [
        'The names are "Peter Blackburn" and "Brussels". Answer: {"PER": ["Peter Blackburn"], '
        '"LOC": ["Brussels", "Paris"]}',
        "I do not know.",
        "{'ORG': ['Reuters']} and more",
    ]
    annotator = Annotator(
        ScriptedBackend(answers), AnnotationPrompt(TYPES, defs, "cot"), batch_size=3, chat=False
    )
    partial, unparseable, repaired = annotator.annotate([s, s, s])
    assert partial.status == "partial" and partial.dropped == [("LOC", "Paris", "not_found")]
    assert [s.mention(x) for x in partial.sentence.spans] == ["Peter Blackburn", "Brussels"]
    assert unparseable.status == "unparseable" and unparseable.sentence.spans == ()
    assert repaired.status == "repaired"
    record = partial.record()
    assert record["status"] == "partial" and record["answer"] == answers[0]
    assert record["dropped"] == [{"label": "LOC", "mention": "Paris", "reason": "not_found"}]


def test_cache_resumes_without_repeating_calls(tmp_path, defs):
    """A run that dies half-way resumes from the cache and asks only for what is missing."""
    sentences = tiny_sentences()
    answers = [json.dumps(gold_dictionary(s, TYPES)) for s in sentences]
    dying = ScriptedBackend(answers[:2])  # runs out after two answers: the "crash"
    annotator = Annotator(
        CachedBackend(dying, tmp_path / "c.sqlite"),
        AnnotationPrompt(TYPES, defs),
        batch_size=1,
        chat=False,
    )
    with pytest.raises(BackendError):
        annotator.annotate(sentences)
    fresh = ScriptedBackend(answers[2:])
    cached = CachedBackend(fresh, tmp_path / "c.sqlite", batch_size=1)
    annotator = Annotator(cached, AnnotationPrompt(TYPES, defs), batch_size=1, chat=False)
    result = annotator.annotate(sentences)
    assert cached.hits == 2 and cached.misses == 3
    assert len(fresh.generated_prompts) == 3
    assert [a.sentence.spans for a in result] == [s.spans for s in sentences]


def test_annotate_cli_writes_records_metrics_and_scores(tmp_path, monkeypatch):
    """`fewner annotate` end to end with a scripted teacher standing in for the model."""
    import fewner.backends.factory as factory
    from fewner.cli import cli
    from fewner.data.io import write_corpus

    data = tmp_path / "gold.jsonl"
    write_corpus(tiny_sentences(), data, "jsonl")
    real = factory.make_backend
    wrong_once = {"t4": ' {"PER": ["Nadim Ladki"], "LOC": ["Germany"]}'}  # misses the ORG

    def answer(prompt: str) -> str:
        for s in tiny_sentences():
            if prompt.rstrip().endswith(f"Text: {s.text}\nAnswer:"):
                return wrong_once.get(s.id) or json.dumps(gold_dictionary(s, TYPES))
        raise AssertionError("unexpected prompt")

    monkeypatch.setattr(
        factory,
        "make_backend",
        lambda kind, model, cache=None, **opt: real(
            "scripted", "cli-test", cache=cache, answers=answer
        ),
    )
    out = tmp_path / "ann.jsonl"
    args = [
        "annotate",
        str(data),
        "-o",
        str(out),
        "--gold",
        str(data),
        "--demos-from",
        str(data),
        "--demos",
        "2",
        "--no-chat",
        "--batch-size",
        "2",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["status"] for r in records] == ["ok"] * 5
    metrics = json.loads((tmp_path / "ann.run" / "metrics.json").read_text())
    gold_spans = sum(len(s.spans) for s in tiny_sentences())
    assert metrics["scores"]["micro"]["tp"] == gold_spans - 1  # only the missed ORG
    assert metrics["statuses"] == {"ok": 5}
    config = json.loads((tmp_path / "ann.run" / "config.json").read_text())
    assert config["style"] == "standard" and len(config["demos"]) == 2
    # Rerun: everything comes from the cache.
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    metrics = json.loads((tmp_path / "ann.run" / "metrics.json").read_text())
    assert metrics["cache_misses"] == 0 and metrics["cache_hits"] == 5
