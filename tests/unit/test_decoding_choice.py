"""ChoiceConstraint: a closed set of literal answers (EL4NER stage 2 with classify.constrained)."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from fewner.backends.cache import constraint_fingerprint
from fewner.decoding.choice import ChoiceConstraint

TYPES = ["person", "creative-work", "corporation", "none"]


def test_regex_and_gbnf_describe_exactly_the_answers() -> None:
    c = ChoiceConstraint(TYPES)
    pattern = re.compile(c.regex())
    for t in TYPES:
        assert pattern.fullmatch(" " + t) and c.accepts(" " + t)
    for bad in ("person", " Person", " persons", " company", " person none", ""):
        assert not pattern.fullmatch(bad) and not c.accepts(bad)
    assert c.gbnf() == ('root ::= " creative-work" | " corporation" | " person" | " none"\n')


def test_enforce_keeps_answers_and_counts_what_it_removes() -> None:
    c = ChoiceConstraint(TYPES)
    assert c.enforce(" person") == (" person", Counter())
    assert c.enforce("person \n") == (" person", Counter())  # spacing aside
    assert c.enforce(" company") == ("", Counter({"company": 1}))
    assert c.enforce("  ") == ("", Counter())
    assert c.filter(" none") == (" none", Counter())


def test_fingerprint_keys_the_cache_by_choices_and_lead() -> None:
    a, b = ChoiceConstraint(TYPES), ChoiceConstraint(TYPES[:2])
    assert constraint_fingerprint(a) == constraint_fingerprint(ChoiceConstraint(TYPES))
    assert constraint_fingerprint(a) != constraint_fingerprint(b)
    assert constraint_fingerprint(a) != constraint_fingerprint(ChoiceConstraint(TYPES, lead=""))


@pytest.mark.parametrize("choices", [[], [""], [" padded"]])
def test_bad_choices_are_rejected(choices) -> None:
    with pytest.raises(ValueError, match="choices"):
        ChoiceConstraint(choices)


def test_gbnf_parses_with_llama_cpp() -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    grammar = ChoiceConstraint(['say "hi"', "a\\b", *TYPES]).gbnf()
    assert llama_cpp.LlamaGrammar.from_string(grammar, verbose=False) is not None
