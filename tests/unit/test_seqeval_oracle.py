"""fewner's metrics (on spans decoded by fewner.data.schemes) against seqeval on random tags.

seqeval is a test oracle only. Random sequences include invalid transitions (I- after O, I- after
another type, BIOES chunks without E-, stray E-) and hyphenated labels, so both the decoder and
the counting are checked:

* ``policy="strict"`` against seqeval ``mode="strict"`` with ``IOB2`` / ``IOBES``;
* ``policy="repair"`` against seqeval's default (conlleval-like) mode.
"""

from __future__ import annotations

import random
import warnings

import pytest

seqeval_metrics = pytest.importorskip("seqeval.metrics")
seqeval_scheme = pytest.importorskip("seqeval.scheme")

from fewner.data.schemes import tags_to_spans  # noqa: E402
from fewner.eval.metrics import Scores, score  # noqa: E402
from fewner.types import Sentence  # noqa: E402

LABELS = ("PER", "LOC", "creative-work", "person-actor", "B")
PREFIXES = {"bio": ("B", "I"), "bioes": ("B", "I", "E", "S")}


def random_tags(rng: random.Random, scheme: str, n: int) -> list[str]:
    """Tags with about half the tokens outside and no structure enforced (so many invalid)."""
    return [
        "O" if rng.random() < 0.45 else f"{rng.choice(PREFIXES[scheme])}-{rng.choice(LABELS)}"
        for _ in range(n)
    ]


def perturb(rng: random.Random, tags: list[str], scheme: str) -> list[str]:
    """A prediction near the gold: most tags kept, some redrawn, so there are real matches."""
    return [t if rng.random() < 0.8 else random_tags(rng, scheme, 1)[0] for t in tags]


def to_sentences(seqs: list[list[str]], scheme: str, policy: str) -> list[Sentence]:
    out = []
    for i, tags in enumerate(seqs):
        spans, _ = tags_to_spans(tags, scheme, policy=policy)  # type: ignore[arg-type]
        out.append(Sentence.from_words([f"w{j}" for j in range(len(tags))], spans, id=str(i)))
    return out


def make_corpus(seed: int, scheme: str, n_sents: int = 40) -> tuple[list, list]:
    rng = random.Random(seed)
    gold = [random_tags(rng, scheme, rng.randint(1, 12)) for _ in range(n_sents)]
    pred = [perturb(rng, g, scheme) for g in gold]
    return gold, pred


def oracle(gold: list[list[str]], pred: list[list[str]], **kw) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zero-division warnings for types seen on one side
        report = seqeval_metrics.classification_report(gold, pred, output_dict=True, **kw)
    return report


def assert_agrees(ours: Scores, theirs: dict) -> None:
    avg_keys = {"micro avg": ours.micro, "macro avg": ours.macro, "weighted avg": ours.weighted}
    for key, mine in avg_keys.items():
        ref = theirs[key]
        for metric in ("precision", "recall"):
            assert getattr(mine, metric) == pytest.approx(ref[metric], abs=1e-12), (key, metric)
        assert mine.f1 == pytest.approx(ref["f1-score"], abs=1e-12), key
        assert mine.support == ref["support"], key
    types = {k for k in theirs if not k.endswith(" avg")}
    assert set(ours.per_type) == types
    for label in types:
        ref, mine = theirs[label], ours.per_type[label]
        assert mine.precision == pytest.approx(ref["precision"], abs=1e-12), label
        assert mine.recall == pytest.approx(ref["recall"], abs=1e-12), label
        assert mine.f1 == pytest.approx(ref["f1-score"], abs=1e-12), label
        assert mine.support == ref["support"], label


SEEDS = range(60)  # 60 corpora x 40 sentences = 2,400 gold/pred sequence pairs per scheme/mode


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("scheme", ["bio", "bioes"])
def test_strict_policy_matches_seqeval_strict(seed: int, scheme: str) -> None:
    gold, pred = make_corpus(seed, scheme)
    ours = score(to_sentences(gold, scheme, "strict"), to_sentences(pred, scheme, "strict"))
    mode_scheme = seqeval_scheme.IOB2 if scheme == "bio" else seqeval_scheme.IOBES
    assert_agrees(ours, oracle(gold, pred, mode="strict", scheme=mode_scheme))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("scheme", ["bio", "bioes"])
