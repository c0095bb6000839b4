"""Loss terms on tiny hand-made tensors: values computed by hand, mask edge cases, config errors.

The model-level guarantee (gradients reach LoRA and nothing else) is the contract test
tests/contract/test_loss_gradients.py; here each formula is checked against arithmetic.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from fewner.errors import ConfigError  # noqa: E402
from fewner.train.capture import capture_outputs, decoder_layers, resolve_layer  # noqa: E402
from fewner.train.losses import (  # noqa: E402
    LOSSES,
    AttnContrastive,
    HiddenContrastive,
    build_loss_terms,
    forward_with_terms,
    total_loss,
)

MASKS = ("type_mask", "entity_mask", "boundary_mask", "other_entity_mask", "sentence_mask")


class _Attn(nn.Module):
    def __init__(self, head_dim: int) -> None:
        super().__init__()
        self.head_dim = head_dim
        self.q_proj = nn.Identity()
        self.k_proj = nn.Identity()


class _Block(nn.Module):
    def __init__(self, head_dim: int) -> None:
        super().__init__()
        self.self_attn = _Attn(head_dim)


class FakeLM(nn.Module):
    """Just enough structure for the terms' constructors: ``model.layers[i].self_attn``."""

    def __init__(self, n_layers: int = 3, head_dim: int = 2) -> None:
        super().__init__()
        self.model = nn.Module()
        self.model.layers = nn.ModuleList(_Block(head_dim) for _ in range(n_layers))
        self.config = SimpleNamespace(head_dim=head_dim)


def make_batch(rows: list[dict], width: int) -> dict[str, torch.Tensor]:
    """A batch from per-example dicts of position lists (``mentions`` is a list of lists)."""
    b = len(rows)
    batch = {k: torch.zeros(b, width, dtype=torch.bool) for k in MASKS}
    batch["entity_index"] = torch.full((b, width), -1, dtype=torch.long)
    batch["labels"] = torch.full((b, width), -100, dtype=torch.long)
    batch["weight"] = torch.tensor([r.get("weight", 1.0) for r in rows])
    for i, r in enumerate(rows):
        for key in ("type_mask", "boundary_mask", "other_entity_mask", "sentence_mask"):
            batch[key][i, r.get(key, [])] = True
        for k, mention in enumerate(r.get("mentions", [])):
            batch["entity_mask"][i, mention] = True
            batch["entity_index"][i, mention] = k
        for pos, label in r.get("labels", {}).items():
            batch["labels"][i, pos] = label
    return batch


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


# ----- nll ------------------------------------------------------------------------------------


def test_nll_per_example_mean_then_weighted_mean_over_examples():
    (nll,) = build_loss_terms([{"name": "nll"}], FakeLM())
    # vocab of 2; logits [0, ln 3] give p(1) = 3/4, p(0) = 1/4
    row = torch.tensor([0.0, math.log(3.0)])
    logits = row.expand(3, 4, 2).clone()
    batch = make_batch(
        [
            {"labels": {1: 1, 2: 0}, "weight": 2.0},  # two tokens: -ln 3/4, -ln 1/4
            {"labels": {3: 1}},  # one token: -ln 3/4
            {"labels": {}},  # nothing supervised: left out of the average
        ],
        width=4,
    )
    loss, logs = nll(batch, SimpleNamespace(logits=logits), {})
    ex0 = (math.log(4 / 3) + math.log(4)) / 2
    ex1 = math.log(4 / 3)
    assert loss.item() == pytest.approx((2.0 * ex0 + ex1) / 2, rel=1e-6)
    assert logs["nll/tokens"] == 3


def test_nll_reads_the_logit_before_each_label():
    (nll,) = build_loss_terms([{"name": "nll"}], FakeLM())
    logits = torch.zeros(1, 3, 2)
    logits[0, 1] = torch.tensor([0.0, math.log(3.0)])  # position 1 predicts the label at 2
    batch = make_batch([{"labels": {2: 1}}], width=3)
    loss, _ = nll(batch, SimpleNamespace(logits=logits), {})
    assert loss.item() == pytest.approx(math.log(4 / 3), rel=1e-6)


