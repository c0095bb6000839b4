"""Votes between models, the one mechanism behind all three EL4NER stages.

A *ballot* is one model's answer to one question: an option (a span id, a type, ``"yes"``) or
``None`` when the model abstained (its answer could not be parsed). A :class:`Voter` turns ballots
into a score per option; three small functions make the stage decisions from those scores:

* :func:`passes` — stage 1 (keep a span) and stage 3 (keep a typed span): an option passes when
  its score is at least ``threshold`` times the total weight of the models that *answered*.
  Abstentions neither support nor oppose: a model whose answer was unparseable should not veto.
  With three equal models and the default threshold 0.5, two of three must agree; one model
  alone passes its own proposals.
* :func:`choose` — stage 2 (pick a type): the option with the highest score; ties go to the type
  listed first in the run's types, and ``none`` (no entity) loses every tie, so one model saying
  ``PER`` and one saying ``none`` keeps ``PER`` for stage 3 to check.

Voters are :class:`Voter` subclasses registered by name in :data:`VOTERS` (a
:class:`fewner.registry.Registry`; plugins: entry-point group ``fewner.voters``): ``majority``
counts one per model whatever its weight; ``weighted`` adds each model's configured weight (e.g.
to trust a larger model more). ``tests/unit/test_icl_voting.py`` runs its contract over every
registered voter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from fewner.errors import ConfigError
from fewner.registry import Registry

__all__ = [
    "NONE",
    "VOTERS",
    "MajorityVoter",
    "Voter",
    "WeightedVoter",
    "choose",
    "get_voter",
    "passes",
]

#: The option "no entity" in stage 2 (never a type name: types come from data labels).
NONE = "none"

Ballots = Mapping[str, str | None]
"""model name -> chosen option, or None for an abstention."""


class Voter:
    """Scores options from ballots; subclasses define each model's weight."""

    name = "abstract"

    def weight(self, model: str, weights: Mapping[str, float]) -> float:
        raise NotImplementedError

    def tally(self, ballots: Ballots, weights: Mapping[str, float] | None = None) -> Counter[str]:
        """Score per option (abstentions add nothing)."""
        weights = weights or {}
        scores: Counter[str] = Counter()
        for model, option in ballots.items():
            if option is not None:
                scores[option] += self.weight(model, weights)
        return scores

    def answered_weight(
        self, ballots: Ballots, weights: Mapping[str, float] | None = None
    ) -> float:
        """Total weight of the models that did not abstain."""
        weights = weights or {}
        return sum(self.weight(m, weights) for m, o in ballots.items() if o is not None)


VOTERS: Registry[type[Voter]] = Registry("voter")


@VOTERS.register("majority")
class MajorityVoter(Voter):
    """One vote per model."""

    name = "majority"

    def weight(self, model: str, weights: Mapping[str, float]) -> float:
        return 1.0


@VOTERS.register("weighted")
class WeightedVoter(Voter):
    """Each model votes with its configured weight (1.0 when not configured)."""

    name = "weighted"

    def weight(self, model: str, weights: Mapping[str, float]) -> float:
        w = float(weights.get(model, 1.0))
        if w < 0:
            raise ConfigError(f"model weight must be >= 0, got {w} for {model!r}")
        return w


def get_voter(name: str) -> Voter:
    """A new voter ``name`` (unknown: :class:`ConfigError` listing the registered names)."""
    return VOTERS[name]()


def check_threshold(threshold: float, what: str) -> None:
    if not (0 < threshold <= 1):
        raise ConfigError(f"{what} must be in (0, 1], got {threshold}")


def passes(score: float, answered: float, threshold: float) -> bool:
    """True when ``score`` reaches ``threshold`` of the answering weight (and is positive)."""
    return score > 0 and answered > 0 and score >= threshold * answered - 1e-9


def choose(scores: Mapping[str, float], order: Sequence[str]) -> str | None:
    """The best-scoring option (module docstring for ties); None when nothing scored."""
    rank = {t: i for i, t in enumerate(order)}
    candidates = [(o, s) for o, s in scores.items() if s > 0]
    if not candidates:
        return None

    def key(item: tuple[str, float]) -> tuple[float, int, int, str]:
        option, score = item
        is_none = 1 if option == NONE else 0
        return (-score, is_none, rank.get(option, len(rank)), option)

    return min(candidates, key=key)[0]
