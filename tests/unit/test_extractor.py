"""The Extractor: prompts per (sentence, type), answers to merged spans, counts.

Most tests use the scripted backend (canned answers, milliseconds); the last ones run the tiny
random Llama through the HF backend to show that constrained answers only ever name substrings
of the input.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from fewner.backends.base import GenerationParams
from fewner.backends.cache import CachedBackend
from fewner.backends.scripted import ScriptedBackend
from fewner.decoding.grammar import AnswerGrammar
from fewner.predict import ExtractionResult, Extractor, merge_spans, snap_to_tokens
from fewner.prompts import ExtractionFormat, MissingDefinitionError, PromptTemplate
from fewner.types import Sentence, Span

DEFS = {
    "person": "a person",
    "location": "a place",
    "organization": "a company or group",
}
FMT = ExtractionFormat("obp-llm", DEFS)
G = FMT.grammar


def answer(*mentions: str) -> str:
    return G.render(mentions)


S1 = Sentence.from_words("Barack Obama visited New York and Paris .".split(), id="s1")
S2 = Sentence.from_words("Apple opened a store in Paris".split(), id="s2")
S3 = Sentence.from_words("Nothing here".split(), id="s3")


def script(table: dict[tuple[str, str], str]):
    """A scripted answer function keyed by (sentence text, type) read back from the prompt."""

    def respond(prompt: str) -> str:
        for (text, entity_type), text_answer in table.items():
            if f"Input:\n{text}\n" in prompt and f"type {entity_type} " in prompt:
                return text_answer
        return G.none or ""

    return respond


TABLE = {
    (S1.text, "person"): answer("Barack Obama"),
    (S1.text, "location"): answer("New York", "Paris"),
    (S2.text, "organization"): answer("Apple"),
    (S2.text, "location"): answer("Paris"),
}
TYPES = ["person", "location", "organization"]


def spans_of(sentence: Sentence) -> list[tuple[str, str]]:
    return [(sentence.mention(s), s.label) for s in sentence.spans]


# ----- merging, ordering, answers -----------------------------------------------------------


def test_predictions_merge_types_per_sentence_in_input_order() -> None:
    result = Extractor(ScriptedBackend(script(TABLE)), FMT).extract([S1, S2, S3], TYPES)
    assert isinstance(result, ExtractionResult)
    assert [p.id for p in result.predictions] == ["s1", "s2", "s3"]
    assert spans_of(result.predictions[0]) == [
        ("Barack Obama", "person"),
        ("New York", "location"),
        ("Paris", "location"),
    ]
    assert spans_of(result.predictions[1]) == [("Apple", "organization"), ("Paris", "location")]
    assert result.predictions[2].spans == ()
    assert result.predictions[1].tokens == S2.tokens and result.predictions[1].text == S2.text
    # one answer record per prompt, in (sentence, type) order
    assert [(a["sentence_id"], a["type"]) for a in result.answers] == [
        (s, t) for s in ("s1", "s2", "s3") for t in TYPES
    ]
    first = result.answers[0]
    assert first["answer"] == answer("Barack Obama")
    assert first["prompt_chars"] == len(FMT.prompt(S1, "person"))
    assert result.stats["sentences"] == 3 and result.stats["prompts"] == 9
    assert result.stats["spans"] == 5


def test_gold_spans_in_the_input_are_ignored() -> None:
    gold = S1.with_spans([Span(0, 12, "person"), Span(21, 29, "organization")])
    backend = ScriptedBackend(script(TABLE))
    result = Extractor(backend, FMT).extract([gold], TYPES)
    assert spans_of(result.predictions[0]) == spans_of(
        Extractor(ScriptedBackend(script(TABLE)), FMT).extract([S1], TYPES).predictions[0]
    )
    assert all("Barack Obama >>>" not in p for p in backend.generated_prompts)


def test_prompts_are_sent_sorted_in_whole_sentence_batches() -> None:
    backend = ScriptedBackend(script(TABLE))
    sentences = [S1, S2, S3, S1.with_spans([]), S2]
    Extractor(backend, FMT, batch_size=7).extract(sentences, TYPES)
    calls = [c.prompts for c in backend.calls]
    assert [len(c) for c in calls] == [6, 6, 3]  # 7 // 3 types = 2 sentences per call
    for prompts in calls:
        assert prompts == sorted(prompts)  # neighbours share the longest prefixes
    # fewer prompts per call than types: still one whole sentence per call
    backend = ScriptedBackend(script(TABLE))
    Extractor(backend, FMT, batch_size=1).extract([S1, S2], TYPES)
    assert [len(c.prompts) for c in backend.calls] == [3, 3]


def test_results_do_not_depend_on_batch_size() -> None:
    sentences = [S1, S2, S3]
    results = [
        Extractor(ScriptedBackend(script(TABLE)), FMT, batch_size=b).extract(sentences, TYPES)
        for b in (1, 4, 100)
    ]
    assert results[0].predictions == results[1].predictions == results[2].predictions
    assert results[0].answers == results[1].answers == results[2].answers
    assert results[0].stats == results[1].stats == results[2].stats


def test_iter_extract_and_progress_cover_every_sentence() -> None:
    extractor = Extractor(ScriptedBackend(script(TABLE)), FMT, batch_size=3)
    parts = list(extractor.iter_extract([S1, S2, S3], TYPES))
    assert [len(p.predictions) for p in parts] == [1, 1, 1]
    seen: list[int] = []
    whole = extractor.extract([S1, S2, S3], TYPES, progress=seen.append)
    assert seen == [1, 1, 1]
    assert whole.predictions == [p for part in parts for p in part.predictions]


def test_duplicate_types_are_asked_once_and_labels_keep_the_callers_spelling() -> None:
    backend = ScriptedBackend(script(TABLE))
    result = Extractor(backend, FMT).extract([S2], ["location", "location"])
    assert len(backend.generated_prompts) == 1
    assert spans_of(result.predictions[0]) == [("Paris", "location")]


def test_missing_definitions_fail_before_any_generation() -> None:
    backend = ScriptedBackend(script(TABLE))
    with pytest.raises(MissingDefinitionError, match="weapon"):
        Extractor(backend, FMT).extract([S1], ["person", "weapon"])
    assert backend.calls == []
    with pytest.raises(ValueError, match="no entity types"):
        Extractor(backend, FMT).extract([S1], [])


def test_empty_input_gives_an_empty_result() -> None:
    result = Extractor(ScriptedBackend(script(TABLE)), FMT).extract([], TYPES)
    assert result.predictions == [] and result.answers == [] and not +result.stats


# ----- overlaps -------------------------------------------------------------------------------


def test_overlapping_types_keep_the_longer_span_and_count_the_conflict() -> None:
    table = {
        (S1.text, "location"): answer("New York"),
        (S1.text, "organization"): answer("New York and Paris"),  # longer, other type
        (S1.text, "person"): answer("Barack Obama", "Obama"),  # same-type overlap
    }
    result = Extractor(ScriptedBackend(script(table)), FMT).extract([S1], TYPES)
    assert spans_of(result.predictions[0]) == [
        ("Barack Obama", "person"),
        ("New York and Paris", "organization"),
    ]
    assert result.stats["type_conflicts"] == 1  # "New York" (location) lost to the longer span
    assert result.stats["overlaps_same_type"] == 1  # "Obama" lost to "Barack Obama"


def test_equal_spans_of_two_types_go_to_the_type_listed_first() -> None:
    table = {(S2.text, "location"): answer("Apple"), (S2.text, "organization"): answer("Apple")}
    for types, winner in ((TYPES, "location"), (["organization", "location"], "organization")):
        result = Extractor(ScriptedBackend(script(table)), FMT).extract([S2], types)
        assert spans_of(result.predictions[0]) == [("Apple", winner)]
        assert result.stats["type_conflicts"] == 1


def test_merge_spans_rule() -> None:
    a = Span(0, 5, "x")
    b = Span(3, 8, "y")  # same length as a, starts later: loses
    c = Span(10, 12, "y")
    d = Span(10, 12, "x")  # same span as c: "y" listed first wins
    e = Span(0, 8, "z")  # longest of all: wins over a and b
    kept, dropped = merge_spans([a, b, c, d, a], ["y", "x"])
    assert kept == [a, c] and dropped == Counter(type_conflicts=2)
    kept, dropped = merge_spans([a, b, e], ["x", "y", "z"])
    assert kept == [e] and dropped == Counter(type_conflicts=2)
    kept, dropped = merge_spans([Span(0, 5, "x"), Span(4, 9, "x")])
    assert kept == [Span(0, 5, "x")] and dropped == Counter(overlaps_same_type=1)


def test_snap_to_tokens_widens_to_whole_tokens() -> None:
    s = Sentence.from_words(["Obama's", "speech"], id="t")
    assert snap_to_tokens(Span(0, 5, "person"), s) == Span(0, 7, "person")
    assert snap_to_tokens(Span(8, 14, "x"), s) == Span(8, 14, "x")


# ----- parse statistics and constraints -------------------------------------------------------


def test_parse_statistics_are_summed_over_answers_unconstrained() -> None:
    table = {
        (S1.text, "person"): answer("Barack Obama", "Angela Merkel"),  # one not in the text
        (S1.text, "location"): "The entities I extracted for you are <<< Par",  # cut off
        (S2.text, "person"): "banana",
        (S2.text, "location"): answer("paris"),  # case-insensitive match
    }
    backend = ScriptedBackend(script(table))
    result = Extractor(backend, FMT, constrained=False).extract([S1, S2], ["person", "location"])
    stats = result.stats
    assert stats["answers"] == 4 and stats["mentions"] == 3  # the cut-off one is not read
    assert stats["exact"] == 1 and stats["case"] == 1 and stats["not_found"] == 1
    assert stats["truncated"] == 1 and stats["unparseable"] == 1
    assert spans_of(result.predictions[1]) == [("Paris", "location")]
    assert stats["filtered_mentions"] == 0


def test_unconstrained_mentions_inside_a_token_are_snapped() -> None:
    s = Sentence.from_words(["Obama's", "speech"], id="t")
    backend = ScriptedBackend(lambda p: answer("Obama"))
    result = Extractor(backend, FMT, constrained=False).extract([s], ["person"])
    assert spans_of(result.predictions[0]) == [("Obama's", "person")]
    assert result.stats["unaligned"] == 1 and result.stats["snapped_to_tokens"] == 1


class IgnoresConstraints(ScriptedBackend):
    """A backend that drops the constraints it is given (a broken server, say)."""

    def generate(self, prompts, params=GenerationParams(), constraints=None):  # noqa: B008
        self.seen_constraints = constraints
        return super().generate(prompts, params, None)


class ReportsFiltering(ScriptedBackend):
    """A backend that filters like llama.cpp and openai do, and reports the count."""

    filtered_mentions = 0

    def generate(self, prompts, params=GenerationParams(), constraints=None):  # noqa: B008
        out = []
        for i, text in enumerate(super().generate(prompts, params, None)):
            if constraints is not None and constraints[i] is not None:
                text, removed = constraints[i].filter(text)
                self.filtered_mentions += sum(removed.values())
            out.append(text)
        return out


CHEATING = {
    (S1.text, "person"): answer("Barack Obama", "Angela Merkel", "Barack Obama"),
    (S2.text, "location"): answer("Paris", "London"),
}


def test_constraints_are_built_once_per_sentence_and_passed_per_prompt() -> None:
    backend = IgnoresConstraints(script(CHEATING))
    extractor = Extractor(backend, FMT, edge_punctuation=True, max_words=2, max_mentions=3)
    extractor.extract([S1], TYPES)
    cons = backend.seen_constraints
    assert len(cons) == 3 and all(c is cons[0] for c in cons)
    assert cons[0].max_mentions == 3
    assert "Obama visited" in cons[0].candidates and "Obama visited New" not in cons[0].candidates
    assert "Paris ." in cons[0].candidates  # edge punctuation allowed
    assert "Paris ." not in Extractor(backend, FMT).constraint(S1).candidates
    Extractor(backend, FMT, constrained=False).extract([S1], TYPES)
    assert backend.seen_constraints is None


def test_safety_net_filters_what_a_backend_let_through() -> None:
    result = Extractor(IgnoresConstraints(script(CHEATING)), FMT).extract([S1, S2], TYPES)
    assert result.stats["filtered_mentions"] == 3  # Angela Merkel, a repeat, London
    assert spans_of(result.predictions[0]) == [("Barack Obama", "person")]
    assert spans_of(result.predictions[1]) == [("Paris", "location")]
    record = result.answers[0]
    assert record["raw_answer"] == CHEATING[(S1.text, "person")]
    assert record["answer"] == answer("Barack Obama")
    assert record["filtered"] == ["Angela Merkel", "Barack Obama"]
    assert result.stats["not_found"] == 0 and result.stats["repeat_exhausted"] == 0


def test_filtering_reported_by_the_backend_is_counted_also_through_a_cache(
    tmp_path: Path,
) -> None:
    inner = ReportsFiltering(script(CHEATING))
    result = Extractor(inner, FMT).extract([S1, S2], TYPES)
    assert result.stats["filtered_mentions"] == 3
    assert "raw_answer" not in result.answers[0]  # the backend had filtered it already

    cached = CachedBackend(ReportsFiltering(script(CHEATING)), tmp_path / "c.sqlite")
    first = Extractor(cached, FMT).extract([S1, S2], TYPES)
    again = Extractor(cached, FMT).extract([S1, S2], TYPES)
    assert first.stats["filtered_mentions"] == 3
    assert again.stats["filtered_mentions"] == 0  # cache hits: nothing filtered this time
    assert again.predictions == first.predictions == result.predictions


def test_truncated_but_valid_answers_are_kept_for_the_parser() -> None:
    table = {(S2.text, "organization"): "The entities I extracted for you are <<< Apple >>> <<< Pa"}
    result = Extractor(IgnoresConstraints(script(table)), FMT).extract([S2], ["organization"])
    assert result.answers[0]["answer"] == table[(S2.text, "organization")]
    assert result.stats["truncated"] == 1 and result.stats["filtered_mentions"] == 0
    assert spans_of(result.predictions[0]) == [("Apple", "organization")]


# ----- parameters ---------------------------------------------------------------------------


def test_params_default_greedy_with_the_templates_stops() -> None:
    backend = ScriptedBackend(script(TABLE))
    extractor = Extractor(backend, FMT)
    assert extractor.params.greedy and extractor.params.max_new_tokens == 64
    assert set(FMT.template.stop) <= set(extractor.params.stop)
    custom = Extractor(backend, FMT, params=GenerationParams(max_new_tokens=9, stop=("END",)))
    assert custom.params.max_new_tokens == 9
    assert custom.params.stop == ("END", *FMT.template.stop)
    custom.extract([S1], ["person"])
    assert backend.calls[-1].params == custom.params
    settings = custom.settings()
    assert settings["template"] == FMT.template.id and settings["params"]["max_new_tokens"] == 9


def test_chat_wraps_prompts_with_the_backends_template() -> None:
    class Chatty(ScriptedBackend):
        def chat_prompt(self, user_message: str, system: str | None = None) -> str:
            return f"<sys>{system}</sys><user>{user_message}</user>"

    backend = Chatty(script(TABLE))
    result = Extractor(backend, FMT, chat=True, system="be brief").extract([S2], ["location"])
    (prompt,) = backend.generated_prompts
    assert prompt == f"<sys>be brief</sys><user>{FMT.prompt(S2, 'location')}</user>"
    assert spans_of(result.predictions[0]) == [("Paris", "location")]


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"max_words": 0}, {"max_mentions": 0}])
def test_bad_options_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Extractor(ScriptedBackend(), FMT, **kwargs)


# ----- a real (tiny, random) model through the HF backend --------------------------------------

# The tiny tokenizer only knows the characters of its training corpus: a short template in them.
TINY_TEMPLATE = PromptTemplate(
    name="tiny",
    version="1",
    preamble="",
    instruction="Entities: {type}. ",
    input="Text: {sentence} ",
    response="Answer:",
    grammar=AnswerGrammar(prefix=" Answer", open=" <<< ", close=" >>>", none=" none"),
)
TINY_DEFS = {"person": "people", "location": "places", "organization": "companies"}
TINY_SENTENCES = [
    Sentence.from_words(text.split(), id=f"t{i}")
    for i, text in enumerate(
        [
            "Barack Obama visited Paris and Berlin in 2009 .",
            "John lives in London",
            "Apple and Google are companies in California .",
            "The quick brown fox jumps over the lazy dog .",
        ]
    )
]


@pytest.fixture(scope="module")
def tiny_backend(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from fewner.backends.hf import HFBackend
    from tests.contract.backends_under_test import tiny_llama

    folder = tiny_llama(tmp_path_factory.mktemp("extractor") / "tiny")
    model = AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    # the training loop's path: a model already in memory
    return HFBackend.from_objects(model, tokenizer, "tiny-llama", batch_size=5)


def _mentions_are_substrings(result: ExtractionResult, fmt: ExtractionFormat) -> None:
    by_id = {s.id: s for s in TINY_SENTENCES}
    for record in result.answers:
        sentence = by_id[record["sentence_id"]]
        text = record["answer"]
        assert "raw_answer" not in record, record  # the backend itself kept to the language
        assert fmt.constraint(sentence).is_prefix(text), text
        for mention in fmt.grammar.mentions_in(text):
            assert mention in sentence.text, (mention, sentence.text)


def test_constrained_output_on_a_random_model_only_names_substrings(tiny_backend) -> None:
    fmt = ExtractionFormat(TINY_TEMPLATE, TINY_DEFS)
    extractor = Extractor(
        tiny_backend, fmt, params=GenerationParams(max_new_tokens=40), batch_size=8
    )
    result = extractor.extract(TINY_SENTENCES, list(TINY_DEFS))
    _mentions_are_substrings(result, fmt)
    stats = result.stats
    assert stats["prompts"] == 12 and stats["answers"] == 12
    assert stats["not_found"] == 0 and stats["repeat_exhausted"] == 0
    assert stats["filtered_mentions"] == 0
    assert stats["mentions"] > 0, "the random model named nothing: the test shows nothing"
    for pred, sentence in zip(result.predictions, TINY_SENTENCES, strict=True):
        assert pred.text == sentence.text
        for span in pred.spans:  # flat and token-aligned: writable as JSONL and BIO
            pred.char_span_to_tokens(span)
        assert all(not a.overlaps(b) for a, b in zip(pred.spans, pred.spans[1:], strict=False))
    # the same predictions one sentence at a time (batching changes nothing)
    single = Extractor(tiny_backend, fmt, params=extractor.params, batch_size=1)
    assert single.extract(TINY_SENTENCES, list(TINY_DEFS)).predictions == result.predictions


def test_unconstrained_random_model_is_only_parsed(tiny_backend) -> None:
    fmt = ExtractionFormat(TINY_TEMPLATE, TINY_DEFS)
    result = Extractor(
        tiny_backend, fmt, constrained=False, params=GenerationParams(max_new_tokens=12)
    ).extract(TINY_SENTENCES[:2], ["person"])
    assert result.stats["answers"] == 2 and result.stats["filtered_mentions"] == 0
    assert all("raw_answer" not in a for a in result.answers)
