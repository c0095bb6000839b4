"""Fault injection for the language-model jobs (``fewner predict``, ``fewner icl``,
``fewner annotate``) with a scripted backend that logs every prompt it computes.

Killed with SIGKILL at random points and resumed, each job ends with outputs byte-identical to a
run that was never killed, computes no prompt twice beyond those in flight at a kill (at most one
backend batch per kill), and leaves behind only whole lines in the files it streams. The loop
(several kills) runs in the slow suite; one kill per job runs in the fast suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.faults.harness import Job, calls, finish, kill_loop, log_lines, whole_lines

BATCH = 4
WORDS = ["Paris", "rained", "Bob", "flew", "to", "Rome", "it", "was", "late", "again"]


def _input(folder: Path, n: int = 24) -> Path:
    """``n`` small sentences in token<TAB>tag form, some naming Paris."""
    lines = []
    for i in range(n):
        words = [WORDS[(i * 3 + k) % len(WORDS)] for k in range(3 + i % 4)] + [str(i)]
        lines += [f"{w}\t{'B-LOC' if w in ('Paris', 'Rome') else 'O'}" for w in words] + [""]
    path = folder / "input.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _files(folder: Path, *names: str) -> dict[str, bytes]:
    return {n: (folder / n).read_bytes() for n in names}


def _predict_job() -> Job:
    def args(folder: Path, _again: bool) -> list[str]:
        _input(folder)
        return ["predict", "input.txt", "-o", "out/preds.jsonl", "--backend", "faulty",
                "--model", "x", "--types", "LOC,PER", "--batch-size", str(BATCH)]

    def partial(folder: Path) -> None:
        whole_lines(folder / "out" / "preds.partial.jsonl")
        whole_lines(folder / "out" / "preds.answers.jsonl")
        assert not (folder / "out" / "preds.jsonl").exists()  # written whole, at the end

    return Job(
        "predict", args, lambda f: _files(f / "out", "preds.jsonl", "preds.answers.jsonl"),
        lambda f: log_lines(f / "calls.log"),
        env={"FEWNER_FAULT_ANSWER": " <<< Paris >>>", "FEWNER_FAULT_DELAY": "0.02"},
        check_partial=partial,
    )


def _icl_job() -> Job:
    def args(folder: Path, _again: bool) -> list[str]:
        _input(folder)
        (folder / "pool.txt").write_text(
            "Alice\tB-PER\nmet\tO\nCarol\tB-PER\n\nRome\tB-LOC\nis\tO\nfar\tO\n", encoding="utf-8"
        )
        config = {
            "models": [{"model": "s1", "backend": "faulty", "options": {"batch_size": BATCH}}],
            "retrieval": {"method": "random", "k": 1},
        }
        (folder / "icl.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        return ["icl", "input.txt", "--pool", "pool.txt", "--config", "icl.yaml",
                "-o", "out/preds.jsonl", "--set", "extract.constrained=false"]

    def partial(folder: Path) -> None:
        whole_lines(folder / "out" / "preds.partial.jsonl")
        whole_lines(folder / "out" / "preds.answers.jsonl")
        assert not (folder / "out" / "preds.jsonl").exists()

    return Job(
        "icl", args,
        lambda f: _files(f / "out", "preds.jsonl", "preds.unvalidated.jsonl", "preds.answers.jsonl"),
        lambda f: log_lines(f / "calls.log"),
        env={"FEWNER_FAULT_ANSWER": " <<< Paris >>>", "FEWNER_FAULT_DELAY": "0.02"},
        check_partial=partial,
    )


def _annotate_job() -> Job:
    def args(folder: Path, _again: bool) -> list[str]:
        _input(folder)
        return ["annotate", "input.txt", "-o", "out/ann.jsonl", "--backend", "faulty",
                "--model", "x", "--types", "LOC,PER", "--batch-size", str(BATCH), "--demos", "0"]

    return Job(
        "annotate", args, lambda f: _files(f / "out", "ann.jsonl"),
        lambda f: log_lines(f / "calls.log"),
        env={"FEWNER_FAULT_ANSWER": "{json}", "FEWNER_FAULT_DELAY": "0.03"},
        check_partial=lambda f: whole_lines(f / "out" / "ann.jsonl"),
    )


JOBS = {"predict": _predict_job, "icl": _icl_job, "annotate": _annotate_job}


def _check(name: str, tmp_path: Path, seed: int, kills: int) -> None:
    job = JOBS[name]()
    finish(job, tmp_path / "reference")
    expected, reference_calls = job.result(tmp_path / "reference"), calls(tmp_path / "reference")
    assert all(n == 1 for n in reference_calls.values())  # each prompt once when not killed

    folder = tmp_path / "killed"
    killed = kill_loop(job, folder, seed=seed, kills=kills, jitter=0.3)
    assert killed >= 1, f"{name}: finished before the first kill"
    assert job.result(folder) == expected
    made = calls(folder)
    assert set(made) == set(reference_calls)
    repeated = sum(made.values()) - len(made)
    assert repeated <= killed * BATCH, f"{name}: {repeated} prompts computed again after {killed} kills"


@pytest.mark.parametrize("name", sorted(JOBS))
def test_one_kill_then_resume_gives_the_same_outputs(name: str, tmp_path: Path) -> None:
    _check(name, tmp_path, seed=0, kills=1)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("name", sorted(JOBS))
def test_killed_at_random_points_and_resumed_gives_the_same_outputs(
    name: str, seed: int, tmp_path: Path
) -> None:
    _check(name, tmp_path, seed=seed, kills=4)
