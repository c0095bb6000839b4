"""``fewner evaluate``: output shapes, error handling, and acceptance on real CoNLL-2003 data."""

from __future__ import annotations

import json
import random
import sys
import types
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from fewner.cli import cli, main
from fewner.data.schemes import spans_to_tags, tags_to_spans
from fewner.types import Corpus, Sentence

WORDS = "Ann Lee met Bob in New York City today".split()


# ----- wiring, with a stand-in reader (independent of the real file formats) -------------------
@pytest.fixture
def fake_reader(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Replace ``fewner.data.io`` by a reader that maps file names to in-memory sentences."""
    corpora: dict[str, list[Sentence]] = {}
    calls: list[dict] = []

    def read_corpus(path, format="auto", scheme="auto", policy="repair"):
        calls.append({"path": Path(path).name, "format": format, "policy": policy})
        corpus = Corpus(name=Path(path).name, sentences=corpora[Path(path).name])
        corpus.repaired["I- tag after O"] = 1 if Path(path).name == "pred.txt" else 0
        return corpus

    module = types.ModuleType("fewner.data.io")
    module.read_corpus = read_corpus  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fewner.data.io", module)

    def add(name: str, sentences: list[Sentence]) -> str:
        corpora[name] = sentences
        path = tmp_path / name
        path.write_text("placeholder\n")
        return str(path)

    return add, calls


def _gold_pred(add):
    gold = add("gold.txt", [Sentence.from_words(WORDS, [(0, 2, "PER"), (5, 8, "LOC")], id="a")])
    pred = add("pred.txt", [Sentence.from_words(WORDS, [(0, 1, "PER"), (5, 8, "LOC")], id="a")])
    return gold, pred


def test_json_output_has_scores_and_files(fake_reader) -> None:
    add, calls = fake_reader
    gold, pred = _gold_pred(add)
    result = CliRunner().invoke(cli, ["evaluate", gold, pred, "--json", "--format-pred", "jsonl"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["micro"]["tp"] == 1 and doc["micro"]["fp"] == 1 and doc["micro"]["fn"] == 1
    assert doc["boundary_errors"] == {
        "count": 1,
        "predicted": 2,
        "rate": 0.5,
        "per_type": doc["boundary_errors"]["per_type"],
    }
    assert doc["per_type"]["PER"]["support"] == 1
    assert doc["gold"] == gold and doc["pred"] == pred
    assert [c["format"] for c in calls] == ["auto", "jsonl"]
    assert "repaired 1 x I- tag after O" in result.stderr  # read report goes to stderr


def test_table_output_and_no_per_type(fake_reader) -> None:
    add, _ = fake_reader
    gold, pred = _gold_pred(add)
    result = CliRunner().invoke(cli, ["evaluate", gold, pred])
    assert result.exit_code == 0, result.output
    for word in ("micro", "macro", "weighted", "per type", "boundary", "spurious"):
        assert word in result.stdout
    result = CliRunner().invoke(cli, ["evaluate", gold, pred, "--no-per-type", "--json"])
    assert "per_type" not in json.loads(result.stdout)
    result = CliRunner().invoke(cli, ["evaluate", gold, pred, "--no-per-type"])
    assert "per type" not in result.stdout


def test_output_file_and_strict_policy_are_passed_on(fake_reader, tmp_path: Path) -> None:
    add, calls = fake_reader
    gold, pred = _gold_pred(add)
    target = tmp_path / "out" / "scores.json"
    result = CliRunner().invoke(
        cli, ["evaluate", gold, pred, "--policy", "strict", "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text())["policy"] == "strict"
    assert {c["policy"] for c in calls} == {"strict"}


def test_unpairable_files_exit_2_with_one_line(fake_reader, capsys) -> None:
    add, _ = fake_reader
    gold = add("gold.txt", [Sentence.from_words(WORDS, [], id="a")])
    pred = add("pred.txt", [Sentence.from_words(["other"], [], id="b")])
    with pytest.raises(SystemExit) as info:
        main(["evaluate", gold, pred])
    assert info.value.code == 2
    message = capsys.readouterr().err
    assert "gold sentence ids have no prediction (a)" in message
    assert "Traceback" not in message


# ----- acceptance on CoNLL-2003 test with the real reader ------------------------------------
def _conll_sentences(lines: list[str]) -> list[list[int]]:
    """Line indices of each sentence's token lines (DOCSTART and blank lines excluded)."""
    sentences, current = [], []
    for i, line in enumerate(lines):
        if not line.strip() or line.startswith("-DOCSTART-"):
            if current:
                sentences.append(current)
            current = []
        else:
            current.append(i)
    if current:
        sentences.append(current)
    return sentences


def _corrupt(tags: list[str], rng: random.Random, labels: list[str]) -> list[str]:
    """Shift boundaries, change types, drop and insert entities; the result is valid BIO."""
    spans, _ = tags_to_spans(tags, "bio", policy="repair")
    n = len(tags)
    changed = []
    for start, end, label in spans:
        r = rng.random()
        if r < 0.1:
            continue  # drop
        if r < 0.2:
            label = rng.choice([x for x in labels if x != label])
        elif r < 0.3:
            if rng.random() < 0.5:  # move the start one token left or right
                start = min(end - 1, max(0, start + rng.choice([-1, 1])))
            else:  # move the end
                end = max(start + 1, min(n, end + rng.choice([-1, 1])))
        changed.append((start, end, label))
    if rng.random() < 0.15:
        i = rng.randrange(n)
        changed.append((i, min(n, i + rng.randint(1, 2)), rng.choice(labels)))
    kept: list[tuple[int, int, str]] = []
    for span in sorted(changed):  # greedily drop spans that now overlap a kept one
        if all(span[0] >= k[1] or span[1] <= k[0] for k in kept):
            kept.append(span)
    return spans_to_tags(kept, n, "bio")


@pytest.fixture(scope="module")
def conll_test(shared_data: Path) -> Path:
    pytest.importorskip("fewner.data.io")
    path = shared_data / "conll2003" / "test.txt"
    if not path.is_file():
        pytest.skip("conll2003/test.txt not in the shared data")
    return path


def _evaluate_json(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["evaluate", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_conll_test_against_itself_is_perfect(conll_test: Path) -> None:
    doc = _evaluate_json(str(conll_test), str(conll_test))
    assert doc["micro"]["f1"] == 1.0 and doc["macro"]["f1"] == 1.0
    assert doc["micro"]["support"] == 5648  # CoNLL-2003 test entities
    assert doc["boundary_errors"]["count"] == 0


def test_conll_corrupted_copy_agrees_with_seqeval(conll_test: Path, tmp_path: Path) -> None:
    seqeval_metrics = pytest.importorskip("seqeval.metrics")
    lines = conll_test.read_text(encoding="utf-8").split("\n")
    rng = random.Random(2003)
    labels = ["PER", "LOC", "ORG", "MISC"]
    gold_tags, pred_tags = [], []
    for indices in _conll_sentences(lines):
        tags = [lines[i].split()[-1] for i in indices]
        new = _corrupt(tags, rng, labels)
        for i, tag in zip(indices, new, strict=True):
            lines[i] = " ".join([*lines[i].split()[:-1], tag])
        gold_tags.append(tags)
        pred_tags.append(new)
    assert gold_tags != pred_tags
    corrupted = tmp_path / "corrupted.txt"
    corrupted.write_text("\n".join(lines), encoding="utf-8")

    doc = _evaluate_json(str(conll_test), str(corrupted))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = seqeval_metrics.classification_report(gold_tags, pred_tags, output_dict=True)
    for ours, theirs in (
        ("micro", "micro avg"),
        ("macro", "macro avg"),
        ("weighted", "weighted avg"),
    ):
        assert doc[ours]["precision"] == pytest.approx(ref[theirs]["precision"], abs=1e-12)
        assert doc[ours]["recall"] == pytest.approx(ref[theirs]["recall"], abs=1e-12)
        assert doc[ours]["f1"] == pytest.approx(ref[theirs]["f1-score"], abs=1e-12)
    for label in labels:
        assert doc["per_type"][label]["f1"] == pytest.approx(ref[label]["f1-score"], abs=1e-12)
        assert doc["per_type"][label]["support"] == ref[label]["support"]
    assert 0.5 < doc["micro"]["f1"] < 0.95  # a real corruption, not a no-op
    assert doc["boundary_errors"]["count"] > 0 and doc["type_errors"]["count"] > 0