def test_nll_without_supervised_tokens_is_an_attached_zero():
    (nll,) = build_loss_terms([{"name": "nll"}], FakeLM())
    logits = torch.randn(2, 3, 5, requires_grad=True)
    loss, _ = nll(make_batch([{}, {}], width=3), SimpleNamespace(logits=logits), {})
    assert loss.item() == 0.0
    loss.backward()
    assert torch.count_nonzero(logits.grad) == 0


# ----- attn_contrastive ------------------------------------------------------------------------


def attn_inputs(term: AttnContrastive, q: torch.Tensor, k: torch.Tensor) -> dict[str, torch.Tensor]:
    (qn, _), (kn, _) = term.captures(FakeLM())
    return {qn: q, kn: k}


def test_attn_contrastive_hand_computed_with_gqa_head_mean():
    term = AttnContrastive(FakeLM(head_dim=2), layer=-1)
    # 2 query heads, 1 key head of dim 2; 4 tokens: type, left boundary, entity, right boundary
    q = torch.zeros(1, 4, 4)
    q[0, 0] = torch.tensor([1.0, 1.0, 1.0, -1.0])  # heads [1,1] and [1,-1] average to [1,0]
    k = torch.tensor([[[5.0, 5.0], [0.0, 3.0], [2.0, 0.0], [-4.0, 0.0]]])  # cos 0, 1, -1 vs [1,0]
    batch = make_batch([{"type_mask": [0], "mentions": [[2]], "boundary_mask": [1, 3]}], width=4)
    loss, logs = term(batch, None, attn_inputs(term, q, k))
    assert loss.item() == pytest.approx(softplus(-1.0 - 1.0), rel=1e-6)  # pos 1, neg 0 + (-1)
    assert logs["attn_contrastive/cos_pos"] == pytest.approx(1.0)
    assert logs["attn_contrastive/cos_neg"] == pytest.approx(-0.5)


def test_attn_contrastive_sums_over_tokens_and_averages_the_type_tokens():
    term = AttnContrastive(FakeLM(head_dim=2), layer=0)
    q = torch.zeros(1, 5, 2)
    q[0, 0] = torch.tensor([1.0, 0.0])
    q[0, 1] = torch.tensor([0.0, 1.0])  # type vector: mean [0.5, 0.5] -> 45 degrees
    k = torch.tensor([[[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 2.0]]])
    # a two-token entity (cos 1 and 1/sqrt2) at the end: only a left boundary (cos 1/sqrt2)
    batch = make_batch([{"type_mask": [0, 1], "mentions": [[2, 3]], "boundary_mask": [4]}], width=5)
    loss, _ = term(batch, None, attn_inputs(term, q, k))
    r = 1 / math.sqrt(2)
    assert loss.item() == pytest.approx(softplus(r - (1 + r)), rel=1e-6)

    mean_term = AttnContrastive(FakeLM(head_dim=2), layer=0, reduction="mean")
    loss, _ = mean_term(batch, None, attn_inputs(mean_term, q, k))
    assert loss.item() == pytest.approx(softplus(r - (1 + r) / 2), rel=1e-6)


def test_attn_contrastive_skips_examples_without_entities_and_applies_weights():
    term = AttnContrastive(FakeLM(head_dim=2))
    q = torch.zeros(3, 3, 2)
    q[:, 0] = torch.tensor([1.0, 0.0])
    k = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]).expand(3, 3, 2).clone()
    one_token = {"type_mask": [0], "mentions": [[1]], "boundary_mask": [2]}
    batch = make_batch(
        [{**one_token, "weight": 3.0}, {"type_mask": [0], "sentence_mask": [1, 2]}, one_token], 3
    )
    loss, logs = term(batch, None, attn_inputs(term, q, k))
    assert loss.item() == pytest.approx((3.0 + 1.0) * softplus(-1.0) / 2, rel=1e-6)
    assert logs["attn_contrastive/examples"] == 2


