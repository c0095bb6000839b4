"""``fewner serve`` against a real server process on a free loopback port.

Two servers per module: a dictionary model with small limits (answers, limits, mixing under
concurrency), and the test-only ``test-flaky`` kind (tests/serve/flaky_model.py: slow calls, a
text that raises, a text that outlasts the timeout) behind a bearer token (auth, batching, 500s,
504s). The flaky kind is registered only inside its server process, never in the test process, so
the predictor contract suite does not see it.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from fewner.api import load  # noqa: E402
from fewner.serve.process import Client, ServerProcess  # noqa: E402
from tests.contract.test_predictor_contract import LABELS, _queries, _support  # noqa: E402

pytestmark = pytest.mark.server

REPO = Path(__file__).resolve().parents[2]
TOKEN = "s3cret-token"
TEXTS = [q.text for q in _queries()]
LIMITS = ["--max-texts", "4", "--max-text-chars", "200", "--max-labels", "3",
          "--max-label-chars", "10", "--max-body-bytes", "4096"]


def _save_dictionary(folder: Path, kind: str | None = None) -> Path:
    from fewner.predictors.dictionary import DictionaryPredictor

    DictionaryPredictor(_support(), LABELS).save(folder)
    if kind is not None:  # the same payload under another kind (see the module docstring)
        manifest = json.loads((folder / "fewner.json").read_text())
        (folder / "fewner.json").write_text(json.dumps({**manifest, "kind": kind}))
    return folder


def _expected(folder: Path, texts: list[str], labels: list[str] | None = None) -> list:
    predictor = load(folder)
    return [[e.as_dict() for e in ents] for ents in predictor.predict(texts, labels)]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("serve-models")
    return {"dictionary": _save_dictionary(tmp / "dictionary"),
            "flaky": _save_dictionary(tmp / "flaky", kind="test-flaky")}


@pytest.fixture(scope="module")
def server(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    log = tmp_path_factory.mktemp("serve-logs") / "dictionary.log"
    with ServerProcess(models["dictionary"], *LIMITS, "--batch-wait-ms", "20", cwd=REPO,
                       log_path=log) as proc:
        yield proc


@pytest.fixture(scope="module")
def flaky(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    log = tmp_path_factory.mktemp("serve-logs") / "flaky.log"
    with ServerProcess(models["flaky"], "--token-env", "FEWNER_TEST_TOKEN", "--timeout", "2",
                       preamble="import tests.serve.flaky_model as m; m.register()", env={"FEWNER_TEST_TOKEN": TOKEN},
                       cwd=REPO, log_path=log) as proc:
        yield proc


# ----- answers -----------------------------------------------------------------------------------


def test_extract_matches_the_in_process_predictor(server: ServerProcess, models) -> None:
    client = Client(server.url)
    answer = client.extract(TEXTS[:4])
    assert answer["entities"] == _expected(models["dictionary"], TEXTS[:4])
    assert answer["model"] == "dictionary" and answer["labels"] == LABELS
    assert answer["entities"][0], "the fixture text must have entities"
    for text, entities in zip(TEXTS, answer["entities"], strict=False):
        assert all(text[e["start"]:e["end"]] == e["text"] for e in entities)
    only_loc = client.extract(TEXTS[3:5], ["LOC"])
    assert only_loc["entities"] == _expected(models["dictionary"], TEXTS[3:5], ["LOC"])
    assert client.extract([])["entities"] == []


def test_model_health_and_docs(server: ServerProcess) -> None:
    client = Client(server.url)
    status, model, _ = client.request("GET", "/v1/model")
    assert status == 200
    assert model["kind"] == "dictionary" and model["labels"] == LABELS and not model["open_labels"]
    assert model["manifest"]["kind"] == "dictionary" and model["limits"]["max_texts"] == 4
    status, health, _ = client.request("GET", "/health")
    assert status == 200 and health["status"] == "ok" and "predictor_calls" in health["stats"]
    status, schema, _ = client.request("GET", "/openapi.json")
    assert status == 200 and "/v1/extract" in schema["paths"]
    assert client.request("GET", "/docs")[0] == 200


# ----- limits and bad requests -------------------------------------------------------------------


@pytest.mark.parametrize(("payload", "limit", "value"), [
    ({"texts": ["a"] * 5}, "max_texts", 4),
    ({"texts": ["ok", "x" * 201]}, "max_text_chars", 200),
    ({"texts": ["a"], "labels": ["PER", "LOC", "ORG", "MISC"]}, "max_labels", 3),
    ({"texts": ["a"], "labels": ["L" * 11]}, "max_label_chars", 10),
])
def test_limits_are_422_naming_the_limit(server: ServerProcess, payload, limit, value) -> None:
    status, answer, _ = Client(server.url).request("POST", "/v1/extract", payload)
    assert status == 422
    assert answer["limit"] == limit and answer["value"] == value
    assert limit in answer["detail"] and str(value) in answer["detail"]


def test_body_over_the_limit_is_413(server: ServerProcess) -> None:
    client = Client(server.url)
    status, answer, _ = client.request("POST", "/v1/extract", {"texts": ["word " * 1000]})
    assert status == 413 and answer["limit"] == "max_body_bytes" and answer["value"] == 4096
    # without a Content-Length (chunked), the body is cut off as it passes the limit
    chunks = iter([b'{"texts": ["', b"x" * 3000, b"y" * 3000, b'"]}'])
    conn = client._connection()
    conn.request("POST", "/v1/extract", body=chunks, encode_chunked=True,
                 headers={"content-type": "application/json"})
    response = conn.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["limit"] == "max_body_bytes"
    client.close()


def test_bad_requests_are_422_without_internals(server: ServerProcess) -> None:
    client = Client(server.url)
    status, answer, _ = client.request("POST", "/v1/extract", {"texts": ["Brussels"], "labels": ["CITY"]})
    assert status == 422 and "knows only the labels" in answer["detail"] and "CITY" in answer["detail"]
    for body in (b'{"texts": ["unclosed', b'{"texts": "not a list"}', b'{"text": ["typo"]}', b"[]"):
        status, answer, _ = client.request("POST", "/v1/extract", body=body)
        assert status == 422, body
        assert "Traceback" not in json.dumps(answer)
    assert client.request("GET", "/v1/nothing-here")[0] == 404


# ----- concurrency -------------------------------------------------------------------------------


def test_concurrent_requests_get_their_own_results(server: ServerProcess, models) -> None:
    rng = random.Random(0)
    label_sets = [None, ["LOC"], ["PER", "ORG"], ["ORG"]]
    jobs = [(rng.sample(TEXTS, rng.randint(1, 4)), rng.choice(label_sets)) for _ in range(48)]

    def run(job):
        texts, labels = job
        return Client(server.url).extract(texts, labels)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(run, jobs))
    predictor = load(models["dictionary"])
    for (texts, labels), answer in zip(jobs, answers, strict=True):
        expected = [[e.as_dict() for e in ents] for ents in predictor.predict(texts, labels)]
        assert answer["entities"] == expected
        assert answer["labels"] == (labels or LABELS)


def test_concurrent_requests_share_predictor_calls(flaky: ServerProcess, models) -> None:
    client = Client(flaky.url, token=TOKEN)
    before = client.request("GET", "/health")[1]["stats"]
    jobs = [[TEXTS[i % len(TEXTS)], f"request {i} about Brussels"] for i in range(24)]

    def run(texts):
        return Client(flaky.url, token=TOKEN).extract(texts)

    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(run, jobs))
    after = client.request("GET", "/health")[1]["stats"]
    requests = after["requests"] - before["requests"]
    calls = after["predictor_calls"] - before["predictor_calls"]
    assert requests == 24
    assert calls < requests / 2, after
    assert after["largest_call_requests"] > 1
    for texts, answer in zip(jobs, answers, strict=True):
        assert answer["entities"] == _expected(models["dictionary"], texts)


# ----- auth, errors, timeouts --------------------------------------------------------------------


def test_token_is_required_on_v1_only(flaky: ServerProcess) -> None:
    anonymous = Client(flaky.url)
    status, answer, headers = anonymous.request("POST", "/v1/extract", {"texts": ["a"]})
    assert status == 401 and "bearer token" in answer["detail"]
    assert headers.get("www-authenticate") == "Bearer"
    assert Client(flaky.url, token="wrong").request("GET", "/v1/model")[0] == 401
    assert anonymous.request("GET", "/v1/model", headers={"authorization": TOKEN})[0] == 401
    assert Client(flaky.url, token=TOKEN).request("GET", "/v1/model")[0] == 200
    assert anonymous.request("GET", "/health")[0] == 200


def test_a_failing_predictor_is_a_500_with_a_request_id_only(flaky: ServerProcess) -> None:
    from tests.serve.flaky_model import SECRET

    def run(texts):
        return Client(flaky.url, token=TOKEN).request("POST", "/v1/extract", {"texts": texts})

    with ThreadPoolExecutor(2) as pool:  # batched together; the good one must still succeed
        bad, good = pool.map(run, [["fine", "BOOM"], ["Brussels is fine"]])
    status, answer, headers = bad
    assert status == 500
    assert answer["detail"].startswith("internal server error") and answer["request_id"]
    assert headers["x-request-id"] == answer["request_id"]
    text = json.dumps(answer)
    assert SECRET not in text and "Traceback" not in text and "RuntimeError" not in text
    assert good[0] == 200 and good[1]["entities"][0][0]["text"] == "Brussels"
    log = flaky.log  # the details are in the server log, under the request id
    assert answer["request_id"] in log and SECRET in log and "Traceback" in log


def test_a_slow_request_is_a_504(flaky: ServerProcess) -> None:
    started = time.monotonic()
    status, answer, _ = Client(flaky.url, token=TOKEN).request(
        "POST", "/v1/extract", {"texts": ["SLEEP"]})
    assert status == 504 and answer["limit"] == "timeout_s" and answer["value"] == 2
    assert time.monotonic() - started < 10
    time.sleep(1.0)  # let the abandoned call finish before other tests use this server


# ----- refusing to start -------------------------------------------------------------------------


def _fewner(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fewner.cli", *args], capture_output=True,
                          text=True, timeout=60, cwd=REPO, env={**os.environ, **(env or {})})


def test_refuses_a_public_address_without_a_token(models) -> None:
    done = _fewner("serve", str(models["dictionary"]), "--host", "0.0.0.0", "--port", "0")
    assert done.returncode == 2
    assert "refusing to listen on '0.0.0.0' without a bearer token" in done.stderr
    assert "--token-env" in done.stderr and "Traceback" not in done.stderr
    done = _fewner("serve", str(models["dictionary"]), "--token-env", "FEWNER_UNSET_TOKEN_VAR")
    assert done.returncode == 2 and "FEWNER_UNSET_TOKEN_VAR" in done.stderr


def test_a_model_that_cannot_load_fails_at_start_up(tmp_path: Path) -> None:
    broken = _save_dictionary(tmp_path / "broken")
    (broken / "support.jsonl").unlink()
    done = _fewner("serve", str(broken), "--port", "0")
    assert done.returncode == 2 and "support.jsonl" in done.stderr
    assert "Traceback" not in done.stderr and "Uvicorn running" not in done.stderr
