"""The three EL4NER stages with scripted models: votes, validation, failures, prompts, cache."""

from __future__ import annotations

import dataclasses

import pytest

from fewner.backends.cache import CachedBackend
from fewner.errors import ConfigError
from fewner.icl.pipeline import IclPipeline, Member, PipelineSettings
from fewner.icl.prompts import IclPrompter
from fewner.icl.retrieval import make_retriever
from tests.unit.icl_fakes import WordEncoder, query_of, rule_model, sent

TYPES = ("PER", "LOC")
POOL = [
    sent("Alice met Carol", [(0, 1, "PER"), (2, 3, "PER")], id="p0"),
    sent("Rome is far", [(0, 1, "LOC")], id="p1"),
]
Q1 = sent("Alice flew to Paris yesterday", [(0, 1, "PER")], id="q1")
Q2 = sent("Bob stayed home", id="q2")

Q1T, Q2T = Q1.text, Q2.text
SCRIPTS = {
    "A": dict(
        mentions={Q1T: ["Alice", "Paris"], Q2T: ["Bob"]},
        types={"Alice": " PER", "Paris": " LOC", "Bob": " PER", "home": " none"},
        checks={("Alice", "PER"): " yes", ("Paris", "LOC"): " no", ("Bob", "PER"): " yes"},
    ),
    "B": dict(  # cannot answer stage 1 for Q2, nor type Bob, nor check Bob
        mentions={Q1T: ["Alice", "Paris", "yesterday"]},
        types={"Alice": " PER", "Paris": " PER", "home": " LOC"},
        checks={("Alice", "PER"): " yes", ("Paris", "LOC"): " no"},
    ),
    "C": dict(
        mentions={Q1T: ["Alice"], Q2T: ["home"]},
        types={"Alice": " LOC", "Paris": " LOC", "Bob": " PER", "home": " none"},
        checks={("Alice", "PER"): " no", ("Paris", "LOC"): " yes", ("Bob", "PER"): " no"},
    ),
}


def members(weights=None, wrap=lambda b: b):
    weights = weights or {}
    return [Member(n, wrap(rule_model(n, **s)), weights.get(n, 1.0)) for n, s in SCRIPTS.items()]


def pipeline(ms=None, **settings):
    """The pipeline on the three scripted models; unconstrained unless a test says otherwise
    (a scripted backend can only *filter* a constrained answer: see the constrained test)."""
    settings.setdefault("constrained", False)
    settings.setdefault("k", 2)
    retriever = make_retriever("span", encoder=WordEncoder(4096)).fit(POOL)
    return IclPipeline(
        ms or members(), IclPrompter(TYPES), retriever, PipelineSettings(**settings)
    )


def spans(sentence):
    return [(sentence.mention(s), s.label) for s in sentence.spans]


def test_three_stages_vote_type_and_validate():
    pipe = pipeline()
    r1, r2 = list(pipe.run([Q1, Q2]))
    # stage 1: "yesterday" (1 of 3) dropped; Q2: B abstains, so 1 of 2 answering keeps a span
    assert [Q1.text[a:b] for a, b in r1.kept] == ["Alice", "Paris"]
    assert [Q2.text[a:b] for a, b in r2.kept] == ["Bob", "home"]
    assert r2.proposals["B"] is None
    # stage 2: majority types; "home" voted none (2 of 3) is dropped
    assert spans(r1.unvalidated) == [("Alice", "PER"), ("Paris", "LOC")]
    assert spans(r2.unvalidated) == [("Bob", "PER")]
    # stage 3: Paris LOC gets 1 yes of 3 -> dropped; Bob PER 1 yes of 2 answering -> kept
    assert spans(r1.final) == [("Alice", "PER")]
    assert spans(r2.final) == [("Bob", "PER")]
    assert pipe.totals["proposed"] == 5 and pipe.totals["kept"] == 4
    assert pipe.totals["typed_none"] == 1 and pipe.totals["rejected"] == 1
    assert r1.demonstrations == ["p0", "p1"]  # "Alice" matches p0's span


def test_parse_failures_are_counted_per_model_and_stage():
    pipe = pipeline()
    list(pipe.run([Q1, Q2]))
    stats = pipe.model_stats()
    assert stats["B"]["extract_failures"] == 1
    assert stats["B"]["classify_failures"] == 1
    assert stats["B"]["validate_failures"] == 1
    for name in ("A", "C"):
        assert stats[name].get("extract_failures", 0) == 0
        assert stats[name].get("classify_failures", 0) == 0
        assert stats[name].get("validate_failures", 0) == 0
    assert stats["A"]["classify_answers"] == 4 and stats["A"]["validate_answers"] == 3
    assert all(row["seconds"] >= 0 for row in stats.values())


def test_span_threshold():
    r1, _ = list(pipeline(span_threshold=0.3).run([Q1, Q2]))
    assert [Q1.text[a:b] for a, b in r1.kept] == ["Alice", "Paris", "yesterday"]
    r1, _ = list(pipeline(span_threshold=1.0).run([Q1, Q2]))
    assert [Q1.text[a:b] for a, b in r1.kept] == ["Alice"]