def test_attn_contrastive_without_entities_is_an_attached_zero():
    term = AttnContrastive(FakeLM(head_dim=2))
    q = torch.randn(2, 3, 2, requires_grad=True)
    k = torch.randn(2, 3, 2, requires_grad=True)
    batch = make_batch([{"type_mask": [0]}, {"type_mask": [0], "sentence_mask": [1, 2]}], 3)
    loss, _ = term(batch, None, attn_inputs(term, q, k))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.count_nonzero(q.grad) == 0 and torch.count_nonzero(k.grad) == 0


# ----- hidden_contrastive ----------------------------------------------------------------------


def hidden_outputs(layer_out: torch.Tensor, n_layers: int = 3) -> SimpleNamespace:
    """hidden_states as HF gives them: embeddings first, then one entry per layer."""
    return SimpleNamespace(hidden_states=tuple(layer_out for _ in range(n_layers + 1)))


def test_hidden_contrastive_hand_computed_infonce():
    term = HiddenContrastive(FakeLM(), temperature=1.0, noise=0.0, max_negatives=None)
    h = torch.tensor([[[9.0, 9.0], [1.0, 0.0], [3.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]])
    # token 0 is outside the sentence (not a negative); mention = tokens 1-2 (a one-word entity
    # would be one token: same code path); token 3 plain negative, token 4 another type's mention
    batch = make_batch(
        [{"mentions": [[1, 2]], "sentence_mask": [1, 2, 3, 4], "other_entity_mask": [4]}], width=5
    )
    loss, logs = term(batch, hidden_outputs(h), {})
    e = math.e
    assert loss.item() == pytest.approx(-math.log(e / (e + 1 + 1 / e)), rel=1e-6)
    assert logs["hidden_contrastive/sim_pos"] == pytest.approx(1.0)
    assert logs["hidden_contrastive/sim_neg"] == pytest.approx(-0.5)


def test_hidden_contrastive_averages_mentions_then_examples():
    term = HiddenContrastive(FakeLM(), temperature=0.5, noise=0.0, max_negatives=None)
    h = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]]).expand(2, 3, 2).clone()
    batch = make_batch(
        [
            {"mentions": [[0], [1]], "sentence_mask": [0, 1, 2]},  # one negative: token 2
            {"sentence_mask": [0, 1, 2]},  # no mention: contributes nothing
        ],
        width=3,
    )
    loss, logs = term(batch, hidden_outputs(h), {})
    # each mention: cos to token 2 is 1/sqrt2; positive cos 1
    r = 1 / math.sqrt(2)
    per_mention = -math.log(math.exp(1 / 0.5) / (math.exp(1 / 0.5) + math.exp(r / 0.5)))
    assert loss.item() == pytest.approx(per_mention, rel=1e-6)
    assert logs["hidden_contrastive/mentions"] == 2


def test_hidden_contrastive_entity_at_sentence_edges_and_no_negatives():
    term = HiddenContrastive(FakeLM(), noise=0.0)
    h = torch.randn(1, 4, 3)
    # the whole sentence is one mention: no negatives, the positive alone gives loss 0
    batch = make_batch([{"mentions": [[1, 2]], "sentence_mask": [1, 2]}], width=4)
    loss, _ = term(batch, hidden_outputs(h), {})
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_hidden_contrastive_negative_subsampling_is_bounded_and_seeded():
    term = HiddenContrastive(FakeLM(), max_negatives=2)
    batch = make_batch(
        [{"mentions": [[1]], "sentence_mask": list(range(1, 9)), "other_entity_mask": [7, 8]}], 10
    )
    torch.manual_seed(0)
    first = term._negatives(batch)
    torch.manual_seed(0)
    again = term._negatives(batch)
    assert torch.equal(first, again)
    plain = first & ~batch["other_entity_mask"]
    assert plain.sum() == 2  # two of the five plain sentence tokens 2..6
    assert not (plain & ~batch["sentence_mask"]).any() and not plain[0, 1]
    assert first[0, 7] and first[0, 8]  # other-type tokens are always negatives


def test_hidden_contrastive_noise_scale_is_relative_to_the_norm():
    term = HiddenContrastive(FakeLM(), noise=0.5, temperature=1.0)
    d = 4000
    h = torch.zeros(1, 3, d)
    h[0, 1] = 100.0 * torch.randn(d)  # a large norm: the noise scales with it
    batch = make_batch([{"mentions": [[1]], "sentence_mask": [1]}], width=3)
    torch.manual_seed(0)
    _, logs = term(batch, hidden_outputs(h), {})
    assert logs["hidden_contrastive/sim_pos"] == pytest.approx(1 / math.sqrt(1 + 0.25), abs=0.02)


