"""Blending schedules (fewner.distill.schedules) and how the trainer applies them."""

from __future__ import annotations

import math

import pytest

from fewner.distill.schedules import PAPER_VARIANTS, SCHEDULES, make_schedule, weights_over
from fewner.distill.trainer import DISTILLED, ORIGINAL, epoch_plan
from fewner.errors import ConfigError

EPOCHS = (1, 2, 5, 10, 21)


@pytest.mark.parametrize("variant", PAPER_VARIANTS, ids=lambda v: make_schedule(v).label)
@pytest.mark.parametrize("total", EPOCHS)
def test_every_variant_is_a_valid_non_increasing_blend(variant, total):
    schedule = make_schedule(variant)
    weights = weights_over(schedule, total)
    assert len(weights) == total
    for wd, wo in weights:
        assert 0.0 <= wd <= 1.0 and 0.0 <= wo <= 1.0
        if schedule.name == "full_blend":
            assert (wd, wo) == (1.0, 1.0)
        else:
            assert math.isclose(wd + wo, 1.0)
    w0 = [w[0] for w in weights]
    assert all(a >= b - 1e-12 for a, b in zip(w0, w0[1:], strict=False))


def test_every_registered_schedule_is_in_the_paper_variants():
    assert {v["name"] for v in PAPER_VARIANTS} == set(SCHEDULES)


def test_formulas_at_known_points():
    T = 11  # p = t / 10
    assert weights_over(make_schedule("simple_mix"), 4) == [(1, 0), (1, 0), (0, 1), (0, 1)]
    assert [w for w, _ in weights_over(make_schedule("simple_mix"), 5)] == [1, 1, 1, 0, 0]
    for k in (2, 4, 8, 16, 32):
        s = make_schedule({"name": "sigmoid", "k": k})
        assert math.isclose(s(5, T)[0], 0.5)
        assert math.isclose(s(0, T)[0], 1 / (1 + math.exp(-k / 2)))
        assert math.isclose(s(0, T)[0] + s(10, T)[0], 1.0)  # symmetric about the middle
    cos = make_schedule("cosine")
    assert math.isclose(cos(0, T)[0], 1.0) and math.isclose(cos(5, T)[0], 0.5, abs_tol=1e-12)
    assert math.isclose(cos(10, T)[0], 0.0, abs_tol=1e-12)
    for n in (0.1, 0.2, 0.5, 1, 2, 5, 10):
        s = make_schedule(f"power:{n}")
        assert s(0, T)[0] == 1.0 and s(10, T)[0] == 0.0
        assert math.isclose(s(3, T)[0], 1 - 0.3**n)
    assert make_schedule("distilled")(3, T) == (1.0, 0.0)
    assert make_schedule("original")(3, T) == (0.0, 1.0)


def test_single_epoch_counts_as_the_start():
    assert make_schedule("cosine")(0, 1) == (1.0, 0.0)
    assert make_schedule("power:2")(0, 1) == (1.0, 0.0)


@pytest.mark.parametrize(
    "spec",
    ["nope", {"name": "sigmoid", "kk": 3}, "cosine:3", {"name": "power", "n": "x"}, "power:-1", 7],
)
def test_bad_specs_are_config_errors(spec):
    with pytest.raises(ConfigError):
        make_schedule(spec)


def test_epoch_out_of_range():
    with pytest.raises(ValueError):
        make_schedule("cosine")(5, 5)


def test_sample_mix_draws_shares_and_is_deterministic():
    s = make_schedule({"name": "sigmoid", "k": 8})
    plan = epoch_plan(s, 2, 5, 200, 100, "sample", seed=3)
    wd, wo = s(2, 5)
    assert plan.count(DISTILLED) == round(wd * 200) and plan.count(ORIGINAL) == round(wo * 100)
    assert {w for *_, w in plan.items} == {1.0}
    assert len({(a, i) for a, i, _ in plan.items}) == len(plan.items)  # without replacement
    assert plan == epoch_plan(s, 2, 5, 200, 100, "sample", seed=3)
    assert plan.items != epoch_plan(s, 2, 5, 200, 100, "sample", seed=4).items


def test_loss_mix_uses_everything_with_weights_and_skips_zero_weight_sets():
    s = make_schedule("cosine")
    plan = epoch_plan(s, 1, 3, 7, 5, "loss", seed=0)  # w0 = 0.5
    assert plan.count(DISTILLED) == 7 and plan.count(ORIGINAL) == 5
    assert all(math.isclose(w, 0.5) for *_, w in plan.items)
    first = epoch_plan(s, 0, 3, 7, 5, "loss", seed=0)  # w0 = 1: original not computed
    assert first.count(ORIGINAL) == 0 and first.count(DISTILLED) == 7


def test_full_blend_samples_both_sets_whole():
    plan = epoch_plan(make_schedule("full_blend"), 0, 4, 6, 9, "sample", seed=0)
    assert plan.count(DISTILLED) == 6 and plan.count(ORIGINAL) == 9


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from fewner.distill.schedules import plot_schedules

    path = tmp_path / "s.png"
    plot_schedules([make_schedule(v) for v in PAPER_VARIANTS], 10, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_registered_schedule_is_made_by_name_with_its_parameters():
    """Schedules are a Registry: a new one is one registration, with its defaults and check."""
    from fewner.distill.schedules import ScheduleKind

    def check(params):
        if not 0 <= params["w"] <= 1:
            raise ConfigError("schedule constant: w must be in [0, 1]")

    SCHEDULES.register("constant", ScheduleKind(lambda t, T, w=0.5: (w, 1 - w), {"w": 0.5}, check))
    try:
        assert make_schedule("constant")(0, 3) == (0.5, 0.5)
        assert make_schedule("constant:0.25").params == {"w": 0.25}
        with pytest.raises(ConfigError, match="w must be"):
            make_schedule({"name": "constant", "w": 2})
    finally:
        SCHEDULES.unregister("constant")
    with pytest.raises(ConfigError, match="unknown schedule 'constant'"):
        make_schedule("constant")
