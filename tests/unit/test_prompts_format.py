"""ExtractionFormat: one object builds prompts, targets, parsing and the constraint."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fewner.prompts import ExtractionFormat, MissingDefinitionError, load_template
from fewner.types import Sentence

SENTENCE = Sentence.from_words(
    "Starring Adam Sandler , shown on CTV Television Network .".split(),
    [(1, 3, "person-actor"), (6, 9, "organization-media/newspaper")],
    id="s1",
)


def test_prompts_in_given_order_with_definitions() -> None:
    fmt = ExtractionFormat("obp-llm-v1", "fewnerd")
    prompts = fmt.prompts(SENTENCE, ["person-actor", "art-film"])
    assert [t for t, _ in prompts] == ["person-actor", "art-film"]
    assert (
        "The entity of art-film refers to a specific film or movie in the input sentence."
        in prompts[1][1]
    )
    assert all(
        p.endswith("### Input:\n" + SENTENCE.text + "\n\n### Response:\n") for _, p in prompts
    )


def test_missing_definitions_reported_together_before_any_prompt() -> None:
    fmt = ExtractionFormat("obp-llm-v1", {"person-actor": "an actor"})
    with pytest.raises(MissingDefinitionError) as err:
        fmt.prompts(SENTENCE, ["person-actor", "art-film", "art-music"])
    assert err.value.missing == ("art-film", "art-music")


@pytest.mark.parametrize("template", ["obp-llm-v1", "cllmfs-v1"])
def test_examples_targets_parse_and_constraint_agree(template: str) -> None:
    fmt = ExtractionFormat(load_template(template, layout="sentence_first"), "fewnerd")
    examples = fmt.examples(SENTENCE, ["person-actor", "organization-media/newspaper", "art-film"])
    constraint = fmt.constraint(SENTENCE)
    assert constraint.grammar is fmt.grammar is fmt.template.grammar
    for entity_type, prompt, target in examples:
        assert prompt == fmt.prompt(SENTENCE, entity_type)
        assert constraint.accepts(target)
        gold = tuple(s for s in SENTENCE.spans if s.label == entity_type)
        assert fmt.parse(target, SENTENCE, entity_type).spans == gold
    assert "<<< CTV Television Network >>>" in examples[1][2]
    assert examples[2][2] == fmt.grammar.none


def test_prompts_package_imports_no_torch() -> None:
    code = "import sys, fewner.prompts; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