def test_hidden_contrastive_reads_the_chosen_layer():
    term = HiddenContrastive(
        FakeLM(n_layers=3), layer=1, noise=0.0, temperature=1.0, max_negatives=None
    )
    good = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    states = (
        (torch.full((1, 2, 2), float("nan")),) * 2
        + (good,)
        + (torch.full((1, 2, 2), float("nan")),)
    )
    batch = make_batch([{"mentions": [[0]], "sentence_mask": [0, 1]}], width=2)
    loss, _ = term(batch, SimpleNamespace(hidden_states=states), {})
    assert loss.item() == pytest.approx(-math.log(math.e / (math.e + 1)), rel=1e-6)


# ----- building, combining, layers, capture ------------------------------------------------------


def test_registry_and_defaults():
    assert {"nll", "attn_contrastive", "hidden_contrastive"} <= set(LOSSES)
    terms = build_loss_terms(
        [{"name": "nll"}, {"name": "attn_contrastive"}, {"name": "hidden_contrastive", "layer": 1}],
        FakeLM(n_layers=30),
    )
    assert [t.weight for t in terms] == [1.0, 0.01, 0.001]
    assert terms[1].layer == 23  # 0.8 of 30 layers
    assert terms[2].spec() == {
        "name": "hidden_contrastive",
        "weight": 0.001,
        "layer": 1,
        "layer_index": 1,
        "temperature": 0.1,
        "noise": 0.1,
        "max_negatives": 32,
    }
    assert not terms[1].needs_hidden_states and terms[2].needs_hidden_states


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([], "non-empty list"),
        ({"name": "nll"}, "non-empty list"),
        ([{"weight": 1}], "with a 'name'"),
        ([{"name": "focal"}], "unknown term 'focal'"),
        ([{"name": "nll"}, {"name": "nll"}], "listed twice"),
        ([{"name": "attn_contrastive", "layers": 3}], "unknown option(s) layers"),
        ([{"name": "attn_contrastive", "layer": 7}], "out of range"),
        ([{"name": "attn_contrastive", "layer": 1.5}], "fraction"),
        ([{"name": "attn_contrastive", "reduction": "max"}], "reduction"),
        ([{"name": "hidden_contrastive", "temperature": 0}], "temperature"),
        ([{"name": "hidden_contrastive", "max_negatives": -1}], "max_negatives"),
        ([{"name": "nll", "weight": float("nan")}], "finite"),
    ],
)
def test_build_errors_are_config_errors(specs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_loss_terms(specs, FakeLM())


def test_total_loss_weights_each_term():
    model = FakeLM()
    terms = build_loss_terms(
        [{"name": "nll", "weight": 2.0}, {"name": "hidden_contrastive", "weight": 0.5}], model
    )
    logits = torch.zeros(1, 3, 2)
    h = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]])
    batch = make_batch([{"labels": {2: 0}, "mentions": [[0]], "sentence_mask": [0, 1]}], 3)
    outputs = SimpleNamespace(logits=logits, hidden_states=(h,) * 4)
    total, logs = total_loss(terms, batch, outputs, {})
    expected = 2.0 * logs["nll"] + 0.5 * logs["hidden_contrastive"]
    assert total.item() == pytest.approx(expected, rel=1e-6)
    assert logs["loss"] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("spec", "n", "index"),
    [
        (0.8, 30, 23),
        (0.8, 2, 1),
        (0.0, 5, 0),
        (1.0, 5, 4),
        (0.5, 4, 2),
        (1, 5, 1),
        (-1, 5, 4),
        (0, 1, 0),
    ],
)
def test_resolve_layer(spec, n, index):
    assert resolve_layer(spec, n) == index


@pytest.mark.parametrize("spec", [True, "0.8", 5, -6, -0.1])
def test_resolve_layer_rejects(spec):
    with pytest.raises(ConfigError):
        resolve_layer(spec, 5)


