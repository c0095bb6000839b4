"""A full disk and a read-only output folder end in one clear line (exit 2, naming the file),
with nothing half-written: ``OUT.jsonl`` is the old file or the whole new one, streamed files
hold whole lines, the answer cache keeps what was committed, and a rerun once there is space
writes the same bytes as a run that never failed.

The disk faults are simulated in the job's process (:mod:`tests.faults.disk`, through
``launch.py``); the read-only folder is also tried for real with ``chmod`` (skipped as root, for
whom ``chmod`` denies nothing). The answer cache's full disk is SQLite's own (``max_page_count``).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from fewner.errors import FewnerError
from tests.faults.harness import Job, environment, finish, whole_lines
from tests.faults.test_llm_jobs import JOBS


def _chmod_denies() -> bool:
    """Whether a folder chmod-ed 0555 refuses new files (not for root, who may do anything)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        try:
            (folder / "probe").touch()
        except PermissionError:
            return True
        finally:
            folder.chmod(0o755)
        return False


needs_chmod = pytest.mark.skipif(not _chmod_denies(), reason="chmod denies nothing here (root)")

PREDICTIONS = {"predict": "preds.jsonl", "icl": "preds.jsonl", "annotate": "ann.jsonl"}
STREAMED = {"preds.partial.jsonl", "preds.answers.jsonl", "ann.jsonl"}


def _run(job: Job, folder: Path, **env: str) -> subprocess.CompletedProcess:
    from tests.faults.harness import LAUNCH

    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, str(LAUNCH), *job.args(folder, False)], cwd=folder,
        env=environment(folder, {**job.env, "FEWNER_FAULT_DELAY": "0", **env}),
        capture_output=True, text=True, timeout=120,
    )


def _snapshot(folder: Path) -> dict[str, bytes]:
    """The outputs a user reads (not the run folder's config/metrics, which hold times)."""
    return {p.name: p.read_bytes() for p in sorted((folder / "out").glob("*.jsonl"))}


