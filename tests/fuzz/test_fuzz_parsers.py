"""Fuzzed model-answer parsers: whatever a model writes, parsing never raises and never returns a
span outside the sentence; the answer a perfect model would write reads back as meant.

Parsers covered (all of fewner's readers of model output):

* extraction answers (:func:`fewner.prompts.parse_answer`, every shipped template's grammar and
  random grammars), including the none and refusal ("not sure") answers;
* ICL stage answers (:mod:`fewner.icl.prompts`: stage-1 mentions, stage-2 types, stage-3 yes/no);
* teacher dictionaries (:mod:`fewner.distill.answers`: ``parse_dictionary``, ``mentions_to_spans``).

Answers are built from pieces that matter to the parsers (markers, prefixes, the none and
refusal answers, type names, braces, quotes, ``Answer:``), pieces of the sentence, and random text.
"""

from __future__ import annotations

import json
import re

from hypothesis import example, given
from hypothesis import strategies as st

from fewner.decoding.grammar import OBP_GRAMMAR, AnswerGrammar
from fewner.distill.answers import mentions_to_spans, parse_dictionary, sentence_status
from fewner.icl.prompts import ICL_GRAMMAR, IclPrompter, parse_type, parse_yes_no
from fewner.icl.voting import NONE
from fewner.prompts import ExtractionFormat, parse_answer, read_mentions, representable
from fewner.prompts.templates import TEMPLATES
from fewner.spans import snap_to_tokens
from fewner.types import Sentence, Span
from tests.fuzz.kit import aligned, check_sentence, fuzz, sentences

TEMPLATE_GRAMMARS = [ExtractionFormat(n, {"PER": "a person"}).grammar for n in TEMPLATES.names()]
MARKERS = ["<<<", ">>>", "[", "]", "<e>", "</e>", "((", "))", "|", "{", "}", "<", "<<"]


@st.composite
def grammars(draw) -> AnswerGrammar:
    """A shipped grammar or a random valid one (markers that may nest or prefix each other)."""
    if draw(st.booleans()):
        return draw(st.sampled_from([*TEMPLATE_GRAMMARS, ICL_GRAMMAR]))
    open_m, close_m = draw(st.lists(st.sampled_from(MARKERS), min_size=2, max_size=2, unique=True))
    none = draw(st.sampled_from([None, "none", "No entities.", "NONE <im_end>"]))
    refusal = draw(st.sampled_from([None, "not sure", "I cannot tell."]))
    try:
        return AnswerGrammar(
            prefix=draw(st.sampled_from(["", "Entities:", "The entities are"])),
            open=" " + open_m + " ",
            close=" " + close_m,
            suffix=draw(st.sampled_from(["", " <end>"])),
            none=none,
            refusal=refusal,
        )
    except ValueError:
        return OBP_GRAMMAR


def _pieces(grammar: AnswerGrammar, sentence: Sentence) -> st.SearchStrategy[str]:
    words = [t.text for t in sentence.tokens]
    spans_text = [
        sentence.text[a.start : b.end]
        for a in sentence.tokens
        for b in sentence.tokens
        if a.start < b.end
    ][:20]
    fixed = [
        grammar.prefix,
        grammar.open,
        grammar.close,
        grammar.suffix,
        grammar.none or "",
        grammar.refusal or "",
        *grammar.markers,
        " ",
        "\n",
        "none",
        "\\",
        "\t",
    ]
    choices = [p for p in fixed + words + spans_text if p]
    return st.one_of(
        st.sampled_from(choices),
        st.sampled_from(choices).map(str.upper),
        st.text(max_size=4),
    )


@st.composite
def answer_case(draw):
    sentence = draw(sentences(gaps=draw(st.booleans())))
    grammar = draw(grammars())
    answer = "".join(draw(st.lists(_pieces(grammar, sentence), max_size=12)))
    return sentence, grammar, answer


def _squash(text: str) -> str:
    return "".join(text.split()).lower()


@fuzz(250)
@given(case=answer_case(), use_tokens=st.booleans())
@example(case=(Sentence.from_words(["a"], id="s"), OBP_GRAMMAR, None), use_tokens=True)
def test_extraction_answers_parse_without_raising_and_spans_stay_in_the_text(
    case, use_tokens
) -> None:
    sentence, grammar, answer = case
    tokens = sentence.tokens if use_tokens else ()
    result = parse_answer(answer, sentence.text, "LOC", grammar, tokens)
    assert list(result.spans) == sorted(set(result.spans))
    mentions = {_squash(m) for m in result.mentions}
    for span in result.spans:
        assert 0 <= span.start < span.end <= len(sentence.text) and span.label == "LOC"
        assert _squash(sentence.mention(span)) in mentions
        snapped = snap_to_tokens(span, sentence)
        assert snapped is None or aligned(snapped, sentence)
    stats = result.stats
    resolved = stats["exact"] + stats["case"] + stats["whitespace"]
    assert resolved == len(result.spans)
    assert resolved + stats["not_found"] + stats["repeat_exhausted"] == stats["mentions"]
    if use_tokens:
        assert stats["unaligned"] == sum(not aligned(s, sentence) for s in result.spans)
    assert not (result.is_none and result.is_refusal)
    read_mentions(answer or "", grammar)