def test_decoder_layers_finds_the_stack_and_complains_otherwise():
    model = FakeLM(n_layers=4)
    assert decoder_layers(model) is model.model.layers
    with pytest.raises(ConfigError, match="decoder layers"):
        decoder_layers(nn.Sequential(nn.Linear(2, 2)))


def test_capture_outputs_records_one_pass_and_removes_hooks():
    lin = nn.Linear(2, 3)
    seq = nn.Sequential(lin, nn.ReLU())
    x = torch.randn(4, 2)
    with capture_outputs({"lin": lin}) as captured:
        seq(x)
    assert torch.equal(captured["lin"], lin(x))
    assert captured["lin"].grad_fn is not None  # kept with its autograd history
    assert not lin._forward_hooks
    with pytest.raises(RuntimeError, match="ran twice"):
        with capture_outputs([("lin", lin)]):
            seq(x)
            seq(x)
    assert not lin._forward_hooks  # removed on error too
    with pytest.raises(ValueError, match="duplicate"):
        with capture_outputs([("a", lin), ("a", seq)]):
            pass


def test_hidden_contrastive_without_mentions_is_an_attached_zero():
    term = HiddenContrastive(FakeLM())
    h = torch.randn(2, 4, 3, requires_grad=True)
    batch = make_batch(
        [{"sentence_mask": [0, 1, 2]}, {"sentence_mask": [1, 2], "other_entity_mask": [3]}], 4
    )
    loss, logs = term(batch, hidden_outputs(h), {})
    assert loss.item() == 0.0 and logs["hidden_contrastive/mentions"] == 0
    loss.backward()
    assert torch.count_nonzero(h.grad) == 0


class RecordingLM(FakeLM):
    """Records the keyword arguments of its forward pass; returns fixed logits and states."""

    def forward(self, **kwargs):
        self.kwargs = kwargs
        x = kwargs["input_ids"].float().unsqueeze(-1)
        hidden = torch.cat([x, torch.ones_like(x)], -1)
        return SimpleNamespace(logits=torch.zeros(*x.shape[:2], 5), hidden_states=(hidden,) * 4)


@pytest.mark.parametrize(
    ("names", "hidden"), [(["nll"], False), (["nll", "hidden_contrastive"], True)]
)
def test_forward_with_terms_asks_for_hidden_states_only_when_needed(names, hidden):
    model = RecordingLM()
    batch = make_batch([{"labels": {2: 1}, "mentions": [[1]], "sentence_mask": [0, 1, 2]}], 3)
    batch["input_ids"] = torch.tensor([[3, 4, 5]])
    batch["attention_mask"] = torch.ones(1, 3, dtype=torch.long)
    loss, logs = forward_with_terms(
        model, batch, build_loss_terms([{"name": n} for n in names], model)
    )
    assert model.kwargs["output_hidden_states"] is hidden and "labels" not in model.kwargs
    assert set(names) <= set(logs) and logs["loss"] == pytest.approx(loss.item())


def test_terms_and_objectives_are_registries():
    from fewner.registry import Registry
    from fewner.train.losses import NLL, OBJECTIVES, register_loss

    assert isinstance(LOSSES, Registry) and LOSSES["nll"] is NLL
    assert "nll" in LOSSES.names() and "dpo" in OBJECTIVES.names()
    assert OBJECTIVES["dpo"].__name__ == "DPOObjective"  # imported when first asked for
    with pytest.raises(ConfigError, match="unknown loss term 'focal'; known: attn_contrastive"):
        LOSSES["focal"]

    class Other(NLL):
        name = "nll"

    with pytest.raises(ValueError, match="registered twice"):
        register_loss(Other)
    assert LOSSES["nll"] is NLL

    class Scaled(NLL):
        name = "scaled_nll_for_test"

    try:  # a registered term is usable by its config name at once
        register_loss(Scaled)
        (term,) = build_loss_terms([{"name": "scaled_nll_for_test", "weight": 3}], FakeLM())
        assert isinstance(term, Scaled) and term.weight == 3.0
    finally:
        LOSSES.unregister("scaled_nll_for_test")
