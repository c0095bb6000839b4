"""Blending schedules: how much distilled and original data count at epoch ``t`` of ``T``.

A schedule maps ``(t, T)`` (``t`` 0-based) to a pair ``(w_distilled, w_original)``. For every
schedule of the distillation study except the full blend, ``w_original = 1 - w_distilled``;
the full blend gives both weight 1. With ``p = t / (T - 1)`` (``p = 0`` when ``T == 1``):

==============  =====================================================================
``distilled``   w0 = 1 (pure distilled data)
``original``    w0 = 0 (pure original data)
``simple_mix``  w0 = 1 for ``t < T/2``, else 0
``sigmoid``     w0 = 1 - 1 / (1 + exp(-k (p - 0.5))), ``k`` in {2, 4, 8, 16, 32} (default 8)
``cosine``      w0 = 0.5 (1 + cos(pi p))
``power``       w0 = 1 - p^n, ``n`` in {0.1, 0.2, 0.5, 1, 2, 5, 10} (default 1)
``full_blend``  both weights 1
==============  =====================================================================

How the weights act on training is the trainer's business (:mod:`fewner.distill.student`):
by default each epoch *samples* ``round(w * N)`` examples from a set of ``N`` (constant compute
per epoch, the sets' shares follow the weights); ``mix: loss`` instead trains on every example
with a non-zero weight and multiplies its loss by the weight.

Schedules are registered by name in :data:`SCHEDULES` (a :class:`~fewner.registry.Registry` of
:class:`ScheduleKind`: the weight function and its parameters with their defaults), so configs
name them, the tests iterate over the registry, and a new schedule is one
``SCHEDULES.register("name", ScheduleKind(fn, {"param": default}))`` (or an entry point in the
group ``fewner.schedules``). :data:`PAPER_VARIANTS` lists the variants of the study, for plots.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fewner.errors import ConfigError
from fewner.registry import Registry

__all__ = [
    "PAPER_VARIANTS",
    "SCHEDULES",
    "Schedule",
    "ScheduleKind",
    "make_schedule",
    "weights_over",
]

Weights = tuple[float, float]


def _progress(t: int, total: int) -> float:
    return 0.0 if total <= 1 else t / (total - 1)


def _distilled(t: int, total: int) -> Weights:
    return 1.0, 0.0


def _original(t: int, total: int) -> Weights:
    return 0.0, 1.0


def _simple_mix(t: int, total: int) -> Weights:
    w0 = 1.0 if t < total / 2 else 0.0
    return w0, 1.0 - w0


def _sigmoid(t: int, total: int, k: float = 8.0) -> Weights:
    w0 = 1.0 - 1.0 / (1.0 + math.exp(-k * (_progress(t, total) - 0.5)))
    return w0, 1.0 - w0


def _cosine(t: int, total: int) -> Weights:
    w0 = 0.5 * (1.0 + math.cos(math.pi * _progress(t, total)))
    return w0, 1.0 - w0


def _power(t: int, total: int, n: float = 1.0) -> Weights:
    w0 = 1.0 - _progress(t, total) ** n
    return w0, 1.0 - w0


def _full_blend(t: int, total: int) -> Weights:
    return 1.0, 1.0


@dataclass(frozen=True)
class ScheduleKind:
    """A registered schedule: ``fn(t, T, **params) -> (w_distilled, w_original)`` and the
    parameters it takes with their defaults; ``check(params)`` raises ConfigError for values
    outside the schedule's domain (optional)."""

    fn: Callable[..., Weights]
    defaults: dict[str, float] = field(default_factory=dict)
    check: Callable[[dict[str, float]], None] | None = None


def _check_power(params: dict[str, float]) -> None:
    if params["n"] <= 0:
        raise ConfigError(f"schedule power: n must be > 0, got {params['n']:g}")


SCHEDULES: Registry[ScheduleKind] = Registry("schedule")
SCHEDULES.register("distilled", ScheduleKind(_distilled))
SCHEDULES.register("original", ScheduleKind(_original))
SCHEDULES.register("simple_mix", ScheduleKind(_simple_mix))
SCHEDULES.register("sigmoid", ScheduleKind(_sigmoid, {"k": 8.0}))
SCHEDULES.register("cosine", ScheduleKind(_cosine))
SCHEDULES.register("power", ScheduleKind(_power, {"n": 1.0}, _check_power))
SCHEDULES.register("full_blend", ScheduleKind(_full_blend))

