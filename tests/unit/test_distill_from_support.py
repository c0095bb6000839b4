"""The pipeline support set + unlabeled pool -> teacher labels -> student -> scores
(fewner.distill.from_support, `fewner distill-from`), on a tiny random span model, a dictionary
teacher, a counting teacher and a scripted LLM teacher; one run is killed mid-labelling."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import fewner
from fewner.cli import cli
from fewner.data.io import write_corpus
from fewner.distill.from_support import distill_from_support
from fewner.distill.pool import read_pool, read_pool_sources
from fewner.distill.teacher_labels import done_labels
from fewner.errors import ConfigError
from fewner.predictors.dictionary import DictionaryPredictor
from tests.unit.distill_tiny import tiny_encoder, tiny_sentences

REPO = Path(__file__).resolve().parents[2]
POOL = [
    "Peter Blackburn met Reuters in Brussels today. EU officials agreed on the plan.",
    "Zürich is far from São Paulo and Brazil.",
    "",
    "The EU and Peter Blackburn talked in Brussels for a long time.",
    "Reuters reports that Brazil won the match in Zürich.",
    "Peter Blackburn met Reuters in Brussels today.",  # a repeat: kept once
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny span base model, a support set (t0-t2), a test file (t3-t4) and a raw pool."""
    from fewner.spanmodel.config import SpanModelConfig
    from fewner.spanmodel.predictor import SpanPredictor
    from fewner.spanmodel.span_model import SpanModel

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("from-support")
    config = SpanModelConfig(encoder=str(tiny_encoder(root / "enc")), max_width=4, hidden=16)
    base = SpanPredictor(SpanModel.build(config, seed=0), [], threshold=0.3).save(root / "base")
    write_corpus(tiny_sentences()[:3], root / "support.jsonl", "jsonl")
    write_corpus(tiny_sentences()[3:], root / "test.jsonl", "jsonl")
    (root / "pool.txt").write_text("\n".join(POOL) + "\n", encoding="utf-8")
    return {"root": root, "base": base, "support": root / "support.jsonl",
            "test": root / "test.jsonl", "pool": root / "pool.txt"}


def _fast(files, *more):
    return [f"student.model={files['base']}", "epochs=1", *more]


class CountingTeacher(DictionaryPredictor):
    """The support-set dictionary, recording every sentence it is asked; fails (a crash) once
    it has answered ``fail_after`` sentences."""

    def __init__(self, support, labels, fail_after=None):
        super().__init__(support, labels)
        self.asked: list[str] = []
        self.fail_after = fail_after

    def _predict_batch(self, sentences, labels):
        if self.fail_after is not None and len(self.asked) >= self.fail_after:
            raise RuntimeError("teacher crashed")
        self.asked += [s.text for s in sentences]
        return super()._predict_batch(sentences, labels)


def test_pipeline_end_to_end(files, tmp_path):
    logs: list[str] = []
    model = distill_from_support(
        files["support"], files["pool"], teacher="dictionary", test=files["test"],
        out=tmp_path / "run", progress=False, log=logs.append, overrides=_fast(files),
    )
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["results"]) == {"teacher", "support_only", "student"}
    for row in metrics["results"].values():
        assert row["sentences"] == 2 and row["sentences_per_second"] > 0
    pool = metrics["pool"]
    assert pool["documents"] == 5 and pool["sentences"] == 5  # 6 sentences, one repeated
    assert pool["skipped"] == {"blank line": 1, "repeated sentence": 1}
    records = [json.loads(x) for x in (run / "teacher" / "labels.jsonl").read_text().splitlines()]
    first = records[0]
    assert first["meta"] == {"document": "pool.txt:1", "offset": "0"} and first["status"] == "ok"
    second = records[1]
    assert second["meta"]["offset"] == str(POOL[0].index("EU officials"))
    assert {e["label"] for e in first["entities"]} == {"PER", "ORG", "LOC"}  # the teacher's
    # the saved student: a span model folder that fewner.load serves, trained on the labels
    loaded = fewner.load(run / "model")
    assert loaded.kind == "span" and sorted(loaded.labels) == ["LOC", "MISC", "ORG", "PER"]
    assert type(model) is type(loaded)
    assert isinstance(loaded.predict("Peter Blackburn is in Brussels."), list)
    manifest = json.loads((run / "model" / "fewner.json").read_text())
    assert manifest["training"]["distilled"][0]["kept"] == 5
    assert not (run / "train" / "checkpoint.pt").exists()


