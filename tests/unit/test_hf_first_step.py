"""Answers fixed by their first token (HFBackend ``first_step_answers``) and
``Matcher.forced_rest``: the same texts as token-by-token greedy decoding, fewer decoded rows.

A grammar whose "none" sentence and mention prefix start with different letters makes the first
token decisive for some rows of a random tiny Llama and not for others, so both paths run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from fewner.backends.base import GenerationParams  # noqa: E402
from fewner.backends.hf import HFBackend  # noqa: E402
from fewner.decoding.constraint import Constraint  # noqa: E402
from fewner.decoding.grammar import AnswerGrammar  # noqa: E402
from tests.contract.backends_under_test import tiny_llama  # noqa: E402
from tests.unit.test_hf_prefix import SENTENCES, TYPES  # noqa: E402

GRAMMARS = [
    AnswerGrammar(prefix="found:", none="nothing here.", refusal=None),
    AnswerGrammar(),  # the shipped obp-llm answers: "The entities ..." vs "There are no ..."
]


@pytest.fixture(scope="module")
def model_and_tok(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    folder: Path = tiny_llama(tmp_path_factory.mktemp("firststep") / "tiny")
    tok = AutoTokenizer.from_pretrained(folder)
    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32), tok


def _prompts_and_constraints(grammar: AnswerGrammar) -> tuple[list[str], list[Constraint]]:
    prompts, cons = [], []
    for s in SENTENCES:
        for t in TYPES:
            prompts.append(f"Text: {s}\nEntities: {t}\n")
            cons.append(Constraint.for_text(s, grammar=grammar))
    return prompts, cons


def test_forced_rest_is_the_none_sentence_after_its_first_letter() -> None:
    grammar = AnswerGrammar(prefix="found:", none="nothing here.", refusal=None)
    matcher = Constraint.for_text("Ada met Kim .", grammar=grammar).matcher()
    assert matcher.forced_rest() is None  # "f..." or "n...": a choice
    assert matcher.copy().feed(b"n") and matcher.feed(b"no")
    assert matcher.forced_rest() == b"thing here."
    mention = Constraint.for_text("Ada met Kim .", grammar=grammar).matcher()
    assert mention.feed(b"found:") and mention.forced_rest() is None  # which mention: a choice
    done = Constraint.for_text("Ada met Kim .", grammar=grammar).matcher()
    assert done.feed(b"nothing here.") and done.forced_rest() == b""


@pytest.mark.parametrize("grammar", GRAMMARS, ids=["letters", "obp-llm"])
@pytest.mark.parametrize("prefix_sharing", [False, True], ids=["plain", "shared"])
def test_first_step_answers_equal_token_by_token_greedy(
    model_and_tok: tuple, grammar: AnswerGrammar, prefix_sharing: bool
) -> None:
    model, tok = model_and_tok
    fast = HFBackend.from_objects(model, tok, "tiny", batch_size=8, prefix_sharing=prefix_sharing)
    slow = HFBackend.from_objects(
        model, tok, "tiny", batch_size=8, prefix_sharing=prefix_sharing, first_step_answers=False
    )
    prompts, cons = _prompts_and_constraints(grammar)
    params = GenerationParams(max_new_tokens=24)
    expected = slow.generate(prompts, params, cons)
    assert fast.generate(prompts, params, cons) == expected
    assert slow.answered_at_first_step == 0
    if grammar.prefix == "found:":  # a decisive first letter: both kinds of rows occur
        answered = fast.answered_at_first_step
        assert 0 < answered < len(prompts), answered
        assert sum(t == grammar.none for t in expected) >= answered


def test_sampling_short_budgets_and_free_rows_decode_token_by_token(model_and_tok: tuple) -> None:
    model, tok = model_and_tok
    grammar = GRAMMARS[0]
    backend = HFBackend.from_objects(model, tok, "tiny", batch_size=8)
    reference = HFBackend.from_objects(model, tok, "tiny", batch_size=8, first_step_answers=False)
    prompts, cons = _prompts_and_constraints(grammar)
    backend.generate(prompts, GenerationParams(max_new_tokens=24, temperature=1.0, seed=3), cons)
    assert backend.answered_at_first_step == 0
    # an unconstrained row: its batch decodes token by token, the others may take the shortcut
    mixed = [None] + cons[1:]
    greedy = GenerationParams(max_new_tokens=24)
    assert backend.generate(prompts, greedy, mixed) == reference.generate(prompts, greedy, mixed)
    # a budget too short for the whole none sentence: generate() cuts it, as without the shortcut
    short = GenerationParams(max_new_tokens=3)
    cut = backend.generate(prompts, short, cons)
    assert cut == reference.generate(prompts, short, cons)
    assert grammar.none not in cut
