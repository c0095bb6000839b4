import random

import pytest

from fewner.data.schemes import detect_scheme, spans_to_tags, split_tag, tags_to_spans


@pytest.mark.parametrize("scheme", ["bio", "bioes"])
def test_round_trip_random_spans(scheme):
    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(0, 12)
        spans, i = [], 0
        while i < n:
            if rng.random() < 0.4:
                j = rng.randint(i + 1, n)
                spans.append((i, j, rng.choice(["PER", "creative-work", "org/gov"])))
                i = j
            else:
                i += 1
        tags = spans_to_tags(spans, n, scheme)
        decoded, repairs = tags_to_spans(tags, scheme, "strict")
        assert decoded == spans and not repairs


def test_io_merges_adjacent_same_type_and_accepts_bare_labels():
    assert spans_to_tags([(0, 1, "X"), (1, 2, "X")], 2, "io") == ["I-X", "I-X"]
    assert tags_to_spans(["person-actor", "person-actor", "O", "I-loc"], "io")[0] == [
        (0, 2, "person-actor"),
        (3, 4, "loc"),
    ]


def test_invalid_bio_counted_under_both_policies():
    tags = "B-X I-Y I-Y I-Y O I-Z".split()
    repaired, why = tags_to_spans(tags, "bio", "repair")
    assert repaired == [(0, 1, "X"), (1, 4, "Y"), (5, 6, "Z")]
    assert why == {"I- tag after a different type": 1, "I- tag after O": 1}
    strict, why_strict = tags_to_spans(tags, "bio", "strict")
    assert strict == [(0, 1, "X")]
    assert why_strict == why  # a malformed chunk is counted once, not once per token


def test_bioes_repairs():
    spans, why = tags_to_spans("B-X I-X O E-Y S-Z B-W".split(), "bioes", "repair")
    assert spans == [(0, 2, "X"), (3, 4, "Y"), (4, 5, "Z"), (5, 6, "W")]
    assert why["entity without E- tag"] == 2 and why["E- tag without B-"] == 1
    assert tags_to_spans("B-X I-X O E-Y S-Z B-W".split(), "bioes", "strict")[0] == [(4, 5, "Z")]


def test_split_and_detect_and_errors():
    assert split_tag("B-creative-work") == ("B", "creative-work")
    assert detect_scheme(["O", "B-X", "I-X"]) == "bio"
    assert detect_scheme(["S-X", "O"]) == "bioes"
    assert detect_scheme(["person-actor", "O"]) == "io"
    with pytest.raises(ValueError, match="unknown tag scheme"):
        tags_to_spans(["O"], "iob1")
    with pytest.raises(ValueError, match="no B-/I-/E-/S- prefix"):
        tags_to_spans(["PER"], "bio")
    with pytest.raises(ValueError, match="not a BIO tag"):
        tags_to_spans(["S-X"], "bio")
    with pytest.raises(ValueError, match="overlaps"):
        spans_to_tags([(0, 2, "X"), (1, 3, "Y")], 3)
