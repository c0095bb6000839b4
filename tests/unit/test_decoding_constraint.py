"""The substring constraint as a language: accepts, filter, regex and GBNF agree."""

from __future__ import annotations

import random
import re

import pytest

from fewner.decoding import AnswerGrammar, Constraint
from fewner.types import Sentence

TEXT = "The soldier was killed in Sonmarg , said a New York-based spokesman in São Paulo ( 2-3 ) ."
SENT = Sentence.from_words(TEXT.split(), id="s1")
G = AnswerGrammar()
IM = AnswerGrammar(
    prefix="<im_start> I can extract entities for you, the extracted entities are",
    suffix=" <im_end>",
    none="<im_start> There are no entities of this type. <im_end>",
)


@pytest.fixture(scope="module")
def con() -> Constraint:
    return Constraint.for_sentence(SENT)


def test_substrings_accepted(con: Constraint) -> None:
    assert con.accepts(G.render(["Sonmarg"]))
    assert con.accepts(G.render(["New York-based spokesman", "São Paulo", "2-3"]))
    assert con.accepts(G.none or "")


def test_non_substrings_and_non_contiguous_text_rejected(con: Constraint) -> None:
    # every word is in the input, but not contiguously: a token whitelist would let these through
    for bad in ["New spokesman", "Sonmarg said", "soldier Sonmarg", "York-based New", "sonmarg"]:
        assert bad not in con.candidates
        assert not con.accepts(G.render([bad]))
    assert not con.accepts(G.render(["Sonma"]))  # not word-aligned
    assert not con.accepts(G.render(["Sonmarg ,"]))  # edge punctuation


def test_ends_only_in_accepting_states(con: Constraint) -> None:
    full = G.render(["Sonmarg"])
    for cut in range(len(full)):
        assert con.is_prefix(full[:cut])
        assert not con.accepts(full[:cut])
    assert not con.accepts(G.prefix)  # a prefix with no mention is no answer
    assert not con.accepts(full + " ")
    assert not con.is_prefix(full + "x")


def test_repeated_mention_limit() -> None:
    s = Sentence.from_words("the cat saw the cat and a dog".split(), id="r")
    c = Constraint.for_sentence(s)
    assert c.accepts(G.render(["the cat", "the cat"]))  # occurs twice
    assert not c.accepts(G.render(["the cat", "the cat", "the cat"]))
    assert not c.accepts(G.render(["dog", "dog"]))
    assert c.accepts(G.render(["dog", "dog"]), limit_repeats=False)
    # exhausting "the" must not block "the cat", which continues through the same trie node
    assert c.accepts(G.render(["the", "the", "the cat"]))
    m = c.matcher()
    assert m.feed(G.render(["dog"]).encode()) and m.accepting
    assert not m.feed(G.open.encode() + b"dog")  # dead: no second "dog"
    assert m.dead


def test_max_mentions_caps_the_answer() -> None:
    c = Constraint.for_sentence(SENT, max_mentions=2)
    assert c.accepts(G.render(["Sonmarg", "São Paulo"]))
    assert not c.accepts(G.render(["Sonmarg", "São Paulo", "2-3"]))
    assert not c.accepts(G.render(["Sonmarg", "São Paulo", "2-3"]), limit_repeats=False)
    clean, removed = c.filter(G.render(["Sonmarg", "São Paulo", "2-3"]) + " ...")
    assert clean == G.render(["Sonmarg", "São Paulo"]) and removed == {"2-3": 1}
    with pytest.raises(ValueError):
        Constraint.for_sentence(SENT, max_mentions=0)


def test_exhausting_every_candidate_closes_the_answer() -> None:
    c = Constraint.for_mentions(["Paris"])
    m = c.matcher()
    assert m.feed(G.render(["Paris"]).encode())
    assert m.accepting and not m.dfa.out(m.state)  # nothing may follow but the end


def test_none_answer_configurable() -> None:
    c = Constraint.for_sentence(SENT, AnswerGrammar(none=None))
    assert not c.accepts("There are no entities of this type in the sentence.")
    assert Constraint.for_mentions([]).accepts(G.none or "")
    assert not Constraint.for_mentions([]).is_prefix(G.prefix)  # no mention to write


def test_other_template(con: Constraint) -> None:
    c = Constraint.for_sentence(SENT, IM)
    text = IM.render(["Sonmarg", "São Paulo"])
    assert text.endswith(">>> <im_end>") and c.accepts(text)
    assert not c.accepts(IM.render(["Sonmarg"])[: -len(" <im_end>")])
    assert c.accepts(IM.none or "")
    assert not con.accepts(text)