def test_rerun_asks_only_the_missing_sentences(files, tmp_path):
    support = tiny_sentences()[:3]
    labels = ["PER", "LOC", "ORG", "MISC"]
    crashing = CountingTeacher(support, labels, fail_after=2)
    args = {"out": tmp_path / "run", "progress": False, "log": lambda _m: None,
            "overrides": [*_fast(files), "teacher.batch_size=2"]}
    with pytest.raises(RuntimeError, match="teacher crashed"):
        distill_from_support(files["support"], files["pool"], teacher=crashing, **args)
    assert len(crashing.asked) == 2
    assert len(done_labels(tmp_path / "run" / "teacher" / "labels.jsonl")) == 2
    second = CountingTeacher(support, labels)
    distill_from_support(files["support"], files["pool"], teacher=second, **args)
    assert len(second.asked) == 3 and not set(second.asked) & set(crashing.asked)
    labelled = done_labels(tmp_path / "run" / "teacher" / "labels.jsonl")
    assert len(labelled) == 5
    counts = json.loads((tmp_path / "run" / "metrics.json").read_text())["teacher_labelling"]
    assert counts["labelled_before"] == 2 and counts["labelled"] == 3
    third = CountingTeacher(support, labels)  # all done: the teacher is not asked at all
    distill_from_support(files["support"], files["pool"], teacher=third, **args)
    assert third.asked == []
    counts = json.loads((tmp_path / "run" / "metrics.json").read_text())["teacher_labelling"]
    assert counts["labelled"] == 3 and counts["labelled_now"] == 0  # the earlier runs' counts


def test_labels_copied_from_a_larger_pool_train_on_this_pool_only(files, tmp_path):
    """A smaller pool's run may start from a larger run's labels (the teacher is not asked
    again); its student learns this pool's sentences only."""
    support = tiny_sentences()[:3]
    labels = ["PER", "LOC", "ORG", "MISC"]
    common = {"progress": False, "log": lambda _m: None}
    distill_from_support(files["support"], files["pool"], teacher=CountingTeacher(support, labels),
                         out=tmp_path / "all", overrides=_fast(files), **common)
    (tmp_path / "two" / "teacher").mkdir(parents=True)
    copied = tmp_path / "two" / "teacher" / "labels.jsonl"
    copied.write_bytes((tmp_path / "all" / "teacher" / "labels.jsonl").read_bytes())
    logs: list[str] = []
    teacher = CountingTeacher(support, labels)
    distill_from_support(files["support"], files["pool"], teacher=teacher, out=tmp_path / "two",
                         overrides=_fast(files, "pool.limit=2"), progress=False, log=logs.append)
    assert teacher.asked == [] and len(done_labels(copied)) == 5
    subset = tmp_path / "two" / "teacher" / "pool-labels.jsonl"
    assert [json.loads(x)["id"] for x in subset.read_text().splitlines()] == list(done_labels(copied))[:2]
    assert any("3 labelled sentences outside this pool" in m for m in logs)
    manifest = json.loads((tmp_path / "two" / "model" / "fewner.json").read_text())
    assert manifest["training"]["distilled"][0]["kept"] == 2


