"""THE loss contract: every registered loss term and objective trains the LoRA parameters and
nothing else.

Why this test exists: with TRL's ``SFTTrainer`` an extra loss term computed on outputs
recomputed under ``no_grad`` trained nothing, silently. Here, for each term in
:data:`fewner.train.losses.LOSSES` (a new term is covered by being registered), on
a tiny random Llama wrapped with LoRA by :func:`fewner.train.lora.wrap` (the ``obp-llm`` preset,
attention projections, and the ``cllmfs`` preset, attention + MLP), one forward pass through
:func:`~fewner.train.losses.forward_with_terms` and one backward give:

* a finite loss and non-zero gradients on the LoRA parameters (every LoRA tensor of the first
  decoder layer, which every term depends on, and ``lora_B`` already at peft's zero-B start);
* no gradient at all (``None``) on any base parameter;
* after an optimizer step over *all* parameters, only LoRA parameters changed (buffers too).

Batches come from the real training collate (:mod:`fewner.train.collate`) on sentences with
mentions of the asked type, of other types and of none.

Whole-step objectives (:data:`fewner.train.losses.OBJECTIVES`, e.g. ``dpo``) get the same
checks on batches of their own items (:data:`OBJECTIVE_BATCHES`: DPO's preference pairs of the
same sentences, with reference log-probs from the model as it starts); a newly registered
objective fails :func:`test_every_registered_objective_has_a_batch_here` until it gets one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from fewner.decoding.grammar import AnswerGrammar  # noqa: E402
from fewner.prompts import ExtractionFormat, PromptTemplate  # noqa: E402
from fewner.train.collate import build_examples, collate  # noqa: E402
from fewner.train.lora import PRESETS, wrap  # noqa: E402
from fewner.train.losses import (  # noqa: E402
    LOSSES,
    OBJECTIVES,
    build_loss_terms,
    forward_with_terms,
)
from fewner.types import Sentence  # noqa: E402
from tests.contract.backends_under_test import tiny_llama  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
TERM_SETS = [[name] for name in sorted(LOSSES)] + [sorted(LOSSES)]  # each alone, then all together

# Short prompts in the tiny tokenizer's alphabet (the CORPUS characters of backends_under_test).
TEMPLATE = PromptTemplate(
    name="contract",
    version="1",
    preamble="",
    instruction="Entities: {type}, {definition}.\n",
    input="Text: {sentence}\n",
    response="Answer:",
    grammar=AnswerGrammar(prefix="Answer", open=" <<< ", close=" >>>", none="none"),
)
DEFINITIONS = {"person": "a person", "location": "a place", "organization": "a company"}
SENTENCES = [
    Sentence.from_words(
        "Barack Obama visited Paris and Berlin in 2009 .".split(),
        [(0, 2, "person"), (3, 4, "location"), (5, 6, "location")],
        id="s1",
    ),
    Sentence.from_words(
        "Apple and Google are companies in California .".split(),
        [(0, 1, "organization"), (2, 3, "organization"), (6, 7, "location")],
        id="s2",
    ),
    Sentence.from_words("The quick brown fox jumps over the lazy dog .".split(), [], id="s3"),
]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    return tiny_llama(tmp_path_factory.mktemp("loss-contract") / "tiny-llama")


@pytest.fixture(scope="module")
def tokenizer(tiny_folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_folder)


@pytest.fixture(scope="module")
def batch(tokenizer) -> dict[str, torch.Tensor]:
    fmt = ExtractionFormat(TEMPLATE, DEFINITIONS)
    examples = build_examples(SENTENCES, list(DEFINITIONS), fmt, tokenizer).examples
    out = collate(examples, tokenizer.pad_token_id)
    # what the contrastive terms need is really there: mentions, boundaries, "none" prompts
    assert out["entity_mask"].any(1).sum() >= 4 and (~out["entity_mask"].any(1)).any()
    assert (
        out["boundary_mask"].any()
        and out["other_entity_mask"].any()
        and out["type_mask"].any(1).all()
    )
    return out


def lora_model(folder: Path, preset: str, device: str, *, random_b: bool = True, seed: int = 0):
    """The tiny Llama with LoRA; ``random_b`` draws ``lora_B`` too (peft starts it at zero, where
    ``lora_A`` gets no gradient), so that every LoRA tensor can be checked."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = wrap(AutoModelForCausalLM.from_pretrained(folder), PRESETS[preset])
    if random_b:
        for name, param in model.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(param, std=0.05)
    return model.to(device).train()


def is_lora(name: str) -> bool:
    return "lora_" in name


def first_layer_lora(model) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if is_lora(n) and ".layers.0." in n}


def on(batch: dict[str, torch.Tensor], device: str) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


def check_gradients(model) -> None:
    """No base parameter has a gradient; LoRA gradients are finite and those of layer 0 non-zero."""
    base_with_grad = [
        n for n, p in model.named_parameters() if not is_lora(n) and p.grad is not None
    ]
    assert base_with_grad == []
    lora = {n: p for n, p in model.named_parameters() if is_lora(n)}
    assert lora and all(p.requires_grad for p in lora.values())
    assert all(torch.isfinite(p.grad).all() for p in lora.values() if p.grad is not None)
    dead = [n for n, p in first_layer_lora(model).items() if p.grad is None or not p.grad.any()]
    assert dead == []


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("preset", ["obp-llm", "cllmfs"])
@pytest.mark.parametrize("names", TERM_SETS, ids="+".join)
def test_every_term_trains_lora_and_nothing_else(tiny_folder, batch, names, preset, device):
    model = lora_model(tiny_folder, preset, device)
    terms = build_loss_terms([{"name": n} for n in names], model)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}

    loss, logs = forward_with_terms(model, on(batch, device), terms)
    assert torch.isfinite(loss) and set(names) <= set(logs)
    loss.backward()
    check_gradients(model)

    # an optimizer given every parameter (weight decay included) still moves only LoRA ones
    torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1).step()
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(is_lora(k) for k in changed), sorted(changed)[:5]
    first = {k for k in before if is_lora(k) and ".layers.0." in k}
    assert first <= changed