def test_candidates_with_markers_are_excluded() -> None:
    s = Sentence.from_words("a <<< b >>> c".split(), id="m")
    c = Constraint.for_sentence(s, edge_punctuation=True)
    assert c.excluded and all("<<<" not in t and ">>>" not in t for t in c.candidates)
    assert c.accepts(G.render(["a"]))


def test_filter_counts_removals(con: Constraint) -> None:
    ok = G.render(["Sonmarg"])
    assert con.filter(ok) == (ok, {})
    raw = (
        "The entities I extracted for you are <<< Sonmarg >>> <<< New spokesman >>> "
        "<<< Sonmarg >>> <<< São Paulo >>> and then some chatter <<< Paris >>>"
    )
    clean, removed = con.filter(raw)
    assert clean == G.render(["Sonmarg", "São Paulo"])
    assert removed == {"New spokesman": 1, "Sonmarg": 1, "Paris": 1}
    assert con.filter("I don't know")[0] == G.none
    assert Constraint.for_sentence(SENT, AnswerGrammar(none=None)).filter("junk") == ("", {})


# ----- regex / GBNF against accepts ----------------------------------------------------------


def _samples(con: Constraint, grammar: AnswerGrammar, n: int, seed: int) -> list[str]:
    """Valid answers plus near misses: mutations, joins of non-adjacent words, truncations."""
    rng = random.Random(seed)
    cands = sorted(con.candidates)
    words = TEXT.split()
    out: list[str] = [grammar.none or "", grammar.prefix, ""]
    for _ in range(n):
        mentions = rng.sample(cands, rng.randint(1, 3))
        if rng.random() < 0.3:
            mentions.append(" ".join(rng.sample(words, 2)))
        if rng.random() < 0.2:
            mentions.append(mentions[0])
        text = grammar.render(mentions)
        roll = rng.random()
        if roll < 0.2:
            i = rng.randrange(len(text))
            text = text[:i] + text[i + 1 :]
        elif roll < 0.35:
            i = rng.randrange(len(text) + 1)
            text = text[:i] + rng.choice("a <>ü-") + text[i:]
        elif roll < 0.45:
            text = text[: rng.randrange(len(text))]
        out.append(text)
    return out


@pytest.mark.parametrize(
    ("grammar", "cap"),
    [(G, None), (IM, None), (AnswerGrammar(separator=",", open="[", close="]"), None), (G, 2)],
)
def test_regex_matches_accepts(grammar: AnswerGrammar, cap: int | None) -> None:
    c = Constraint.for_sentence(SENT, grammar, max_mentions=cap)
    pattern = re.compile(c.regex(), re.DOTALL)
    samples = _samples(c, grammar, 400, seed=7)
    verdicts = [c.accepts(t, limit_repeats=False) for t in samples]
    assert 50 < sum(verdicts) < len(samples) - 50  # both kinds are exercised
    for text, ok in zip(samples, verdicts, strict=True):
        assert (pattern.fullmatch(text) is not None) == ok, text


def test_regex_is_portable_and_escapes_metacharacters() -> None:
    s = Sentence.from_words("f(x) = a.b + c* [1] {2} $3 ^ a|b \\ /".split(), id="x")
    c = Constraint.for_sentence(s, edge_punctuation=True)
    pattern = re.compile(c.regex())
    for m in c.candidates:
        assert pattern.fullmatch(G.render([m]))
    assert not pattern.fullmatch(G.render(["aXb"]))  # "." is literal
    plain = Constraint.for_sentence(SENT).regex()
    assert "(?P" not in plain and "\\ " not in plain  # no Python-only syntax, spaces unescaped
    assert Constraint.for_mentions([], AnswerGrammar(none=None)).regex() == "(?!)"


def test_gbnf_structure() -> None:
    s = Sentence.from_words('say "hi" \\ to Zürich'.split(), id="g")
    c = Constraint.for_sentence(s, edge_punctuation=True)
    text = c.gbnf()
    lines = text.strip().splitlines()
    assert lines[0].startswith("root ::= ")
    assert all(re.match(r"^[a-z-]+ ::= ", line) for line in lines)
    assert '"\\"hi\\""' in text and '"\\\\"' in text and '"Zürich"' in text
    # every quoted literal is closed: strip escapes, then quotes pair up per line
    for line in lines:
        assert line.replace("\\\\", "").replace('\\"', "").count('"') % 2 == 0
    with pytest.raises(ValueError):
        Constraint.for_mentions([], AnswerGrammar(none=None)).gbnf()


def test_gbnf_parses_with_llama_cpp() -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    for grammar, cap in ((G, None), (IM, None), (AnswerGrammar(separator=", "), 3)):
        c = Constraint.for_sentence(SENT, grammar, max_mentions=cap)
        parsed = llama_cpp.LlamaGrammar.from_string(c.gbnf(), verbose=False)
        assert parsed is not None
