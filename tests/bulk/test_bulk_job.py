"""Bulk jobs without a cluster: corpus shards, the job folder, resuming, and the CLI (local engine).

The distributed engine is tested in test_bulk_dask.py; everything it relies on (sharding,
atomic shard files, the manifest, verification, assembly in input order) is checked here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import fewner
from fewner.bulk.corpus import read_documents, read_shards, shard_documents
from fewner.bulk.job import run_job
from fewner.bulk.jobdir import JobFolder
from fewner.bulk.worker import WorkerError
from fewner.errors import ConfigError, DataFormatError
from tests.bulk.corpora import corpus_texts, read_jsonl, write_jsonl_corpus, write_text_corpus


class Abort(Exception):
    """Raised by a progress callback: the driver dies after some shards, like a kill."""


def abort_after(k: int):
    seen = [0]

    def advance(n: int) -> None:
        seen[0] += n
        if seen[0] >= k:
            raise Abort(f"stopped after {k} shards")

    return advance


# ----- the corpus ------------------------------------------------------------------------------


def test_text_corpus_keeps_lines_and_skips_blank_ones(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_bytes("\ufeffone doc\r\n\n  two  \n\u2028three\n".encode())
    docs = list(read_documents(path))
    assert [(d.id, d.text) for d in docs] == [("c.txt:1", "one doc"), ("c.txt:3", "  two  "),
                                              ("c.txt:4", "\u2028three")]


def test_jsonl_corpus_keeps_ids_and_meta(tmp_path: Path) -> None:
    path = write_jsonl_corpus(tmp_path / "c.jsonl", corpus_texts(5))
    docs = list(read_documents(path))  # auto: sniffed as JSONL
    assert [d.id for d in docs] == ["doc-0", 1001, "c.jsonl:3", "doc-3", 1004]
    assert docs[0].meta == {"source": "test", "n": "0"} and docs[1].meta is None
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": 3}\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad.jsonl:2"):
        list(read_documents(bad, "jsonl"))


def test_shards_are_consecutive_and_digests_follow_the_input(tmp_path: Path) -> None:
    path = write_text_corpus(tmp_path / "c.txt", corpus_texts(10), blank_every=4)
    shards = list(read_shards(path, 4))
    assert [s.index for s in shards] == [0, 1, 2] and [len(s.documents) for s in shards] == [4, 4, 2]
    assert [d.text for s in shards for d in s.documents] == corpus_texts(10)
    again = list(shard_documents(read_documents(path), 4))
    assert [s.digest for s in shards] == [s.digest for s in again]
    assert len({s.digest for s in shards}) == 3
    with pytest.raises(ConfigError, match="at least 1"):
        list(shard_documents(read_documents(path), 0))


# ----- a job on the local engine ----------------------------------------------------------------


def test_job_output_equals_single_process_predict(tmp_path: Path, dictionary_model: Path) -> None:
    texts = corpus_texts(23)
    path = write_jsonl_corpus(tmp_path / "c.jsonl", texts)
    out = tmp_path / "out.jsonl"
    metrics = run_job(path, out, dictionary_model, shard_size=5)
    assert metrics["status"] == "done" and metrics["shards"] == 5 and metrics["documents"] == 23
    records = read_jsonl(out)
    expected = fewner.load(dictionary_model).predict(texts)
    assert [r["id"] for r in records] == [d.id for d in read_documents(path)]
    assert [r["text"] for r in records] == texts
    assert [r["entities"] for r in records] == [[e.as_dict() for e in doc] for doc in expected]
    assert sum(len(r["entities"]) for r in records) == metrics["entities_predicted"] > 0
    job = tmp_path / "out.job"
    assert json.loads((job / "config.json").read_text())["labels_used"] == ["PER", "LOC", "ORG"]
    assert out.read_bytes() == b"".join((job / "shards" / f"{i:06d}.jsonl").read_bytes() for i in range(5))


def test_killed_job_resumes_shard_by_shard_byte_identical(tmp_path: Path, dictionary_model: Path) -> None:
    path = write_text_corpus(tmp_path / "c.txt", corpus_texts(40), blank_every=7)
    whole = tmp_path / "whole.jsonl"
    run_job(path, whole, dictionary_model, shard_size=6)

    out = tmp_path / "out.jsonl"
    with pytest.raises(Abort):
        run_job(path, out, dictionary_model, shard_size=6, progress=abort_after(3))
    job = tmp_path / "out.job"
    assert not out.exists()
    assert json.loads((job / "metrics.json").read_text())["status"] == "incomplete"
    assert len((job / "manifest.jsonl").read_text().splitlines()) == 3
    (job / "shards" / ".000003.jsonl.tmp").write_text("half a shard", encoding="utf-8")  # killed mid-write
    with (job / "manifest.jsonl").open("a") as handle:
        handle.write('{"shard": 3, "docum')  # killed mid-line

    notes: list[str] = []
    metrics = run_job(path, out, dictionary_model, shard_size=6, log=notes.append)
    assert metrics["shards_done_before"] == 3 and metrics["shards_predicted"] == 4
    assert any("manifest line 4 is damaged" in n for n in notes)
    assert out.read_bytes() == whole.read_bytes()

    # a damaged shard file is predicted again; a finished job re-run rewrites the same output
    (job / "shards" / "000001.jsonl").write_text("{}\n", encoding="utf-8")
    metrics = run_job(path, out, dictionary_model, shard_size=6)
    assert metrics["shards_done_before"] == 6 and metrics["shards_predicted"] == 1
    assert any("shard 1" in n for n in metrics["resume_notes"])
    assert out.read_bytes() == whole.read_bytes()
    metrics = run_job(path, out, dictionary_model, shard_size=6)
    assert metrics["shards_predicted"] == 0 and out.read_bytes() == whole.read_bytes()


def test_a_job_folder_refuses_another_job_or_a_changed_corpus(tmp_path: Path, dictionary_model: Path) -> None:
    path = write_text_corpus(tmp_path / "c.txt", corpus_texts(12))
    out = tmp_path / "out.jsonl"
    with pytest.raises(Abort):
        run_job(path, out, dictionary_model, shard_size=4, progress=abort_after(1))
    with pytest.raises(ConfigError, match=r"shard_size: was 4, now 3"):
        run_job(path, out, dictionary_model, shard_size=3)
    with pytest.raises(ConfigError, match=r"labels: was None, now \['PER'\]"):
        run_job(path, out, dictionary_model, shard_size=4, labels=["PER"])
    texts = corpus_texts(12)
    texts[1] = texts[1][::-1]  # same size, different text in shard 0
    write_text_corpus(path, texts)
    with pytest.raises(ConfigError, match="shard 0 .* the corpus changed"):
        run_job(path, out, dictionary_model, shard_size=4)


def test_worker_errors_name_the_problem(tmp_path: Path, dictionary_model: Path) -> None:
    path = write_text_corpus(tmp_path / "c.txt", corpus_texts(3))
    with pytest.raises(WorkerError, match=r"on worker .*knows only the labels"):
        run_job(path, tmp_path / "o.jsonl", dictionary_model, labels=["MISC"])
    with pytest.raises(ConfigError, match="does not take bogus"):
        run_job(path, tmp_path / "p.jsonl", dictionary_model, engine_options={"bogus": 1})
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no documents"):
        run_job(empty, tmp_path / "q.jsonl", dictionary_model)


def test_jobdir_writes_shards_atomically_and_verifies(tmp_path: Path) -> None:
    job = JobFolder(tmp_path / "job")
    assert job.start({"a": 1}) is False
    entry = job.write_shard(0, [{"id": 1, "entities": [{"start": 0}]}], {"input_sha256": "x"})
    assert entry["documents"] == 1 and entry["entities"] == 1
    assert not list((tmp_path / "job" / "shards").glob(".*.tmp"))
    assert JobFolder(tmp_path / "job").start({"a": 1}) is True
    assert set(JobFolder(tmp_path / "job").verified_done()) == {0}
    job.shard_path(0).unlink()
    again = JobFolder(tmp_path / "job")
    assert again.verified_done() == {} and "missing" in again.problems[0]


def test_cli_bulk_local_engine(tmp_path: Path, dictionary_model: Path) -> None:
    from fewner.cli import main

    path = write_jsonl_corpus(tmp_path / "c.jsonl", corpus_texts(9))
    out = tmp_path / "out.jsonl"
    main(["bulk", str(path), "-o", str(out), "-m", str(dictionary_model), "--engine", "local",
          "--shard-size", "4", "--types", "PER,LOC", "--no-text"])
    records = read_jsonl(out)
    assert len(records) == 9 and "text" not in records[0]
    assert {e["label"] for r in records for e in r["entities"]} == {"PER", "LOC"}
    metrics = json.loads((tmp_path / "out.job" / "metrics.json").read_text())
    assert metrics["status"] == "done" and metrics["shards"] == 3
    with pytest.raises(SystemExit) as exc:
        main(["bulk", str(path), "-o", str(out), "-m", str(dictionary_model), "--engine", "local",
              "--workers", "3"])
    assert exc.value.code == 2
