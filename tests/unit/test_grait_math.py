"""GRAIT's arithmetic: the split, the projection, the greedy selection, the weights, THS, config."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from fewner.errors import ConfigError  # noqa: E402
from fewner.eval.refusal import prompt_outcomes, truthful_helpfulness  # noqa: E402
from fewner.grait.gradients import CountSketch  # noqa: E402
from fewner.grait.selection import influences, resolve_count, select_unknown  # noqa: E402
from fewner.grait.split import split_prompts  # noqa: E402
from fewner.grait.weights import adaptive_weights, uniform_weights  # noqa: E402
from fewner.train.config import parse_config  # noqa: E402
from fewner.types import Sentence  # noqa: E402

# ----- split ---------------------------------------------------------------------------------


def test_split_threshold_edges() -> None:
    split = split_prompts([0.0, 0.4, 0.5, 0.6, 1.0, 0.49999], threshold=0.5)
    assert split.known == (2, 3, 4) and split.unknown == (0, 1, 5)
    assert split_prompts([1.0, 0.8], threshold=1.0) == split_prompts([1.0, 0.8], 1.0)
    assert split_prompts([1.0, 0.8], threshold=1.0).known == (0,)
    assert split_prompts([], 0.5).known == () and split_prompts([], 0.5).unknown == ()
    with pytest.raises(ValueError, match="threshold"):
        split_prompts([0.5], threshold=0.0)


# ----- projection ----------------------------------------------------------------------------


def test_projection_shape_and_determinism() -> None:
    g = torch.randn(3, 1000, generator=torch.Generator().manual_seed(1))
    a, b = CountSketch(1000, 64, seed=7), CountSketch(1000, 64, seed=7)
    assert a(g).shape == (3, 64) and a(g[0]).shape == (64,)
    assert torch.equal(a(g), b(g)) and torch.equal(a(g), a(g))
    assert torch.allclose(a(g)[1], a(g[1]))  # a row of a batch == the vector alone
    assert not torch.equal(a(g), CountSketch(1000, 64, seed=8)(g))
    with pytest.raises(ValueError, match="length"):
        a(torch.zeros(999))


def test_projection_is_linear_and_roughly_preserves_inner_products() -> None:
    gen = torch.Generator().manual_seed(0)
    n, dim = 50_000, 4096
    base = torch.randn(n, generator=gen)
    x = base + 0.7 * torch.randn(n, generator=gen)
    y = base + 0.7 * torch.randn(n, generator=gen)
    z = torch.randn(n, generator=gen)
    sketch = CountSketch(n, dim, seed=3)
    assert torch.allclose(sketch(2 * x + z), 2 * sketch(x) + sketch(z), atol=1e-3)

    def cos(a, b):
        return float(a @ b / (a.norm() * b.norm()))

    assert cos(sketch(x), sketch(y)) == pytest.approx(cos(x, y), abs=0.05)  # ~0.67
    assert cos(sketch(x), sketch(z)) == pytest.approx(cos(x, z), abs=0.05)  # ~0
    assert float(sketch(x).norm() ** 2) == pytest.approx(float(x.norm() ** 2), rel=0.1)


# ----- selection -----------------------------------------------------------------------------


def _vec(*values: float) -> list[float]:
    return list(values)


def test_selection_prefers_aligned_refusals_without_conflict() -> None:
    known = torch.tensor([_vec(1, 0, 0, 0), _vec(1, 0.1, 0, 0)])
    unknown = torch.tensor(
        [
            _vec(-1, 1, 0, 0),  # 0: conflicts with the known answers
            _vec(0.5, 1, 0, 0),  # 1: aligned with the unknown set and with known: best
            _vec(0, 1, 0, 0),  # 2: aligned with the unknown set
            _vec(0, 0, 0, 1),  # 3: unrelated to everything
        ]
    )
    chosen, scores = select_unknown(unknown, known, 2)
    assert chosen[0] == 1 and len(chosen) == 2 and len(set(chosen)) == 2
    assert 0 not in chosen
    assert scores[0] >= scores[1]
    influence, conflict = influences(unknown, known)
    assert conflict[0] > 0 > conflict[1]  # refusing 0 raises the known answers' loss


def test_selection_keeps_the_chosen_set_diverse() -> None:
    unknown = torch.tensor(
        [_vec(1, 0, 0), _vec(1, 0, 0), _vec(0.9, 0.1, 0), _vec(0.6, 0, 0.8), _vec(0.6, 0.8, 0)]
    )
    known = torch.zeros(0, 3)
    first, _ = select_unknown(unknown, known, 1)
    chosen, _ = select_unknown(unknown, known, 3)
    assert chosen[0] == first[0]
    # after one of the duplicates, the redundancy term prefers a different direction
    assert {chosen[1], chosen[2]} & {3, 4}


def test_selection_count_respected_and_zero() -> None:
    unknown = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    known = torch.randn(4, 5, generator=torch.Generator().manual_seed(1))
    for count in (0, 1, 3, 6, 10):
        chosen, scores = select_unknown(unknown, known, count)
        assert len(chosen) == min(count, 6) == len(scores) and len(set(chosen)) == len(chosen)
    assert select_unknown(unknown, known, 4) == select_unknown(unknown, known, 4)
    assert resolve_count(None, 7) == 7 and resolve_count(0, 7) == 0 and resolve_count(3, 7) == 3
    assert resolve_count(0.5, 7) == 4 and resolve_count(0.01, 7) == 1 and resolve_count(20, 7) == 7
    assert resolve_count(0.5, 0) == 0


# ----- weights -------------------------------------------------------------------------------


def test_adaptive_weights_softmax_mean_one_and_temperature() -> None:
    infl = torch.tensor([0.2, 0.1, 0.3])
    conflict = torch.tensor([0.0, 0.0, 0.25])
    w = adaptive_weights(infl, conflict, temperature=0.05)
    a = (infl - conflict) / 0.05
    expected = torch.softmax(a.double(), 0) * 3
    assert torch.allclose(w.double(), expected, atol=1e-6)
    assert float(w.mean()) == pytest.approx(1.0, abs=1e-6)
    # the sample whose refusal conflicts with the known answers weighs least
    assert int(torch.argmin(w)) == 2 and float(w[2]) < 1.0
    hot = adaptive_weights(infl, conflict, temperature=100.0)
    assert torch.allclose(hot, torch.ones(3), atol=1e-3)  # high temperature: nearly uniform
    cold = adaptive_weights(infl, conflict, temperature=0.001)
    assert float(cold.max()) == pytest.approx(3.0, abs=1e-3)  # low: all weight on the best
    assert adaptive_weights(torch.zeros(0), torch.zeros(0)).numel() == 0
    assert torch.equal(uniform_weights(2), torch.ones(2))
    with pytest.raises(ValueError):
        adaptive_weights(infl, conflict, temperature=0.0)


# ----- outcomes and THS ----------------------------------------------------------------------


def test_prompt_outcomes_and_ths() -> None:
    gold = [
        Sentence.from_words(["Peter", "in", "Paris"], [(0, 1, "PER"), (2, 3, "LOC")], id="a"),
        Sentence.from_words(["The", "end"], [], id="b"),
    ]
    pred = [
        gold[0].with_spans([gold[0].spans[1]]),  # LOC right, PER missed (but refused below)
        gold[1].with_spans(gold[0].token_span_to_char(0, 1, "LOC") for _ in [0]),
    ]
    out = prompt_outcomes(gold, pred, ["PER", "LOC"], {"a": ["PER"]})
    # a/PER refused, a/LOC correct, b/PER correct (none = none), b/LOC wrong
    assert (out.prompts, out.correct, out.wrong, out.refused) == (4, 2, 1, 1)
    assert out.correct_rate + out.wrong_rate + out.refused_rate == pytest.approx(1.0)
    assert truthful_helpfulness(0.3, 0.2, 0.3, 0.2) == pytest.approx(0.0)  # the baseline
    assert truthful_helpfulness(1.0, 0.0, 0.3, 0.2) == pytest.approx(1.0)  # the ideal
    assert truthful_helpfulness(0.3, 0.1, 0.3, 0.2) == pytest.approx((0.3 * 0.2 - 0.1 * 0.3) / 0.2)
    assert truthful_helpfulness(0.5, 0.1, 0.5, 0.0) is None
    with pytest.raises(ValueError):
        prompt_outcomes(gold, pred[:1], ["PER"])


# ----- config --------------------------------------------------------------------------------


def _stage(**extra):
    return {"stages": {"r": {"data": {"path": "x.txt"}, **extra}}}


def test_config_grait_stage_defaults_and_errors() -> None:
    config = parse_config(_stage(kind="grait"))
    spec = config.stages["r"]
    assert spec.loop.lr == 2e-4 and spec.loss == [{"name": "nll"}]
    assert spec.settings is not None and spec.settings.samples == 4
    assert spec.settings.select is None and spec.settings.weights == "uniform"
    assert not spec.settings.needs_gradients
    assert (
        parse_config(_stage(kind="grait", refusal={"select": 0.5}))
        .stages["r"]
        .settings.needs_gradients
    )
    bad = [
        ({"kind": "sft", "refusal": {}}, "only a kind: grait"),
        ({"kind": "grait", "refusal": {"threshold": 0}}, "threshold"),
        ({"kind": "grait", "refusal": {"weights": "fancy"}}, "weights"),
        ({"kind": "grait", "refusal": {"select": -1}}, "select"),
        ({"kind": "grait", "refusal": {"select": 2.5}}, "whole number"),
        ({"kind": "grait", "refusal": {"weight_temperature": 0}}, "weight_temperature"),
        ({"kind": "grait", "refusal": {"samples": 2, "temperature": 0}}, "temperature"),
        ({"kind": "grait", "refusal": {"projection_dim": 0}}, "projection_dim"),
        ({"kind": "grait", "refusal": {"sample": 2}}, "sample"),
    ]
    for extra, message in bad:
        with pytest.raises(ConfigError, match=message):
            parse_config(_stage(**extra))


def test_config_data_skip() -> None:
    config = parse_config({"stages": {"r": {"data": {"path": "x.txt", "skip": 100, "limit": 5}}}})
    assert config.stages["r"].data.skip == 100
    with pytest.raises(ConfigError, match="skip"):
        parse_config({"stages": {"r": {"data": {"path": "x.txt", "skip": -1}}}})
    assert math.isclose(parse_config(_stage()).stages["r"].data.skip, 0)