@st.composite
def gold_answer(draw):
    sentence = draw(sentences(gaps=draw(st.booleans())))
    grammar = draw(grammars())
    chosen = [s for s in sentence.spans if representable(sentence.mention(s), grammar)]
    return sentence, grammar, chosen


@fuzz(200)
@given(case=gold_answer(), cut=st.integers(0, 400))
def test_the_answer_a_perfect_model_writes_reads_back(case, cut: int) -> None:
    sentence, grammar, chosen = case
    mentions = [sentence.mention(s) for s in chosen]
    if not mentions and grammar.none is None:
        return
    answer = grammar.render(mentions)
    result = parse_answer(answer, sentence.text, "X", grammar, sentence.tokens)
    assert list(result.mentions) == mentions
    assert len(result.spans) == len(mentions) and result.stats["unaligned"] == 0
    squashed = sorted(_squash(sentence.mention(s)) for s in result.spans)
    assert squashed == sorted(_squash(m) for m in mentions)
    assert not mentions or not (result.stats["unparseable"] or result.stats["truncated"])
    if not mentions:
        assert result.is_none
    # An answer cut anywhere (max_new_tokens) keeps only whole mentions.
    partial = parse_answer(answer[:cut], sentence.text, "X", grammar, sentence.tokens)
    assert len(partial.mentions) <= len(mentions)
    assert list(partial.mentions) == mentions[: len(partial.mentions)]


@fuzz(100)
@given(case=gold_answer())
def test_the_refusal_answer_is_an_abstention_never_spans(case) -> None:
    sentence, grammar, _ = case
    if grammar.refusal is None:
        return
    result = parse_answer(grammar.refusal, sentence.text, "X", grammar, sentence.tokens)
    assert result.is_refusal and not result.spans and not result.is_none


# ----- ICL stages ----------------------------------------------------------------------------

TYPE = st.one_of(
    st.sampled_from(
        [
            "PER",
            "LOC",
            "person-actor",
            "B-PER",
            "O",
            "U.S.",
            "org.",
            "e.g.",
            "'x'",
            "product (ware)",
            "creative work",
            "no",
            "yes",
        ]
    ),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8),
).filter(lambda t: t.strip() == t and t and "\n" not in t and t.lower() != NONE)


@fuzz(200)
@given(
    types=st.lists(TYPE, min_size=1, max_size=4, unique_by=str.lower),
    answer=st.lists(
        st.sampled_from([" ", "\n", "B-", "I-", ".", "none", "Yes", "no", "N/A", "'"])
        | st.text(max_size=5),
        max_size=6,
    ).map("".join),
)
@example(types=["U.S."], answer=" U.S.")
def test_icl_type_and_yes_no_answers(types: list[str], answer: str) -> None:
    assert parse_type(answer, types) in {None, NONE, *types}
    assert parse_yes_no(answer) in {True, False, None}
    for t in types:  # what stage 2 decodes under its constraint: " TYPE"
        assert parse_type(" " + t, types) == t
        assert parse_type(" " + t + "\nchatter", types) == t
    assert parse_type(" none", types) == NONE or NONE in {t.lower() for t in types}
    assert parse_yes_no(" yes") is True and parse_yes_no(" no") is False


@fuzz(100)
@given(case=answer_case())
def test_icl_stage_one_answers(case) -> None:
    sentence, _, answer = case
    result = IclPrompter(("PER",)).parse_extraction(answer, sentence)
    for span in result.spans:
        assert 0 <= span.start < span.end <= len(sentence.text)


# ----- teacher dictionaries ------------------------------------------------------------------

DICT_PIECES = [
    "{",
    "}",
    "[",
    "]",
    '"',
    "'",
    ":",
    ",",
    " ",
    "\n",
    "null",
    "None",
    "1",
    "1.5",
    "true",
    "Answer:",
    "answer :",
    "PER",
    "person",
    "LOC",
    "Organization",
    "entities",
    '"PER"',
    "'LOC'",
    '["x"]',
    "\\",
    "9" * 5000,
    "[" * 3000,
]


@st.composite
def dictionary_answer(draw):
    sentence = draw(sentences(gaps=draw(st.booleans())))
    words = [t.text for t in sentence.tokens]
    pieces = st.sampled_from(DICT_PIECES + words) | st.text(max_size=4)
    if draw(st.booleans()):
        value = draw(
            st.dictionaries(
                st.sampled_from(["PER", "LOC", "ORG", "person", "Misc", "entities"]),
                st.lists(st.sampled_from(words) | st.none() | st.integers(), max_size=3)
                | st.none(),
                max_size=3,
            )
        )
        base = json.dumps(value) if draw(st.booleans()) else repr(value)
        cut = draw(st.integers(0, len(base)))
        answer = draw(st.sampled_from(["", "Answer: ", "Let me think. {x} Answer:"])) + base[:cut]
    else:
        answer = "".join(draw(st.lists(pieces, max_size=10)))
    return sentence, answer


