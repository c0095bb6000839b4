"""Voters and the stage decisions built on them; the stage-2/3 answer parsers."""

from __future__ import annotations

import pytest

from fewner.errors import ConfigError
from fewner.icl.prompts import parse_type, parse_yes_no
from fewner.icl.voting import NONE, VOTERS, Voter, choose, get_voter, passes

TYPES = ("PER", "LOC", "ORG")


@pytest.mark.parametrize("name", sorted(VOTERS))
def test_every_voter_counts_unanimity_and_ignores_abstentions(name):
    voter = get_voter(name)
    ballots = {"a": "PER", "b": "PER", "c": None}
    scores = voter.tally(ballots, {"a": 1.0, "b": 1.0, "c": 5.0})
    assert set(scores) == {"PER"}
    assert voter.answered_weight(ballots, {"a": 1.0, "b": 1.0, "c": 5.0}) == scores["PER"]
    assert choose(scores, TYPES) == "PER"
    assert voter.tally({"a": None}) == {}
    assert choose(voter.tally({"a": None}), TYPES) is None


def test_majority_ignores_weights_weighted_uses_them():
    ballots = {"small1": "LOC", "small2": "LOC", "big": "ORG"}
    weights = {"small1": 1.0, "small2": 1.0, "big": 3.0}
    assert choose(get_voter("majority").tally(ballots, weights), TYPES) == "LOC"
    weighted = get_voter("weighted").tally(ballots, weights)
    assert weighted == {"LOC": 2.0, "ORG": 3.0}
    assert choose(weighted, TYPES) == "ORG"
    assert get_voter("weighted").tally(ballots, {}) == {"LOC": 2.0, "ORG": 1.0}  # default 1.0


def test_choose_ties_prefer_type_order_and_none_loses():
    assert choose({"ORG": 1, "LOC": 1}, TYPES) == "LOC"
    assert choose({NONE: 1, "ORG": 1}, TYPES) == "ORG"
    assert choose({NONE: 2, "ORG": 1}, TYPES) == NONE
    assert choose({"LOC": 0}, TYPES) is None


@pytest.mark.parametrize(
    ("score", "answered", "threshold", "expected"),
    [
        (2, 3, 0.5, True),  # two of three
        (1, 3, 0.5, False),  # one of three
        (1, 2, 0.5, True),  # one of two answering (the third abstained)
        (1, 1, 0.5, True),  # a single model passes its own proposals
        (3, 3, 1.0, True),
        (2, 3, 1.0, False),  # unanimity required
        (1, 3, 1 / 3, True),  # any one model
        (0, 3, 0.1, False),  # nothing proposed never passes
        (1, 0, 0.5, False),
    ],
)
def test_passes(score, answered, threshold, expected):
    assert passes(score, answered, threshold) is expected


def test_unknown_voter_and_negative_weight_are_config_errors():
    with pytest.raises(ConfigError, match="unknown voter"):
        get_voter("borda")
    with pytest.raises(ConfigError, match="weight"):
        get_voter("weighted").tally({"a": "PER"}, {"a": -1})


def test_voters_are_a_registry_and_a_registered_voter_is_usable_by_name():
    from fewner.icl.config import load_icl_config

    assert VOTERS.names() == ["majority", "weighted"]

    @VOTERS.register("first-only")
    class FirstOnly(Voter):
        """Only the first model counts (a stand-in for a plugin)."""

        name = "first-only"

        def weight(self, model, weights):
            return 1.0 if model == "a" else 0.0

    try:
        assert get_voter("first-only").tally({"a": "PER", "b": "LOC"}) == {"PER": 1.0, "LOC": 0.0}
        config = load_icl_config({"models": ["m"], "classify": {"voter": "first-only"}})
        assert config.pipeline_settings().type_voter == "first-only"
    finally:
        VOTERS.unregister("first-only")
    with pytest.raises(ConfigError, match=r"classify.voter: unknown voter 'first-only'"):
        load_icl_config({"models": ["m"], "classify": {"voter": "first-only"}})


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (" PER", "PER"),
        (" per.", "PER"),
        (" B-LOC", "LOC"),
        (" ORG\nSomething else", "ORG"),
        (" none", NONE),
        (" None of them", NONE),
        (" LOC is the answer", "LOC"),
        (" a person", None),
        ("", None),
        ("\n PER", "PER"),  # leading blank lines are skipped
        (" PER or LOC", "PER"),  # the first word decides
    ],
)
def test_parse_type(answer, expected):
    assert parse_type(answer, TYPES) == expected


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (" yes", True),
        (" Yes.", True),
        (" no", False),
        (" No, it is a LOC", False),
        (" maybe", None),
        ("", None),
    ],
)
def test_parse_yes_no(answer, expected):
    assert parse_yes_no(answer) is expected
