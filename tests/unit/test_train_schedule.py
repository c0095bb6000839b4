"""Learning-rate schedules: warm-up never starts at zero, decays end where they should."""

from __future__ import annotations

import math

import pytest

from fewner.errors import ConfigError
from fewner.train.schedule import lr_factor, warmup_steps


def test_warmup_steps() -> None:
    assert warmup_steps(100, 0.1, None) == 10
    assert warmup_steps(7, 0.1, None) == 1  # ceil: any warm-up ratio gives at least one step
    assert warmup_steps(100, 0.0, None) == 0
    assert warmup_steps(100, 0.5, 3) == 3  # explicit steps win
    assert warmup_steps(5, 0.0, 50) == 5
    with pytest.raises(ConfigError):
        warmup_steps(10, 1.5, None)


def test_linear_warmup_then_linear_decay() -> None:
    f = lr_factor("linear", total=10, warmup=4)
    assert [f(s) for s in range(4)] == [0.2, 0.4, 0.6, 0.8]
    assert f(4) == 1.0
    assert f(7) == pytest.approx(0.5)
    assert f(10) == 0.0


def test_cosine_and_constant_and_floor() -> None:
    cos = lr_factor("cosine", total=10, warmup=0, min_ratio=0.1)
    assert cos(0) == 1.0 and cos(10) == pytest.approx(0.1)
    assert cos(5) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 2)))
    const = lr_factor("constant", total=10, warmup=2)
    assert [const(s) for s in range(5)] == [1 / 3, 2 / 3, 1.0, 1.0, 1.0]


def test_unknown_schedule() -> None:
    with pytest.raises(ConfigError, match="unknown schedule"):
        lr_factor("step", 10, 0)