@fuzz(200)
@given(case=dictionary_answer())
@example(case=(Sentence.from_words(["a"], id="s"), '{"PER": [' + "1" * 5000 + "]}"))
@example(case=(Sentence.from_words(["a"], id="s"), '{"PER": ' + "[" * 100000 + "]}"))
def test_dictionary_answers_parse_without_raising(case) -> None:
    sentence, answer = case
    types = ["PER", "LOC", "ORG"]
    parsed = parse_dictionary(answer, types)
    if parsed.mentions is not None:
        assert list(parsed.mentions) == types
        for strings in parsed.mentions.values():
            assert all(isinstance(s, str) and s and s == s.strip() for s in strings)
        placed = mentions_to_spans(sentence, parsed.mentions)
    else:
        placed = None
    assert sentence_status(parsed, placed) in ("ok", "repaired", "partial", "unparseable")
    if placed is not None:
        check_sentence(sentence.with_spans(placed.spans))
        assert {s.label for s in placed.spans} <= set(types)


@fuzz(150)
@given(
    sentence=sentences(gaps=True),
    python=st.booleans(),
    lead=st.sampled_from(["", "Answer: ", "x\n"]),
)
@example(
    sentence=Sentence.from_words(["Answer:", "{"], [(0, 2, "PER")], id="s"), python=False, lead=""
)
def test_the_dictionary_a_perfect_teacher_writes_reads_back(
    sentence: Sentence, python: bool, lead: str
) -> None:
    gold: dict[str, list[str]] = {}
    for span in sentence.spans:
        gold.setdefault(span.label, [])
        if sentence.mention(span) not in gold[span.label]:
            gold[span.label].append(sentence.mention(span))
    types = list(gold) or ["PER"]
    if len({t.lower() for t in types}) < len(types) or any(t.strip() != t for t in types):
        return  # keys matched ignoring case and spaces cannot tell these types apart
    answer = lead + (repr(gold) if python else json.dumps(gold, ensure_ascii=False))
    parsed = parse_dictionary(answer, types)
    assert parsed.mentions == {t: gold.get(t, []) for t in types}
    placed = mentions_to_spans(sentence, parsed.mentions)
    check_sentence(sentence.with_spans(placed.spans))
    unique = all(
        len(
            re.findall(
                r"(?=" + r"\s*".join(map(re.escape, _squash(m))) + ")",
                sentence.text,
                re.IGNORECASE | re.DOTALL,
            )
        )
        == 1
        for ms in gold.values()
        for m in ms
    )
    if unique:  # each mention occurs once: the spans are exactly the gold spans
        assert placed.spans == list(sentence.spans)


def test_spans_of_strings_found_only_inside_words_are_dropped() -> None:
    s = Sentence.from_words(["Parisian", "Paris"], id="s")
    placed = mentions_to_spans(s, {"LOC": ["Paris"]})
    assert placed.spans == [Span(9, 14, "LOC")]


# ----- the tokenizer -------------------------------------------------------------------------


@fuzz(150)
@given(
    text=st.text(max_size=30)
    | st.lists(
        st.sampled_from(
            [
                "New",
                " ",
                "York",
                "-",
                "based",
                "don't",
                "O\u2019Neil",
                "e\u0301",
                "\u200b",
                "3.5",
                ",",
                "😀",
                "東京",
                "\u2060",
                "\ufeff",
                "\n",
                "\xa0",
                "'",
                "--",
            ]
        ),
        max_size=10,
    ).map("".join),
    cuts=st.lists(st.integers(-3, 40), max_size=4),
)
def test_tokens_index_the_text_and_break_at_the_requested_offsets(
    text: str, cuts: list[int]
) -> None:
    from fewner.data.tokenize import tokenize

    tokens = tokenize(text, cuts)
    covered = set()
    prev = 0
    for token in tokens:
        assert (
            prev <= token.start < token.end <= len(text)
            and text[token.start : token.end] == token.text
        )
        assert not any(c.isspace() or c in "\u200b\u2060\ufeff" for c in token.text)
        assert not any(token.start < c < token.end for c in cuts)
        covered.update(range(token.start, token.end))
        prev = token.end
    assert all(
        text[i].isspace() or text[i] in "\u200b\u2060\ufeff"
        for i in set(range(len(text))) - covered
    )


# ----- the post-generation filter (backends that cannot steer tokens) ------------------------


@fuzz(120)
@given(case=answer_case(), refusal=st.booleans())
def test_the_constraint_filter_keeps_only_answers_that_parse_to_candidates(
    case, refusal: bool
) -> None:
    from fewner.decoding.constraint import Constraint

    sentence, grammar, answer = case
    constraint = Constraint.for_sentence(sentence, grammar, refusal=refusal)
    text, removed = constraint.enforce(answer)
    assert all(n > 0 for n in removed.values())
    if text != answer:  # rewritten: a valid answer (or "" when the grammar has no none answer)
        assert text == "" or constraint.accepts(text) or constraint.is_refusal(text)
    result = parse_answer(text, sentence.text, "X", grammar, sentence.tokens)
    for span in result.spans:
        assert 0 <= span.start < span.end <= len(sentence.text)