def _assert_one_clear_line(result: subprocess.CompletedProcess, folder: Path, reason: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "cannot write " + str(folder.resolve() / "out") in lines[0] or (
        "cannot write out" in lines[0]
    ), lines[0]
    assert reason in lines[0], lines[0]


def _nothing_half_written(folder: Path, name: str, old: bytes, new: bytes) -> None:
    out = folder / "out"
    assert not list(out.rglob("*.tmp")), "a temp file was left behind"
    final = out / name
    if name in STREAMED:  # annotate streams its output: whole lines of what was done
        whole_lines(final)
    else:
        assert final.read_bytes() in (old, new), f"{name} was half written"
    for streamed in STREAMED:
        whole_lines(out / streamed)


@pytest.mark.parametrize("name", sorted(JOBS))
def test_full_disk_ends_in_one_clear_line_and_corrupts_nothing(name: str, tmp_path: Path) -> None:
    job = JOBS[name]()
    measured = _run(job, tmp_path / "measure", FEWNER_FAULT_USED=str(tmp_path / "used"))
    assert measured.returncode == 0, measured.stderr
    expected = _snapshot(tmp_path / "measure")
    used = int((tmp_path / "used").read_text())
    assert used > 0

    folder = tmp_path / "full"
    target = PREDICTIONS[name]
    old = b'{"old": "file"}\n'
    # at the start, half-way, in the last file written (timings make sizes vary by a few bytes)
    for budget in sorted({0, used // 2, used - 100}):
        (folder / "out").mkdir(parents=True, exist_ok=True)
        if target not in STREAMED:
            (folder / "out" / target).write_bytes(old)
        result = _run(job, folder, FEWNER_FAULT_DISK=str(budget))
        _assert_one_clear_line(result, folder, "disk is full")
        _nothing_half_written(folder, target, old, expected[target])
    finish(job, folder)  # space again: the same outputs as a run that never failed
    assert _snapshot(folder) == expected


@pytest.mark.parametrize("name", sorted(JOBS))
def test_read_only_output_folder_ends_in_one_clear_line(name: str, tmp_path: Path) -> None:
    job = JOBS[name]()
    folder = tmp_path / "ro"
    (folder / "out").mkdir(parents=True)
    result = _run(job, folder, FEWNER_FAULT_READONLY="1")
    _assert_one_clear_line(result, folder, "read-only")
    assert not any((folder / "out").iterdir())


@needs_chmod
def test_a_real_read_only_folder_ends_in_one_clear_line(tmp_path: Path) -> None:
    job = JOBS["predict"]()
    folder = tmp_path / "ro"
    (folder / "out").mkdir(parents=True)
    (folder / "out").chmod(0o555)
    try:
        result = _run(job, folder)
    finally:
        (folder / "out").chmod(0o755)
    _assert_one_clear_line(result, folder, "permission denied")
    assert not any((folder / "out").iterdir())


def test_full_disk_under_the_answer_cache_keeps_what_was_committed(tmp_path: Path) -> None:
    from fewner.backends.cache import CachedBackend
    from fewner.backends.scripted import ScriptedBackend

    path = tmp_path / "cache.sqlite"
    prompts = [f"prompt {i} " + "x" * 3000 for i in range(40)]
    inner = ScriptedBackend(lambda p: p.upper())
    cache = CachedBackend(inner, path, batch_size=4)
    cache.store._db.execute("PRAGMA max_page_count = 30")  # SQLite's own "disk is full"
    with pytest.raises(FewnerError, match="disk is full") as info:
        cache.generate(prompts)
    assert str(path) in str(info.value)
    computed = len(inner.generated_prompts)
    cache.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        committed = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        assert db.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
    assert 0 < committed < len(prompts) and computed - committed <= 4

    again = ScriptedBackend(lambda p: p.upper())
    resumed = CachedBackend(again, path, batch_size=4)
    assert resumed.generate(prompts) == [p.upper() for p in prompts]
    assert len(again.generated_prompts) == len(prompts) - committed


@needs_chmod
def test_an_answer_cache_in_a_read_only_folder_is_a_clear_error(tmp_path: Path) -> None:
    from fewner.backends.cache import CachedBackend
    from fewner.backends.scripted import ScriptedBackend

    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(FewnerError, match="cannot write") as info:
            CachedBackend(ScriptedBackend(), folder / "cache.sqlite")
    finally:
        folder.chmod(0o755)
    assert str(folder / "cache.sqlite") in str(info.value)


def test_saving_a_model_folder_on_a_full_disk_leaves_nothing_that_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fewner.predictors import load_folder
    from fewner.predictors.dictionary import DictionaryPredictor
    from fewner.runs import OutputError
    from tests.faults.disk import full_disk, read_only
    from tests.unit.distill_tiny import tiny_sentences

    predictor = DictionaryPredictor(tiny_sentences(), ["PER", "LOC"])
    predictor.save(tmp_path / "measure")
    used = sum(len(p.read_text()) for p in (tmp_path / "measure").rglob("*") if p.is_file())
    for budget in (0, used // 2):
        folder = tmp_path / f"full-{budget}"
        with monkeypatch.context() as patch:
            full_disk(patch, folder, budget)
            with pytest.raises(OutputError, match="disk is full") as info:
                predictor.save(folder)
        assert str(folder) in str(info.value)
        with pytest.raises(FewnerError):
            load_folder(folder)
    with monkeypatch.context() as patch:
        read_only(patch, tmp_path / "ro")
        with pytest.raises(OutputError, match="read-only"):
            predictor.save(tmp_path / "ro" / "model")


def test_a_torch_checkpoint_on_a_full_disk_keeps_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = pytest.importorskip("torch")
    from fewner.runs import OutputError, save_torch_atomic
    from tests.faults.disk import full_disk

    path = tmp_path / "run" / "checkpoint.pt"
    save_torch_atomic({"step": 1, "w": torch.ones(3)}, path)
    with monkeypatch.context() as patch:
        full_disk(patch, tmp_path / "run", 100)
        with pytest.raises(OutputError, match="disk is full") as info:
            save_torch_atomic({"step": 2, "w": torch.zeros(10_000)}, path)
    assert str(path) in str(info.value)
    assert torch.load(path, weights_only=True)["step"] == 1
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["checkpoint.pt"]


def test_a_training_checkpoint_on_a_full_disk_is_a_clear_error_and_keeps_the_last_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = pytest.importorskip("torch")
    from fewner.runs import OutputError
    from fewner.train.checkpoint import CheckpointStore, LoopState
    from tests.faults.disk import full_disk

    class Model:  # what the store asks of a model: save_pretrained(folder)
        def save_pretrained(self, folder: str) -> None:
            Path(folder, "adapter.bin").write_bytes(b"weights")

    weight = torch.nn.Parameter(torch.zeros(4096))
    optimizer = torch.optim.Adam([weight])
    weight.grad = torch.ones(4096)
    optimizer.step()  # optimizer state: kilobytes to write
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _s: 1.0)
    store = CheckpointStore(tmp_path / "checkpoints")
    first = store.save(Model(), optimizer, scheduler, LoopState(step=1), {})
    with monkeypatch.context() as patch:
        full_disk(patch, tmp_path / "checkpoints", 2000)
        with pytest.raises(OutputError, match="disk is full") as info:
            store.save(Model(), optimizer, scheduler, LoopState(step=2), {})
    assert "step-000002" in str(info.value)
    assert store.latest() == first
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["latest.json", first.name]