def test_constrained_answers_are_never_format_failures():
    """Under the constraint an off-format answer is impossible (llama.cpp: grammar); the
    scripted backend filters B's " I think" to the none answer, a vote against every span."""
    pipe = pipeline(constrained=True)
    r1, r2 = list(pipe.run([Q1, Q2]))
    assert r2.proposals["B"] == []
    assert pipe.model_stats()["B"].get("extract_failures", 0) == 0
    assert [Q2.text[a:b] for a, b in r2.kept] == []  # 1 of 3 each: dropped
    assert spans(r1.final) == [("Alice", "PER")]


def test_constrained_typing_turns_unlisted_type_words_into_failures_not_guesses():
    """With classify_constrained every model gets a ChoiceConstraint over the types + none; a
    grammar backend could not write " company", the scripted one filters it to nothing."""
    scripts = {n: {**s, "types": dict(s["types"])} for n, s in SCRIPTS.items()}
    scripts["C"]["types"]["Alice"] = " company"
    ms = [Member(n, rule_model(n, **s), 1.0) for n, s in scripts.items()]
    seen: dict[str, list] = {m.name: [] for m in ms}
    for m in ms:
        inner = m.backend.generate

        def recording(prompts, params, constraints=None, inner=inner, log=seen[m.name]):
            log.append(constraints)
            return inner(prompts, params, constraints)

        m.backend.generate = recording
    pipe = pipeline(ms, classify_constrained=True, validate=False)
    (r1,) = list(pipe.run([Q1]))
    assert spans(r1.final) == [("Alice", "PER"), ("Paris", "LOC")]
    assert pipe.model_stats()["C"]["classify_failures"] == 1
    for calls in seen.values():
        extract, classify = calls  # stage 1 free (constrained=False), stage 2 one per span
        assert extract is None and len(classify) == 2
        assert all(c.choices == ("PER", "LOC", "none") for c in classify)


def test_constrained_typing_with_validation_gives_stage_3_a_yes_no_choice():
    """Issue 16: with classify_constrained and self-validation on, stage 3 used to be decoded
    under the stage-2 type-name constraint, so every yes/no answer was filtered away, every
    span was "undecided" and kept: the unvalidated predictions reported as validated."""
    ms = members()
    seen: dict[str, list] = {m.name: [] for m in ms}
    for m in ms:
        inner = m.backend.generate

        def recording(prompts, params, constraints=None, inner=inner, log=seen[m.name]):
            log.append(constraints)
            return inner(prompts, params, constraints)

        m.backend.generate = recording
    pipe = pipeline(ms, classify_constrained=True)
    r1, r2 = list(pipe.run([Q1, Q2]))
    # the same decisions as the unconstrained run (test_three_stages_vote_type_and_validate)
    assert spans(r1.unvalidated) == [("Alice", "PER"), ("Paris", "LOC")]
    assert spans(r1.final) == [("Alice", "PER")]
    assert spans(r2.final) == [("Bob", "PER")]
    assert pipe.totals["rejected"] == 1 and pipe.totals["validated"] == 2
    assert pipe.totals["undecided"] == 0
    stats = pipe.model_stats()
    assert stats["A"]["validate_failures"] == 0 and stats["C"]["validate_failures"] == 0
    assert stats["A"]["validate_yes"] == 2 and stats["A"]["validate_no"] == 1
    assert stats["B"]["validate_failures"] == 1  # its " maybe" is no choice either
    for calls in seen.values():
        # per sentence: stage 1 (free), stage 2 (one per kept span), stage 3 (one per typed span)
        assert [None if c is None else len(c) for c in calls] == [None, 2, 2, None, 2, 1]
        classify = calls[1] + calls[4]
        validate = calls[2] + calls[5]
        assert all(c.choices == ("PER", "LOC", "none") for c in classify)
        assert all(c.choices == ("yes", "no") for c in validate)


def test_weighted_type_vote_follows_weights():
    ms = members(weights={"C": 5.0})
    (r1,) = list(pipeline(ms, type_voter="weighted", validate=False).run([Q1]))
    assert spans(r1.final) == [("Alice", "LOC"), ("Paris", "LOC")]


def test_without_validation_no_check_prompts_and_final_equals_unvalidated():
    ms = members()
    results = list(pipeline(ms, validate=False).run([Q1, Q2]))
    assert all(r.final == r.unvalidated for r in results)
    prompts = [p for m in ms for p in m.backend.generated_prompts]
    assert not any(p.endswith("?") for p in prompts)


