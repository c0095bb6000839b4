"""``fewner predict --documents``: texts of any length in (one per line, one per file, JSONL),
one record per document out, with its id and entities at document offsets; a saved dictionary
model (no torch), so it runs in a second."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fewner.cli import cli, main
from fewner.types import Sentence

LABELS = ["PER", "LOC", "ORG"]
LONG = (
    "Peter Blackburn met Nadim Ladki in Brussels. Mr. Blackburn said so!  The talks ended. "
    + " ".join(["Reuters reports from Brussels and Zürich"] * 40)
)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fewner.predictors.dictionary import DictionaryPredictor

    support = [
        Sentence.from_words("Peter Blackburn met Nadim Ladki in Brussels .".split(),
                            [(0, 2, "PER"), (3, 5, "PER"), (6, 7, "LOC")], id="s0"),
        Sentence.from_words("Reuters in Zürich and Blackburn".split(),
                            [(0, 1, "ORG"), (2, 3, "LOC"), (4, 5, "PER")], id="s1"),
    ]
    return DictionaryPredictor(support, LABELS).save(tmp_path_factory.mktemp("dict") / "model")


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["predict", *args])
    return result.exit_code, result.output


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _check_offsets(records: list[dict]) -> None:
    for r in records:
        for e in r["entities"]:
            assert e["start"] < e["end"] and r["text"][e["start"] : e["end"]].strip()


def test_one_document_per_line(model: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs.txt"
    docs.write_text(f"{LONG}\n\nNadim Ladki lives in Brussels\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code, output = _run(str(docs), "-m", str(model), "--documents", "lines", "-o", str(out))
    assert code == 0, output
    assert "skipped 1 x blank line" in " ".join(output.split()) and "2 documents" in output
    records = _records(out)
    assert [(r["id"], r["text"]) for r in records] == [
        ("docs.txt:1", LONG), ("docs.txt:3", "Nadim Ladki lives in Brussels")
    ]
    _check_offsets(records)
    assert [LONG[e["start"] : e["end"]] for e in records[0]["entities"][:4]] == [
        "Peter Blackburn", "Nadim Ladki", "Brussels", "Blackburn"
    ]
    metrics = json.loads((tmp_path / "out.run" / "metrics.json").read_text())
    assert metrics["documents"] == 2 and metrics["sentences"] == 5
    assert metrics["long_sentences_split"] == 0 and metrics["window"] is None
    assert (tmp_path / "out.answers.jsonl").is_file()

    # a window cuts the long sentence into chunks; the dictionary finds the same entities
    cut = tmp_path / "cut.jsonl"
    code, output = _run(str(docs), "-m", str(model), "--documents", "auto", "-o", str(cut),
                        "--window-words", "20", "--window-overlap", "5")
    assert code == 0, output
    assert _records(cut) == records
    metrics = json.loads((tmp_path / "cut.run" / "metrics.json").read_text())
    assert metrics["long_sentences_split"] == 1 and metrics["chunks"] >= 14
    assert metrics["window"] == {"size": 20, "overlap": 5, "unit": "words"}
    config = json.loads((tmp_path / "cut.run" / "config.json").read_text())
    assert config["documents_layout"] == "auto" and config["documents"] == 2
    assert config["window"]["size"] == 20


def test_one_document_per_file(model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    (folder / "news").mkdir(parents=True)
    (folder / "news" / "001.txt").write_text("Headline Brussels\n\nPeter Blackburn spoke.\n", encoding="utf-8")
    (folder / "002.txt").write_text(LONG, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code, output = _run(str(folder), "-m", str(model), "--documents", "files", "-o", str(out),
                        "--limit", "1")
    assert code == 0, output
    records = _records(out)
    assert [r["id"] for r in records] == ["002.txt"]
    code, output = _run(str(folder), "-m", str(model), "--documents", "auto", "-o", str(out))
    assert code == 0, output
    records = _records(out)
    assert [r["id"] for r in records] == ["002.txt", "news/001.txt"]
    assert records[1]["text"] == "Headline Brussels\n\nPeter Blackburn spoke.\n"
    _check_offsets(records)


def test_jsonl_documents_keep_ids_and_meta_and_score_against_gold(model: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs.jsonl"
    rows = [
        {"id": "a-1", "text": "Nadim Ladki met Peter Blackburn.\nThen Reuters called.", "meta": {"src": "x"}},
        {"id": 2, "text": LONG},
    ]
    docs.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "a-1", "text": rows[0]["text"], "entities": [
        {"start": 0, "end": 11, "label": "PER"}, {"start": 16, "end": 31, "label": "PER"},
    ]}) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code, output = _run(str(docs), "-m", str(model), "--documents", "jsonl", "-o", str(out),
                        "--limit", "1", "--gold", str(gold))
    assert code == 0, output
    records = _records(out)
    assert records[0]["id"] == "a-1" and records[0]["meta"] == {"src": "x"}
    assert [(e["start"], e["end"], e["label"]) for e in records[0]["entities"]] == [
        (0, 11, "PER"), (16, 31, "PER"), (38, 45, "ORG")
    ]
    metrics = json.loads((tmp_path / "out.run" / "metrics.json").read_text())
    assert metrics["scores"]["micro"]["recall"] == 1.0 and metrics["scores"]["sentences"] == 1
    code, output = _run(str(docs), "-m", str(model), "--documents", "auto", "-o", str(out))
    assert code == 0 and [r["id"] for r in _records(out)] == ["a-1", "2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["FOLDER"], "--documents files"),
        (["FILE", "--window-words", "10"], "with --documents only"),
        (["FILE", "--documents", "lines", "--format", "conll"], "--format is for sentence files"),
        (["FOLDER", "--documents", "lines"], "one document per file"),
        (["FILE", "--documents", "pdf"], "Invalid value for '--documents'"),
    ],
)
def test_errors_are_one_line(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.txt").write_text("Brussels.", encoding="utf-8")
    (tmp_path / "file.txt").write_text("Brussels.", encoding="utf-8")
    where = {"FOLDER": str(tmp_path / "folder"), "FILE": str(tmp_path / "file.txt")}
    with pytest.raises(SystemExit) as info:
        main(["predict", *[where.get(a, a) for a in args], "-m", str(model), "-o", str(tmp_path / "o.jsonl")])
    output = capsys.readouterr().err
    assert info.value.code == 2 and message in output and "Traceback" not in output


def test_help_explains_documents() -> None:
    code, output = _run("--help")
    assert code == 0
    for words in ("--documents", "one document per line", "--window-words", "document character offsets"):
        assert words in " ".join(output.split())