def test_cut_last_line_is_relabelled(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text('{"id": "a", "text": "x"}\n{"id": "b", "te', encoding="utf-8")
    assert list(done_labels(path)) == ["a"]
    assert path.read_text() == '{"id": "a", "text": "x"}\n'


KILLED_RUN = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
import fewner.backends.factory as factory

count, delay = Path(sys.argv[1]), float(sys.argv[2])
real = factory.make_backend

def answer(prompt):
    text = prompt.rsplit("Text: ", 1)[1].split("\\n", 1)[0]
    with count.open("a") as handle:
        handle.write(json.dumps(text) + "\\n")
    time.sleep(delay)
    return " " + json.dumps({{"PER": [text.split()[0]], "LOC": [], "ORG": [], "MISC": []}})

factory.make_backend = lambda kind, model, cache=None, **o: real(
    "scripted", "t", cache=cache, answers=answer)
from fewner.cli import main
main(sys.argv[3:])
"""


def test_killed_mid_labelling_then_rerun(files, tmp_path):
    """`fewner distill-from` with an LLM teacher (openai:, scripted) is SIGKILLed after a few
    answers; the same command again asks only for what was not labelled (at most the batch in
    flight twice) and ends with a model folder that loads."""
    pool = tmp_path / "pool.txt"
    lines = [f"Speaker{i} talked about the weather in town number {i} today." for i in range(24)]
    pool.write_text("\n".join(lines) + "\n", encoding="utf-8")
    script = tmp_path / "run_teacher.py"
    script.write_text(KILLED_RUN.format(repo=str(REPO)), encoding="utf-8")
    count = tmp_path / "answers.txt"
    out = tmp_path / "run"
    command = [
        "distill-from", str(files["support"]), str(pool), "--teacher", "openai:fake",
        "--base-url", "http://127.0.0.1:9/v1", "--out", str(out), "--set", "teacher.batch_size=2",
        *[x for item in _fast(files) for x in ("--set", item)],
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    first = subprocess.Popen(
        [sys.executable, str(script), str(count), "0.1", *command],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and first.poll() is None:
        if count.is_file() and len(count.read_text().splitlines()) >= 6:
            break
        time.sleep(0.02)
    assert first.poll() is None, first.stderr.read().decode() if first.stderr else ""
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    asked_first = count.read_text().splitlines()
    assert 6 <= len(asked_first) < 24
    labelled = done_labels(out / "teacher" / "labels.jsonl")
    assert 0 < len(labelled) < 24
    second = subprocess.run(
        [sys.executable, str(script), str(count), "0", *command],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    asked = count.read_text().splitlines()
    assert len(set(asked)) == 24
    assert len(asked) - 24 <= 2  # only the batch in flight at the kill is asked twice
    assert len(done_labels(out / "teacher" / "labels.jsonl")) == 24
    assert fewner.load(out / "model").kind == "span"


def test_cli_prints_the_table(files, tmp_path):
    out = tmp_path / "run"
    args = ["distill-from", str(files["support"]), str(files["pool"]), "--teacher", "dictionary",
            "--test", str(files["test"]), "--out", str(out), "--verify", "none",
            *[x for item in _fast(files) for x in ("--set", item)]]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["verify"]["by"] == "none"
    assert not (out / "teacher" / "verified-labels.jsonl").exists()
    for word in ("teacher", "set only", "teacher labels", "F1", "sentences/s"):
        assert word in " ".join(result.output.split())
    assert (out / "model" / "fewner.json").is_file()
    predictions = tmp_path / "predictions.jsonl"
    served = CliRunner().invoke(cli, ["predict", "-m", str(out / "model"), str(files["test"]),
                                      "-o", str(predictions)])
    assert served.exit_code == 0, served.output
    assert len(predictions.read_text().splitlines()) == 2


def test_token_student(files, tmp_path):
    enc = tiny_encoder(tmp_path / "enc")
    distill_from_support(
        files["support"], files["pool"], teacher="dictionary", student="token",
        test=files["test"], out=tmp_path / "run", progress=False, log=lambda _m: None,
        overrides=[f"student.model={enc}", "epochs=1", "evaluate.support_epochs=1"],
    )
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics["results"]) == {"teacher", "support_only", "student"}
    assert fewner.load(tmp_path / "run" / "model").predict_sentences(tiny_sentences()[:1],
                                                                      ["PER"]).sentences


# ----- the pool ------------------------------------------------------------------------------


def test_pool_folder_data_file_limit_and_seed(tmp_path):
    folder = tmp_path / "texts"
    (folder / "b").mkdir(parents=True)
    (folder / "a.txt").write_text("One two three four. Five six seven eight.\n", encoding="utf-8")
    (folder / "b" / "c.txt").write_text("Nine ten eleven twelve.", encoding="utf-8")
    sentences, report = read_pool(folder)
    assert [s.text for s in sentences] == [
        "One two three four.", "Five six seven eight.", "Nine ten eleven twelve."]
    assert report["layout"] == "files" and sentences[2].id == "b/c.txt:0"
    conll = tmp_path / "train.conll"
    write_corpus(tiny_sentences(), conll, "conll")
    sentences, report = read_pool(conll, min_words=1)
    assert len(sentences) == 5 and not any(s.spans for s in sentences)
    assert report["labels_dropped_from"] == 4
    first, _ = read_pool(conll, limit=2, min_words=1)
    assert [s.text for s in first] == [s.text for s in tiny_sentences()[:2]]
    sample, _ = read_pool(conll, limit=2, seed=3, min_words=1)
    assert sample == read_pool(conll, limit=2, seed=3, min_words=1)[0]


def test_pool_sources_each_with_its_limit_repeats_kept_once(files, tmp_path):
    conll = tmp_path / "train.conll"
    write_corpus(tiny_sentences(), conll, "conll")
    folder = tmp_path / "news"
    folder.mkdir()
    repeat = tiny_sentences()[0].text
    (folder / "a.txt").write_text(f"{repeat}\nOne two three four.\nFive six seven eight.\n",
                                  encoding="utf-8")
    sources = [(conll, "auto", 2, None), (folder, "auto", 2, None)]
    sentences, report = read_pool_sources(sources, min_words=1)
    assert [s.text for s in sentences] == [s.text for s in tiny_sentences()[:2]] + [
        "One two three four."]  # the news file's first sentence repeats the conll one
    assert report["sentences"] == 3 and report["repeated_across_sources"] == 1
    assert [r["sentences"] for r in report["sources"]] == [2, 2]
    other = tmp_path / "other" / "train.conll"  # the same file name: the same sentence ids
    other.parent.mkdir()
    write_corpus(tiny_sentences()[::-1], other, "conll")
    with pytest.raises(ConfigError, match="different file names"):
        read_pool_sources([(conll, "auto", None, None), (other, "auto", None, None)], min_words=1)
    # the pipeline reads pool.also after the pool's own text
    distill_from_support(
        files["support"], files["pool"], teacher="dictionary", out=tmp_path / "run",
        progress=False, log=lambda _m: None,
        overrides=_fast(files, f"pool.also=[{{path: {folder}, limit: 1}}]"),
    )
    pool = json.loads((tmp_path / "run" / "pool.json").read_text())
    assert pool["sentences"] == 6 and [r["sentences"] for r in pool["sources"]] == [5, 1]
    labelled = done_labels(tmp_path / "run" / "teacher" / "labels.jsonl")
    assert "a.txt:0" in labelled and len(labelled) == 6


def test_empty_pool_is_refused(files, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["distill-from", str(files["support"]), str(empty),
                                      "--teacher", "dictionary", "--out", str(tmp_path / "r")])
    assert result.exit_code != 0
    short = tmp_path / "short.txt"
    short.write_text("Hi there.\nOk.\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no sentence of at least 3 words"):
        read_pool(short)


def test_test_text_as_pool_is_refused_and_overlap_warned(files, tmp_path):
    with pytest.raises(ConfigError, match="never the test text"):
        distill_from_support(files["support"], files["test"], teacher="dictionary",
                             test=files["test"], out=tmp_path / "run", progress=False,
                             log=lambda _m: None, overrides=_fast(files))
    assert not (tmp_path / "run").exists()  # refused before anything is written
    pool = tmp_path / "pool.txt"
    test_text = tiny_sentences()[4].text
    pool.write_text("\n".join([*POOL, test_text, "Another unrelated line of pool text."]) + "\n",
                    encoding="utf-8")
    logs: list[str] = []
    distill_from_support(files["support"], pool, teacher="dictionary", test=files["test"],
                         out=tmp_path / "run2", progress=False, log=logs.append,
                         overrides=[*_fast(files), "evaluate.support_only=false"])
    assert any("1 of the 2 test sentences are also in the pool" in m for m in logs)


def test_other_config_in_the_same_folder_is_refused(files, tmp_path):
    args = {"teacher": "dictionary", "out": tmp_path / "run", "progress": False,
            "log": lambda _m: None}
    distill_from_support(files["support"], files["pool"], overrides=_fast(files), **args)
    with pytest.raises(ConfigError, match="another config"):
        distill_from_support(files["support"], files["pool"],
                             overrides=[*_fast(files), "seed=1"], **args)


def test_bad_teacher_and_config_keys(files, tmp_path):
    with pytest.raises(ConfigError, match="base_url"):
        distill_from_support(files["support"], files["pool"], teacher="openai:x",
                             out=tmp_path / "a", progress=False, overrides=_fast(files))
    with pytest.raises(ConfigError, match="unknown key"):
        distill_from_support(files["support"], files["pool"], teacher="dictionary",
                             out=tmp_path / "b", progress=False,
                             overrides=[*_fast(files), "pool.limt=3"])
    from fewner.errors import FewnerError

    with pytest.raises(FewnerError, match="no-such-model"):
        distill_from_support(files["support"], files["pool"], teacher="no-such-model",
                             out=tmp_path / "c", progress=False, log=lambda _m: None,
                             overrides=_fast(files))


def test_span_teacher_is_the_support_only_student(files, tmp_path):
    """teacher span + student span from the same base: the adapted teacher is saved in
    RUN/teacher/fit/model and is the support-only row (no second adaptation); a rerun after a
    crash loads it instead of adapting again."""
    out = tmp_path / "run"
    logs: list[str] = []
    distill_from_support(
        files["support"], files["pool"], teacher="span", test=files["test"], out=out,
        progress=False, log=logs.append,
        overrides=[*_fast(files), f"teacher.options={{model: {files['base']}}}"],
    )
    assert (out / "teacher" / "fit" / "model" / "fewner.json").is_file()
    assert not (out / "support-only" / "model").exists()
    assert any("the teacher" in m for m in logs if m.startswith("student from the support"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["results"]) == {"teacher", "support_only", "student"}


def test_fit_recipe_and_fit_command_run_the_pipeline(files, tmp_path):
    """``fewner.fit(..., recipe="distill-from", pool=...)`` and ``fewner fit --recipe
    distill-from`` run the same pipeline with the examples as the support set."""
    with pytest.warns(UserWarning, match="left out"):  # MISC and ORG spans: not asked for
        model = fewner.fit(tiny_sentences()[:3], ["PER", "LOC"], recipe="distill-from",
                           pool=files["pool"], teacher="dictionary", out=tmp_path / "api",
                           progress=False, student={"model": str(files["base"])}, epochs=1)
    assert model.kind == "span" and sorted(model.labels) == ["LOC", "PER"]
    metrics = json.loads((tmp_path / "api" / "metrics.json").read_text())
    assert metrics["pool"]["sentences"] == 5 and "student" not in metrics["results"]  # no test
    assert fewner.load(tmp_path / "api" / "model").labels == model.labels

    out = tmp_path / "cli"
    result = CliRunner().invoke(cli, [
        "fit", str(files["support"]), "--recipe", "distill-from", "-o", str(out),
        "--set", f"pool={files['pool']}", "--set", "teacher=dictionary",
        "--set", f"student={{model: {files['base']}}}", "--set", "epochs=1",
    ])
    assert result.exit_code == 0, result.output
    assert (out / "teacher" / "labels.jsonl").is_file()
    assert fewner.load(out / "model").kind == "span"


def test_verify_rule_keeps_plausible_teacher_spans_and_adds_confident_own_ones():
    from fewner.distill.verify import verify_records

    records = [
        {"id": "a", "text": "x", "status": "ok", "entities": [
            {"start": 0, "end": 5, "label": "PER"},    # scored 0.2: kept
            {"start": 6, "end": 9, "label": "LOC"},    # scored 0.01: dropped
            {"start": 10, "end": 14, "label": "ORG"},  # not scored at all: dropped
        ]},
        {"id": "b", "text": "y", "status": "ok", "entities": []},
    ]
    scores = {
        "a": {(0, 5, "PER"): 0.2, (6, 9, "LOC"): 0.01, (0, 3, "ORG"): 0.9,  # overlaps a kept span
              (20, 25, "LOC"): 0.8, (21, 25, "PER"): 0.7},  # added; then overlapping: not added
        "b": {(0, 4, "PER"): 0.6, (5, 8, "ORG"): 0.4},
    }
    checked, counts = verify_records(records, scores, keep_above=0.05, add_above=0.5)
    spans = [[(e["start"], e["end"], e["label"]) for e in r["entities"]] for r in checked]
    assert spans == [[(0, 5, "PER"), (20, 25, "LOC")], [(0, 4, "PER")]]
    assert counts == {"sentences": 2, "teacher_spans": 3, "kept": 1, "dropped": 2, "added": 2}
    assert checked[0]["status"] == "ok" and records[0]["entities"][1]["label"] == "LOC"  # copies
    with pytest.raises(ConfigError, match="keep_above"):
        verify_records(records, scores, keep_above=0.0, add_above=0.5)


def test_support_only_student_checks_the_teacher_labels(files, tmp_path):
    """A span student's run (verify.by auto): the support-only student checks the teacher's
    labels into RUN/teacher/verified-labels.jsonl, which the student learns; a rerun reads the
    check back; verify.by none learns the teacher's labels; a token student cannot be the
    checker."""
    out = tmp_path / "run"
    distill_from_support(files["support"], files["pool"], teacher="dictionary", out=out,
                         test=files["test"], progress=False, log=lambda m: None,
                         overrides=_fast(files))
    metrics = json.loads((out / "metrics.json").read_text())
    check = metrics["verify"]
    teacher = [json.loads(x) for x in (out / "teacher" / "labels.jsonl").read_text().splitlines()]
    checked = [json.loads(x) for x in (out / "teacher" / "verified-labels.jsonl").read_text().splitlines()]
    assert [r["id"] for r in checked] == [r["id"] for r in teacher]
    assert check["teacher_spans"] == sum(len(r["entities"]) for r in teacher) > 0
    assert check["kept"] + check["dropped"] == check["teacher_spans"]
    assert sum(len(r["entities"]) for r in checked) == check["kept"] + check["added"]
    manifest = json.loads((out / "model" / "fewner.json").read_text())
    assert manifest["training"]["distilled"][0]["path"].endswith("verified-labels.jsonl")
    assert (out / "support-only" / "model" / "fewner.json").is_file()  # built once, scored too
    assert set(metrics["results"]) == {"teacher", "support_only", "student"}
    from fewner.distill.from_support import results_table

    assert "checked by the support-only student" in results_table(metrics)[2][0]
    before = (out / "teacher" / "verified-labels.json").stat().st_mtime_ns
    distill_from_support(files["support"], files["pool"], teacher="dictionary", out=out,
                         test=files["test"], progress=False, log=lambda m: None,
                         overrides=_fast(files))
    assert (out / "teacher" / "verified-labels.json").stat().st_mtime_ns == before

    plain = tmp_path / "plain"
    distill_from_support(files["support"], files["pool"], teacher="dictionary", out=plain,
                         progress=False, log=lambda m: None,
                         overrides=_fast(files, "verify.by=none"))
    assert not (plain / "teacher" / "verified-labels.jsonl").exists()
    assert "verify" not in json.loads((plain / "metrics.json").read_text())
    with pytest.raises(ConfigError, match="verify.by: support-only"):
        distill_from_support(files["support"], files["pool"], teacher="dictionary",
                             student="token", out=tmp_path / "t", progress=False,
                             overrides=["verify.by=support-only"])
    with pytest.raises(ConfigError, match="add_above"):
        distill_from_support(files["support"], files["pool"], teacher="dictionary",
                             out=tmp_path / "t", progress=False, overrides=["verify.add_above=2"])


class CachedTeacher(CountingTeacher):
    """Answers as the dictionary does, reporting every sentence as an answer-cache hit."""

    def runtime_counters(self):
        return {"cache_hits": len(self.asked), "cache_misses": 0}


def test_a_teacher_answering_from_its_cache_reports_no_speed(files, tmp_path):
    from fewner.distill.from_support import cache_counts, results_table

    support = tiny_sentences()[:3]
    teacher = CachedTeacher(support, ["PER", "LOC", "ORG", "MISC"])
    distill_from_support(files["support"], files["pool"], teacher=teacher, test=files["test"],
                         out=tmp_path / "run", progress=False, log=lambda _m: None,
                         overrides=_fast(files))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    row = metrics["results"]["teacher"]
    assert row["sentences_per_second"] is None and row["cached_answers"] == 2
    assert next(r for r in results_table(metrics) if r[0] == "teacher")[-1] == "cached"
    assert metrics["results"]["student"]["sentences_per_second"] > 0
    assert cache_counts({"cache": {"a": {"hits": 2, "misses": 1}, "b": {"hits": 3, "misses": None}}}) == (5, 1)
    assert cache_counts({"cache_hits": None, "cache_misses": None}) == (None, None)
    assert cache_counts({}) == (None, None)
