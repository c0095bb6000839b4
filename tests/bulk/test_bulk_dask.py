"""Bulk jobs on a real local Dask cluster of 2 worker processes (the ``dask`` engine).

Same output as single-process prediction (``fewner predict`` and ``predictor.predict``) and as
the local engine, byte for byte; a job stopped after some shards and resumed on the cluster
writes the same bytes. The cluster is shut down by the fixture.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import fewner
from fewner.bulk.job import run_job
from tests.bulk.corpora import corpus_texts, read_jsonl, write_jsonl_corpus, write_text_corpus

pytest.importorskip("distributed", reason="the dask engine needs fewner[bulk] (dask[distributed])")

SHARD = 7


@pytest.fixture(scope="module")
def cluster():
    """One 2-process local cluster shared by this module's jobs, closed at the end."""
    from fewner.bulk.engines.dask_cluster import DaskEngine

    engine = DaskEngine(workers=2)
    with engine:
        yield engine
    assert engine.client is None and engine.cluster is None


def test_dask_job_equals_single_process_prediction(tmp_path: Path, dictionary_model: Path, cluster) -> None:
    from fewner.cli import main

    texts = corpus_texts(60)
    path = write_jsonl_corpus(tmp_path / "corpus.jsonl", texts)
    out = tmp_path / "dask.jsonl"
    metrics = run_job(path, out, dictionary_model, shard_size=SHARD, engine=cluster)
    assert metrics["status"] == "done" and metrics["workers"] == 2 and metrics["shards_predicted"] == 9
    config = json.loads((tmp_path / "dask.job" / "config.json").read_text())
    assert len({w["worker"] for w in config["workers_loaded"]}) == 2  # a model on each worker
    assert sum(metrics["shards_per_worker"].values()) == 9

    local = tmp_path / "local.jsonl"
    run_job(path, local, dictionary_model, shard_size=SHARD, engine="local")
    assert out.read_bytes() == local.read_bytes()

    records = read_jsonl(out)
    expected = fewner.load(dictionary_model).predict(texts)
    assert [r["entities"] for r in records] == [[e.as_dict() for e in doc] for doc in expected]

    # `fewner predict` on the same file: the same documents, in order, with the same entities
    # (fewner JSONL writes ids as strings; the bulk output keeps them as given)
    single = tmp_path / "single.jsonl"
    main(["predict", str(path), "-o", str(single), "-m", str(dictionary_model)])

    def spans(rows: list[dict]) -> list[tuple]:
        return [(str(r["id"]), r["text"], [(e["start"], e["end"], e["label"]) for e in r["entities"]])
                for r in rows]

    assert spans(records) == spans(read_jsonl(single))


def test_dask_job_resumed_after_a_stop_is_byte_identical(tmp_path: Path, dictionary_model: Path, cluster) -> None:
    path = write_text_corpus(tmp_path / "corpus.txt", corpus_texts(50), blank_every=9)
    whole = tmp_path / "whole.jsonl"
    run_job(path, whole, dictionary_model, shard_size=SHARD, engine=cluster)

    class Stop(Exception):
        pass

    def stop_after_3(_n: int, seen=[0]) -> None:  # noqa: B006 - a counter on purpose
        seen[0] += 1
        if seen[0] == 3:
            raise Stop

    out = tmp_path / "out.jsonl"
    with pytest.raises(Stop):
        run_job(path, out, dictionary_model, shard_size=SHARD, engine=cluster, progress=stop_after_3)
    assert not out.exists()
    metrics = run_job(path, out, dictionary_model, shard_size=SHARD, engine=cluster)
    assert metrics["shards_done_before"] == 3 and metrics["shards_predicted"] == 5
    assert out.read_bytes() == whole.read_bytes()
    assert [r["id"] for r in read_jsonl(out)][8:11] == ["corpus.txt:9", "corpus.txt:11", "corpus.txt:12"]


def test_cli_bulk_starts_and_stops_its_own_cluster(tmp_path: Path, dictionary_model: Path) -> None:
    from fewner.cli import main

    path = write_text_corpus(tmp_path / "corpus.txt", corpus_texts(20))
    out = tmp_path / "out.jsonl"
    main(["bulk", str(path), "-o", str(out), "-m", str(dictionary_model), "--workers", "2",
          "--shard-size", "6"])
    metrics = json.loads((tmp_path / "out.job" / "metrics.json").read_text())
    assert metrics["status"] == "done" and metrics["engine"] == "dask" and metrics["workers"] == 2
    assert len(read_jsonl(out)) == 20


def test_address_joins_a_running_cluster_and_leaves_it_running(
    tmp_path: Path, dictionary_model: Path, cluster
) -> None:
    address = cluster.cluster.scheduler_address
    path = write_text_corpus(tmp_path / "corpus.txt", corpus_texts(15))
    local = tmp_path / "local.jsonl"
    run_job(path, local, dictionary_model, shard_size=SHARD)
    out = tmp_path / "out.jsonl"
    metrics = run_job(path, out, dictionary_model, shard_size=SHARD, engine="dask",
                      engine_options={"address": address})
    assert metrics["workers"] == 2 and out.read_bytes() == local.read_bytes()
    # the cluster still runs, and the job took its models off the workers
    assert len(cluster.client.scheduler_info(n_workers=-1)["workers"]) == 2
    from fewner.bulk import worker

    assert set(cluster.client.run(lambda: len(worker._loaded)).values()) == {0}