def test_prompts_share_the_context_and_put_the_best_demonstration_last():
    ms = members()
    list(pipeline(ms).run([Q1]))
    prompts = ms[0].backend.generated_prompts
    assert {query_of(p) for p in prompts} == {Q1.text}
    context = prompts[0][: -len("Entities:")]
    checks = [p for p in prompts if p.endswith("?")]
    assert checks and all(p.startswith(context) for p in prompts if p not in checks)
    assert context.index("Sentence: Rome is far") < context.index("Sentence: Alice met Carol")
    assert "Alice is a: PER\nCarol is a: PER\n" in context and "Is " not in context
    # stage 3: its own context over the same demonstrations, checks right after each sentence
    check_context = checks[0][: checks[0].rindex("Is ")]
    assert all(p.startswith(check_context) for p in checks)
    assert check_context.index("Sentence: Rome") < check_context.index("Sentence: Alice met")
    # nearest block: a word outside the entities, then yes / no alternating from a yes
    assert (
        'Sentence: Alice met Carol\nIs "met" a PER? no\nIs "Alice" a PER? yes\nIs "Carol" a LOC? no\n'
        in check_context
    )
    assert 'Sentence: Rome is far\nIs "far" a LOC? no\nIs "Rome" a PER? no\n' in check_context


def test_shared_pool_puts_the_whole_pool_first_then_the_retrieved_demonstrations():
    ms = members()
    shared_run = pipeline(ms, k=1, shared_pool=True)
    results = list(shared_run.run([Q1, Q2]))
    prompts = [p for p in ms[0].backend.generated_prompts if p.endswith("Entities:")]
    prompter = IclPrompter(TYPES)
    prefix = prompter.header() + "".join(prompter.demonstration(p) for p in POOL)
    assert len(prompts) == 2 and all(p.startswith(prefix) for p in prompts)
    for prompt, result in zip(prompts, results, strict=True):
        best = next(p for p in POOL if p.id == result.demonstrations[0])
        tail = prompt[len(prefix):]
        assert tail == prompter.demonstration(best) + f"Sentence: {result.sentence.text}\nEntities:"
    # the answers are the scripted ones either way: only the prompt layout changed
    plain = [r.final for r in pipeline(members(), k=1).run([Q1, Q2])]
    assert [spans(r.final) for r in results] == [spans(f) for f in plain]


def test_shared_pool_and_the_fixed_method_are_not_combined():
    from fewner.icl.config import load_icl_config

    with pytest.raises(ConfigError, match="fixed method already shows the pool"):
        load_icl_config({"models": ["m"], "retrieval": {"method": "fixed", "shared_pool": True}})


def test_a_cached_rerun_makes_no_model_calls(tmp_path):
    path = tmp_path / "cache.sqlite"
    first = list(pipeline(members(wrap=lambda b: CachedBackend(b, path))).run([Q1, Q2]))
    again = members(wrap=lambda b: CachedBackend(b, path))
    second = list(pipeline(again).run([Q1, Q2]))
    assert [r.final for r in second] == [r.final for r in first]
    assert all(m.backend.misses == 0 and m.backend.hits > 0 for m in again)
    assert all(m.backend.inner.calls == [] for m in again)


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="span_threshold"):
        pipeline(span_threshold=0)
    with pytest.raises(ConfigError, match="unknown voter"):
        pipeline(type_voter="borda")
    with pytest.raises(ConfigError, match="unique"):
        pipeline([*members(), members()[0]])
    assert dataclasses.asdict(PipelineSettings())["k"] == 4


def test_unconstrained_mentions_over_max_words_or_not_in_the_sentence_are_dropped_and_counted():
    model = rule_model(
        "long",
        mentions={Q1T: ["flew to Paris yesterday", "Paris", "London"]},
        types={"Paris": " LOC"},
    )
    pipe = pipeline([Member("long", model)], max_words=3, validate=False)
    (r1,) = list(pipe.run([Q1]))
    assert spans(r1.final) == [("Paris", "LOC")]
    stats = pipe.model_stats()["long"]
    assert stats["extract_too_long"] == 1 and stats["extract_not_found"] == 1
    assert stats["extract_failures"] == 0


def test_parallel_models_give_the_same_results_on_their_own_threads(tmp_path):
    import threading

    threads: dict[str, set[str]] = {}

    def traced(name, backend):
        inner = backend._answers

        def answer(prompt):
            threads.setdefault(name, set()).add(threading.current_thread().name)
            return inner(prompt)

        backend._answers = answer
        return backend

    sequential = pipeline()
    expected = [r.final for r in sequential.run([Q1, Q2])]
    ms = [Member(m.name, traced(m.name, m.backend), m.weight) for m in members()]
    parallel = pipeline(ms, parallel=True)
    try:
        got = list(parallel.run([Q1, Q2]))
    finally:
        parallel.close()
    assert [r.final for r in got] == expected
    assert [r.unvalidated for r in got] == [r.unvalidated for r in sequential.run([Q1, Q2])]
    assert set(parallel.model_stats()) == {"A", "B", "C"}
    assert parallel.model_stats()["B"]["extract_failures"] == 1
    names = [next(iter(threads[n])) for n in ("A", "B", "C")]
    assert all(len(threads[n]) == 1 for n in threads)  # one thread per model, always the same
    assert len(set(names)) == 3 and threading.main_thread().name not in names