PAPER_VARIANTS: list[dict[str, Any]] = [
    {"name": "distilled"},
    {"name": "original"},
    {"name": "simple_mix"},
    *({"name": "sigmoid", "k": k} for k in (2, 4, 8, 16, 32)),
    {"name": "cosine"},
    *({"name": "power", "n": n} for n in (0.1, 0.2, 0.5, 1, 2, 5, 10)),
    {"name": "full_blend"},
]


@dataclass(frozen=True)
class Schedule:
    """A named schedule with its parameters, callable as ``schedule(t, T) -> (w_d, w_o)``."""

    name: str
    params: dict[str, float] = field(default_factory=dict)

    def __call__(self, t: int, total: int) -> Weights:
        if total < 1 or not 0 <= t < total:
            raise ValueError(f"epoch {t} outside 0..{total - 1}")
        return SCHEDULES[self.name].fn(t, total, **self.params)

    @property
    def label(self) -> str:
        """``sigmoid(k=8)``-style name for legends and logs."""
        inner = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{self.name}({inner})" if inner else self.name


def make_schedule(spec: str | dict[str, Any] | Schedule) -> Schedule:
    """A :class:`Schedule` from a name (``"cosine"``), a mapping (``{name: sigmoid, k: 16}``) or
    a ``name:value`` shorthand for the one-parameter schedules (``"power:0.5"``)."""
    if isinstance(spec, Schedule):
        return spec
    if isinstance(spec, str):
        name, sep, value = spec.partition(":")
        data: dict[str, Any] = {"name": name.strip()}
        if sep:
            kind = SCHEDULES.get(data["name"])
            defaults = kind.defaults if kind is not None else {}
            if len(defaults) != 1:
                one = [n for n in SCHEDULES.names() if len(SCHEDULES[n].defaults) == 1]
                raise ConfigError(
                    f"schedule {spec!r}: only one-parameter schedules take NAME:VALUE "
                    f"({', '.join(one)})"
                )
            data[next(iter(defaults))] = value
    elif isinstance(spec, dict):
        data = dict(spec)
    else:
        raise ConfigError(f"schedule: expected a name or a mapping, got {type(spec).__name__}")
    name = data.pop("name", None)
    if not isinstance(name, str) or name not in SCHEDULES:
        raise ConfigError(
            f"unknown schedule {name!r}; expected one of {', '.join(SCHEDULES.names())}"
        )
    kind = SCHEDULES[name]
    defaults = kind.defaults
    unknown = set(data) - set(defaults)
    if unknown:
        raise ConfigError(f"schedule {name}: unknown parameter(s) {', '.join(sorted(unknown))}")
    params: dict[str, float] = {}
    for key, default in defaults.items():
        try:
            params[key] = float(data.get(key, default))
        except (TypeError, ValueError):
            raise ConfigError(
                f"schedule {name}: {key} must be a number, got {data[key]!r}"
            ) from None
    if kind.check is not None:
        kind.check(params)
    return Schedule(name, params)


def weights_over(schedule: Schedule, total: int) -> list[Weights]:
    """The weights at every epoch ``0 .. total - 1``."""
    return [schedule(t, total) for t in range(total)]


def plot_schedules(
    schedules: list[Schedule], total: int, path: str, title: str | None = None
) -> None:
    """Plot ``w_distilled`` over epochs for each schedule into a PNG (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ModuleNotFoundError:
        raise ConfigError(
            "plotting needs matplotlib: .venv/bin/pip install 'matplotlib>=3.8'"
        ) from None
    fig, ax = plt.subplots(figsize=(8, 5))
    epochs = list(range(total))
    colours = plt.get_cmap("tab20").colors
    styles = {"sigmoid": ":", "power": "--"}
    for i, sched in enumerate(schedules):
        w = weights_over(sched, total)
        ax.plot(
            epochs,
            [x[0] for x in w],
            marker=".",
            label=sched.label,
            color=colours[i % len(colours)],
            linestyle=styles.get(sched.name, "-"),
        )
    ax.set_xlabel(f"epoch t (T = {total})")
    ax.set_ylabel("w0: weight of distilled data")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(title or "distillation blending schedules (original data: 1 - w0; full_blend: 1)")
    ax.legend(fontsize=7, ncol=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
