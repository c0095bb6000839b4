"""Load test of ``fewner serve``: requests/s and latency at 1, 8 and 32 concurrent clients, with
every answer checked against the single-process predictor.

For each MODEL (any folder or name ``fewner.load`` takes) the script

1. computes the reference: ``fewner.load(MODEL).predict(texts, labels)`` in this process, for
   every distinct text and both label sets used below;
2. starts ``fewner serve MODEL --port 0 --no-access-log`` itself (loopback only; ``--serve-option``
   adds options, e.g. ``--serve-option=--batch-wait-ms=10``) and waits for ``/health``;
3. for each concurrency level runs that many client threads, each with one keep-alive connection
   (stdlib ``http.client``), until ``--requests`` requests are done or ``--seconds`` have passed.
   Request ``i`` sends ``--texts-per-request`` sentences starting at ``i``; even requests omit
   ``labels`` (the model's own), odd ones ask for the first half of them, so label sets mix in
   the same batches;
4. compares each answer with the reference for its own texts and labels: ``lost`` counts
   requests without a 200 answer, ``wrong`` answers that differ (mixed between requests, or
   changed by batching); both must be 0.

It prints one table row per level (requests/s, texts/s, p50/p99 latency, predictor calls made by
the server, lost, wrong) and writes the rows to ``benchmarks/results/serve_load.json`` (``--json``).
The client threads share the machine with the server: on a small machine they take a
noticeable part of the CPU, so treat the numbers as a lower bound.

    python benchmarks/serve_load.py /tmp/dict-model --requests 300 --seconds 30
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONLL_TEST = REPO.parent / "shared/data/conll2003/test.txt"


def read_texts(path: Path, n: int) -> list[str]:
    """The first ``n`` distinct non-empty sentences of a data file (any format fewner reads)."""
    from fewner.data.io import read_corpus

    texts = list(dict.fromkeys(s.text for s in read_corpus(path) if s.text.strip()))
    if not texts:
        sys.exit(f"{path}: no sentences")
    return texts[:n]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def plan(texts: list[str], requests: int, per_request: int, half: list[str]) -> list[tuple[list[str], list[str] | None]]:
    """Request ``i``: ``per_request`` texts from position ``i``; odd requests ask for ``half``."""
    return [([texts[(i + j) % len(texts)] for j in range(per_request)], half if i % 2 else None)
            for i in range(requests)]


def reference(model: str, texts: list[str], half: list[str],
              load_options: dict[str, Any]) -> dict[tuple[str, bool], list[dict[str, Any]]]:
    """(text, asked for ``half``?) -> the single-process predictor's entities as JSON dicts."""
    import fewner

    predictor = fewner.load(model, **load_options)
    out: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    for use_half, labels in ((False, None), (True, half)):
        for text, entities in zip(texts, predictor.predict(texts, labels), strict=True):
            out[(text, use_half)] = [e.as_dict() for e in entities]
    predictor.close()
    return out


def run_level(url: str, jobs: list, clients: int, seconds: float,
              expected: dict[tuple[str, bool], list[dict[str, Any]]]) -> dict[str, Any]:
    from fewner.serve.process import Client

    lock = threading.Lock()
    next_job = [0]
    latencies: list[float] = []
    lost = wrong = done = 0
    examples: list[str] = []
    deadline = time.monotonic() + seconds

    def worker() -> None:
        nonlocal lost, wrong, done
        client = Client(url, timeout=max(60.0, seconds))
        while time.monotonic() < deadline:
            with lock:
                i = next_job[0]
                if i >= len(jobs):
                    break
                next_job[0] += 1
            texts, labels = jobs[i]
            payload: dict[str, Any] = {"texts": texts}
            if labels is not None:
                payload["labels"] = labels
            started = time.perf_counter()
            try:
                status, answer, _ = client.request("POST", "/v1/extract", payload)
            except OSError as err:
                status, answer = 0, str(err)
            took = time.perf_counter() - started
            ok = status == 200
            right = ok and same_entities(answer["entities"], [expected[(t, labels is not None)] for t in texts])
            with lock:
                done += 1
                latencies.append(took)
                lost += not ok
                wrong += ok and not right
                if not right and len(examples) < 3:
                    examples.append(f"request {i}: HTTP {status}: {str(answer)[:300]}")
        client.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    per_request = len(jobs[0][0])
    return {
        "clients": clients, "requests": done, "seconds": round(elapsed, 3),
        "requests_per_s": round(done / elapsed, 2), "texts_per_s": round(done * per_request / elapsed, 2),
        "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(1000 * percentile(latencies, 0.99), 1) if latencies else None,
        "lost": lost, "wrong": wrong, "examples": examples,
    }