@pytest.mark.parametrize("names", TERM_SETS, ids="+".join)
def test_every_term_reaches_lora_b_from_peft_zero_init(tiny_folder, batch, names):
    """The realistic first step: with ``lora_B = 0`` the B matrices must already get gradient."""
    model = lora_model(tiny_folder, "obp-llm", "cpu", random_b=False)
    loss, _ = forward_with_terms(
        model, batch, build_loss_terms([{"name": n} for n in names], model)
    )
    loss.backward()
    b_grads = {n: p.grad for n, p in first_layer_lora(model).items() if "lora_B" in n}
    assert b_grads and all(g is not None and g.any() for g in b_grads.values())
    assert all(p.grad is None for n, p in model.named_parameters() if not is_lora(n))


def test_attn_contrastive_reads_the_lora_wrapped_projections_of_its_layer(tiny_folder, batch):
    """Gradient reaches q/k LoRA of the chosen layer (the hooked outputs include the LoRA delta)
    and not v/o of that layer, which cannot influence its Q and K."""
    model = lora_model(tiny_folder, "obp-llm", "cpu")
    (term,) = build_loss_terms([{"name": "attn_contrastive", "layer": -1}], model)
    loss, _ = forward_with_terms(model, batch, [term])
    loss.backward()
    last = f".layers.{term.layer}.self_attn."
    grads = {
        n.split(last)[1]: p.grad for n, p in model.named_parameters() if last in n and is_lora(n)
    }
    for proj in ("q_proj", "k_proj"):
        assert all(g is not None and g.any() for n, g in grads.items() if n.startswith(proj))
    for proj in ("v_proj", "o_proj"):
        assert all(g is None for n, g in grads.items() if n.startswith(proj))


@pytest.mark.parametrize("device", DEVICES)
def test_terms_under_autocast(tiny_folder, batch, device):
    """Mixed precision (bf16 autocast) keeps the terms finite and training LoRA only."""
    model = lora_model(tiny_folder, "cllmfs", device)
    terms = build_loss_terms([{"name": n} for n in sorted(LOSSES)], model)
    with torch.autocast(device, dtype=torch.bfloat16):
        loss, _ = forward_with_terms(model, on(batch, device), terms)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    check_gradients(model)


def test_hooks_are_gone_after_the_step(tiny_folder, batch):
    model = lora_model(tiny_folder, "obp-llm", "cpu")
    terms = build_loss_terms([{"name": n} for n in sorted(LOSSES)], model)
    forward_with_terms(model, batch, terms)
    # (transformers leaves its own output-capturing hooks installed; ours must be gone)
    hooks = [h for m in model.modules() for h in m._forward_hooks.values()]
    assert not [h for h in hooks if "capture_outputs" in h.__qualname__]


# ----- whole-step objectives -----------------------------------------------------------------


def dpo_batch(tokenizer, model) -> dict[str, torch.Tensor]:
    """Boundary-shifted preference pairs of SENTENCES with ``model``'s reference log-probs."""
    from fewner.train.dpo import collate_pairs, encode_pair, reference_logps
    from fewner.train.pairs import boundary_pairs

    fmt = ExtractionFormat(TEMPLATE, DEFINITIONS)
    pairs = boundary_pairs(SENTENCES, list(DEFINITIONS), fmt, per_example=1, seed=0).pairs
    assert len(pairs) >= 3
    encoded = [encode_pair(fmt, tokenizer, p) for p in pairs[:4]]
    encoded = reference_logps(model, encoded, tokenizer.pad_token_id)
    return collate_pairs(encoded, tokenizer.pad_token_id)


#: How this contract builds a batch for each registered objective.
OBJECTIVE_BATCHES = {"dpo": dpo_batch}


def test_every_registered_objective_has_a_batch_here():
    assert set(OBJECTIVES.names()) == set(OBJECTIVE_BATCHES)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("preset", ["obp-llm", "cllmfs"])
@pytest.mark.parametrize("name", OBJECTIVES.names())
def test_every_objective_trains_lora_and_nothing_else(tiny_folder, tokenizer, name, preset, device):
    model = lora_model(tiny_folder, preset, device)
    batch = OBJECTIVE_BATCHES[name](tokenizer, model)
    objective = OBJECTIVES[name]()
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}

    loss, logs = objective(model, on(batch, device))
    assert torch.isfinite(loss) and loss.requires_grad and "loss" in logs
    loss.backward()
    check_gradients(model)

    torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1).step()
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(is_lora(k) for k in changed), sorted(changed)[:5]
    assert {k for k in before if is_lora(k) and ".layers.0." in k} <= changed


@pytest.mark.parametrize("name", OBJECTIVES.names())
def test_every_objective_reaches_lora_b_from_peft_zero_init(tiny_folder, tokenizer, name):
    model = lora_model(tiny_folder, "obp-llm", "cpu", random_b=False)
    loss, _ = OBJECTIVES[name]()(model, OBJECTIVE_BATCHES[name](tokenizer, model))
    loss.backward()
    b_grads = {n: p.grad for n, p in first_layer_lora(model).items() if "lora_B" in n}
    assert b_grads and all(g is not None and g.any() for g in b_grads.values())
    assert all(p.grad is None for n, p in model.named_parameters() if not is_lora(n))
