"""Training examples and batches: labels, EOS, padding and the position masks the terms use."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from fewner.prompts import ExtractionFormat, load_template  # noqa: E402
from fewner.train.collate import (  # noqa: E402
    BATCH_KEYS,
    SKIP_TOO_LONG,
    build_examples,
    collate,
    encode_example,
    render_with_offsets,
)
from fewner.types import Sentence  # noqa: E402
from tests.unit.train_tiny import mini_sentences, tiny_causal_lm  # noqa: E402

TYPES = ["PER", "LOC", "ORG", "MISC"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory):
    return AutoTokenizer.from_pretrained(tiny_causal_lm(tmp_path_factory.mktemp("tiny")))


@pytest.fixture(scope="module")
def fmt() -> ExtractionFormat:
    return ExtractionFormat("obp-llm", "conll2003")


def _text(tokenizer, ids) -> str:
    return tokenizer.decode(list(ids))


@pytest.mark.parametrize("template", ["obp-llm", "cllmfs"])
@pytest.mark.parametrize("layout", ["type_first", "sentence_first"])
def test_render_with_offsets_agrees_with_the_format(template: str, layout: str) -> None:
    fmt = ExtractionFormat(load_template(template, layout=layout), "conll2003")
    sentence = mini_sentences()[2]
    rendered = render_with_offsets(fmt, sentence, "LOC")
    assert rendered.text == fmt.prompt(sentence, "LOC")
    a, b = rendered.sentence_range
    assert rendered.text[a:b] == sentence.text
    a, b = rendered.type_range
    assert rendered.text[a:b] == "LOC"
    # the first occurrence: the type also appears later, in "The entity of LOC refers to"
    assert rendered.text.find("LOC") == a


def test_type_range_uses_the_prompt_spelling_of_a_fewnerd_type() -> None:
    fmt = ExtractionFormat("obp-llm", "fewnerd")
    sentence = Sentence.from_words(["Tom", "Hanks"], [(0, 2, "person_actor")], id="x")
    rendered = render_with_offsets(fmt, sentence, "person_actor")
    a, b = rendered.type_range
    assert rendered.text[a:b] == "person-actor"


def test_example_supervises_the_answer_and_eos_only(tokenizer, fmt) -> None:
    sentence = mini_sentences()[2]
    example = encode_example(fmt, tokenizer, sentence, "LOC")
    batch = collate([example], tokenizer.pad_token_id)
    labels = batch["labels"][0]
    supervised = labels != -100
    assert not supervised[: example.prompt_length].any()
    assert supervised[example.prompt_length :].all()
    assert labels[-1].item() == tokenizer.eos_token_id  # the end of the answer is learned
    answer = _text(tokenizer, labels[supervised][:-1].tolist())
    assert answer == fmt.target(sentence, "LOC")
    prompt = _text(tokenizer, example.input_ids[: example.prompt_length])
    assert prompt == fmt.prompt(sentence, "LOC")


def test_masks_point_at_type_sentence_and_mentions(tokenizer, fmt) -> None:
    sentence = mini_sentences()[2]  # Zürich vs São Paulo in Brazil: three LOC mentions
    example = encode_example(fmt, tokenizer, sentence, "LOC")
    ids = example.input_ids
    assert _text(tokenizer, [ids[i] for i in example.type_positions]).strip() == "LOC"
    assert _text(tokenizer, [ids[i] for i in example.sentence_positions]).strip() == sentence.text
    mentions = [_text(tokenizer, [ids[i] for i in m]).strip() for m in example.mentions]
    assert mentions == ["Zürich", "São Paulo", "Brazil"]
    in_mentions = {p for m in example.mentions for p in m}
    assert not in_mentions & set(example.boundary)
    assert all(p < example.prompt_length for p in example.boundary)
    # left of Zürich: the newline after "### Input:"; " vs" and " in" are shared by two mentions
    words = [_text(tokenizer, [ids[i]]).strip() for i in example.boundary]
    assert len(example.boundary) == 4 and words[1:3] == ["vs", "in"]
    assert example.boundary[0] == example.mentions[0][0] - 1
    assert example.boundary[-1] == example.mentions[-1][-1] + 1
    assert example.other == ()


def test_other_types_and_boundaries_between_mentions(tokenizer, fmt) -> None:
    sentence = mini_sentences()[0]  # EU(ORG) rejects German(MISC) call .
    example = encode_example(fmt, tokenizer, sentence, "ORG")
    ids = example.input_ids
    assert [_text(tokenizer, [ids[i] for i in m]).strip() for m in example.mentions] == ["EU"]
    assert _text(tokenizer, [ids[i] for i in example.other]).strip() == "German"
    right = _text(tokenizer, [ids[example.boundary[-1]]]).strip()
    assert "rejects".startswith(right) and right  # the first token of " rejects"


def test_collate_shapes_padding_and_index(tokenizer, fmt) -> None:
    examples = build_examples(mini_sentences(), TYPES, fmt, tokenizer).examples
    batch = collate(examples[:5], tokenizer.pad_token_id)
    assert set(batch) == set(BATCH_KEYS)
    width = max(len(e) for e in examples[:5])
    for key in BATCH_KEYS:
        expected = (5,) if key == "weight" else (5, width)
        assert tuple(batch[key].shape) == expected, key
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    for row, e in enumerate(examples[:5]):
        n = len(e)
        assert batch["attention_mask"][row, :n].all() and not batch["attention_mask"][row, n:].any()
        assert (batch["input_ids"][row, n:] == tokenizer.pad_token_id).all()  # right padding
        assert (batch["labels"][row, n:] == -100).all()
        index = batch["entity_index"][row]
        assert ((index >= 0) == batch["entity_mask"][row]).all()
        assert int(index.max()) == len(e.mentions) - 1
    assert batch["type_mask"].dtype == torch.bool and batch["entity_index"].dtype == torch.long
    assert batch["weight"].tolist() == [1.0] * 5


def test_build_examples_asks_every_type_and_skips_long_ones(tokenizer, fmt) -> None:
    sentences = mini_sentences()
    full = build_examples(sentences, TYPES, fmt, tokenizer)
    assert len(full) == len(sentences) * len(TYPES)
    assert [(e.sentence_id, e.entity_type) for e in full.examples[:4]] == [("s0", t) for t in TYPES]
    none_answer = [e for e in full.examples if not e.mentions]
    assert none_answer  # "none" examples are kept: the model must learn to say none
    limit = sorted(len(e) for e in full.examples)[len(full) // 2]
    cut = build_examples(sentences, TYPES, fmt, tokenizer, max_length=limit)
    assert all(len(e) <= limit for e in cut.examples)
    assert cut.skipped[SKIP_TOO_LONG] == len(full) - len(cut)
    assert cut.skipped[SKIP_TOO_LONG] > 0


def test_negatives_caps_the_absent_types_asked_and_keeps_every_present_one(tokenizer, fmt) -> None:
    sentences = mini_sentences()
    for cap in (0, 1, 2):
        some = build_examples(sentences, TYPES, fmt, tokenizer, negatives=cap, seed=3)
        for sentence in sentences:
            present = {s.label for s in sentence.spans}
            asked = [e.entity_type for e in some.examples if e.sentence_id == sentence.id]
            assert present <= set(asked)  # every mention's type is still taught
            assert len(set(asked) - present) == min(cap, len(set(TYPES) - present))
            assert asked == [t for t in TYPES if t in asked]  # the types' order is kept
        assert some.skipped["absent types not asked (negatives)"] == len(sentences) * len(TYPES) - len(some)
    again = build_examples(sentences, TYPES, fmt, tokenizer, negatives=1, seed=3)
    assert [(e.sentence_id, e.entity_type) for e in again.examples] == [
        (e.sentence_id, e.entity_type) for e in build_examples(sentences, TYPES, fmt, tokenizer, negatives=1,
                                                               seed=3).examples]
    everything = build_examples(sentences, TYPES, fmt, tokenizer, negatives=None)
    assert len(everything) == len(sentences) * len(TYPES) and not everything.skipped


def test_missing_definition_is_reported_before_encoding(tokenizer, fmt) -> None:
    from fewner.prompts import MissingDefinitionError

    with pytest.raises(MissingDefinitionError, match="alien"):
        build_examples(mini_sentences(), ["PER", "alien"], fmt, tokenizer)


@pytest.mark.slow
def test_smollm2_tokenizer_masks(shared_data: Path) -> None:
    """The real tokenizer: byte-level tokens with leading spaces map to the right mentions."""
    from fewner.data.io import read_corpus
    from fewner.errors import ModelNotAvailableError
    from fewner.models import hf_path

    try:
        tok = AutoTokenizer.from_pretrained(hf_path("smollm2-135m-instruct"))
    except ModelNotAvailableError as err:
        pytest.skip(str(err))
    fmt = ExtractionFormat("obp-llm", "wnut17")
    corpus = read_corpus(shared_data / "domain_transfer_support_sets/samples-wnut-5shot/0.txt")
    types = ["corporation", "creative-work", "group", "location", "person", "product"]
    result = build_examples(corpus.sentences, types, fmt, tok)
    assert len(result) == len(corpus) * len(types) and not result.skipped
    by_key = {(e.sentence_id, e.entity_type): e for e in result.examples}
    for sentence in corpus.sentences:
        for t in types:
            e = by_key[(sentence.id, t)]
            gold = [sentence.mention(s) for s in sorted(sentence.spans) if s.label == t]
            got = [tok.decode([e.input_ids[i] for i in m]) for m in e.mentions]
            assert len(got) == len(gold)
            for g, d in zip(gold, got, strict=True):  # tokens may carry a leading space
                assert g in d and len(d.strip()) <= len(g) + 2, (g, d)
            assert e.input_ids[-1] == tok.eos_token_id