def test_repair_policy_matches_seqeval_default(seed: int, scheme: str) -> None:
    gold, pred = make_corpus(1000 + seed, scheme)
    ours = score(to_sentences(gold, scheme, "repair"), to_sentences(pred, scheme, "repair"))
    assert_agrees(ours, oracle(gold, pred))


@pytest.mark.parametrize("seed", range(20))
def test_scalar_scores_match_seqeval(seed: int) -> None:
    """The scalar functions (what papers call) agree too, for every average."""
    gold, pred = make_corpus(5000 + seed, "bio")
    ours = score(to_sentences(gold, "bio", "strict"), to_sentences(pred, "bio", "strict"))
    kw = {"mode": "strict", "scheme": seqeval_scheme.IOB2}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for average, mine in (("micro", ours.micro), ("macro", ours.macro)):
            p = seqeval_metrics.precision_score(gold, pred, average=average, **kw)
            r = seqeval_metrics.recall_score(gold, pred, average=average, **kw)
            f = seqeval_metrics.f1_score(gold, pred, average=average, **kw)
            assert (mine.precision, mine.recall, mine.f1) == pytest.approx((p, r, f), abs=1e-12)


# Hand-picked invalid patterns where strict and repair decoders must each agree with seqeval.
PATTERNS = [
    ["O", "I-PER", "I-PER"],
    ["B-PER", "I-LOC", "I-LOC"],
    ["B-creative-work", "I-creative-work", "I-person-actor"],
    ["I-PER", "B-PER", "I-PER", "I-LOC"],
    ["B-B", "I-B", "O", "I-B"],
]
PATTERNS_BIOES = [
    ["B-PER", "I-PER", "O"],
    ["B-PER", "E-PER", "E-PER"],
    ["E-PER", "S-PER", "I-PER", "E-PER"],
    ["B-PER", "I-LOC", "E-LOC"],
    ["S-PER", "E-PER", "B-PER", "S-PER"],
    ["B-creative-work", "E-creative-work", "I-creative-work"],
]


@pytest.mark.parametrize(
    "tags,scheme",
    [(p, "bio") for p in PATTERNS] + [(p, "bioes") for p in PATTERNS_BIOES],
)
def test_invalid_patterns_decode_like_seqeval(tags: list[str], scheme: str) -> None:
    strict_ref = seqeval_scheme.Tokens(
        tags, seqeval_scheme.IOB2 if scheme == "bio" else seqeval_scheme.IOBES
    ).entities
    strict, _ = tags_to_spans(tags, scheme, policy="strict")  # type: ignore[arg-type]
    assert sorted(strict) == sorted((e.start, e.end, e.tag) for e in strict_ref)
    repair, _ = tags_to_spans(tags, scheme, policy="repair")  # type: ignore[arg-type]
    default_ref = seqeval_metrics.sequence_labeling.get_entities(tags)
    assert sorted(repair) == sorted((s, e + 1, t) for t, s, e in default_ref)


def test_known_seqeval_strict_quirk_hyphens_at_label_edges() -> None:
    """seqeval strict mode strips '-' from both ends of a label (``tag.strip('-')``), so
    ``B--x`` reads as type ``x`` there but ``-x`` in its default mode and in fewner. fewner keeps
    the label verbatim in both policies; this pins the one known disagreement."""
    tags = ["B--x", "I--x"]
    (strict_entity,) = seqeval_scheme.Tokens(tags, seqeval_scheme.IOB2).entities
    assert strict_entity.tag == "x"
    assert tags_to_spans(tags, "bio", policy="strict")[0] == [(0, 2, "-x")]
    assert seqeval_metrics.sequence_labeling.get_entities(tags) == [("-x", 0, 1)]