def bench_model(model: str, args: argparse.Namespace, texts: list[str]) -> list[dict[str, Any]]:
    import fewner
    from fewner.serve.process import Client, ServerProcess

    load_options = dict(args.load_option or [])
    probe = fewner.load(model, **load_options)
    kind, labels = probe.kind, list(probe.labels)
    probe.close()
    if not labels:
        sys.exit(f"{model}: the model has no labels of its own; this benchmark needs them")
    half = labels[: max(1, len(labels) // 2)]
    jobs = plan(texts, args.requests, args.texts_per_request, half)
    used = sorted({t for job_texts, _ in jobs for t in job_texts})
    print(f"\n{model} ({kind}, labels {labels}; odd requests ask for {half})", flush=True)
    started = time.perf_counter()
    expected = reference(model, used, half, load_options)
    print(f"reference: {len(used)} texts x 2 label sets in one process, "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    options = ["--no-access-log", *args.serve_option]
    for key, value in load_options.items():
        options += ["-O", f"{key}={value}"]
    rows = []
    with ServerProcess(model, *options, cwd=REPO) as server:
        client = Client(server.url)
        print("| clients | requests | req/s | texts/s | p50 ms | p99 ms | predictor calls | lost | wrong |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for clients in args.clients:
            before = client.request("GET", "/health")[1]["stats"]["predictor_calls"]
            row = run_level(server.url, jobs, clients, args.seconds, expected)
            row["predictor_calls"] = client.request("GET", "/health")[1]["stats"]["predictor_calls"] - before
            row.update(model=str(model), kind=kind)
            rows.append(row)
            print(f"| {clients} | {row['requests']} | {row['requests_per_s']} | {row['texts_per_s']} | "
                  f"{row['p50_ms']} | {row['p99_ms']} | {row['predictor_calls']} | {row['lost']} | "
                  f"{row['wrong']} |", flush=True)
            for example in row["examples"]:
                print(f"  ! {example}")
        client.close()
    return rows


def _key_value(text: str) -> tuple[str, Any]:
    import yaml

    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), yaml.safe_load(value)


SCORE_TOLERANCE = 1e-4
"""Scores may differ in the last digits between a batch and a lone sentence (other padding,
other matrix shapes: float rounding); offsets, labels and texts must be identical."""


def same_entities(got: list[list[dict[str, Any]]], want: list[list[dict[str, Any]]]) -> bool:
    if len(got) != len(want):
        return False
    for a_list, b_list in zip(got, want, strict=True):
        if len(a_list) != len(b_list):
            return False
        for a, b in zip(a_list, b_list, strict=True):
            if {k: v for k, v in a.items() if k != "score"} != {k: v for k, v in b.items() if k != "score"}:
                return False
            if (a.get("score") is None) != (b.get("score") is None):
                return False
            if a.get("score") is not None and abs(a["score"] - b["score"]) > SCORE_TOLERANCE:
                return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", metavar="MODEL", help="Model folders (or names) to serve.")
    ap.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 32],
                    help="Concurrency levels, comma-separated [default: 1,8,32].")
    ap.add_argument("--requests", type=int, default=300, help="Requests per level [default: 300].")
    ap.add_argument("--seconds", type=float, default=60.0,
                    help="Stop a level after this long, requests done or not [default: 60].")
    ap.add_argument("--texts-per-request", type=int, default=1)
    ap.add_argument("--data", type=Path, default=CONLL_TEST,
                    help="Sentences to send (any format fewner reads) [default: CoNLL-2003 test].")
    ap.add_argument("--distinct-texts", type=int, default=200,
                    help="How many distinct sentences the requests cycle through [default: 200].")
    ap.add_argument("--serve-option", action="append", default=[],
                    help="Extra `fewner serve` argument, e.g. --serve-option=--batch-wait-ms=10.")
    ap.add_argument("--load-option", "-O", action="append", type=_key_value,
                    help="KEY=VALUE for fewner.load, in this process and the server.")
    ap.add_argument("--json", type=Path, default=None,
                    help="Where to write the rows [default: benchmarks/results/serve_load.json].")
    args = ap.parse_args()
    if not args.data.is_file():
        sys.exit(f"{args.data}: not found; pass --data FILE")
    texts = read_texts(args.data, args.distinct_texts)
    rows = [row for model in args.models for row in bench_model(model, args, texts)]
    summary = {"machine": machine(), "command": " ".join(sys.argv), "rows": rows}
    print(f"\nwrote {write_json('serve_load', summary, args.json)}")
    if any(row["lost"] or row["wrong"] for row in rows):
        sys.exit("some answers were lost or wrong (see the table)")


if __name__ == "__main__":
    main()
