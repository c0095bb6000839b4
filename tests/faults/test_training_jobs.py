"""Fault injection for the training jobs on tiny random models: ``fewner train`` (LoRA stages),
``fewner distill`` (the student), ``fewner fit --recipe span`` (adaptation) and the span model's
training loop (pre-training). Each is SIGKILLed at random points once it has made progress,
resumed the way a user would (``--resume`` where the command has it, the same command where it
resumes by itself), and must end with weights identical to a run that was never killed.

Slow suite only: each run starts a Python with torch (seconds on a loaded machine).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.faults.harness import Job, finish, kill_loop, log_lines

pytest.importorskip("torch")
pytest.importorskip("transformers")

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
KILLS = 2


def _tensors(path: Path) -> dict:
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() and a
    for key in a:
        assert (a[key] == b[key]).all(), key


def _weights(folder: Path) -> dict:
    """Every tensor of every weights file under ``folder`` (keyed by file and name)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix in (".safetensors", ".pt", ".bin") and path.is_file():
            for name, value in _tensors(path).items():
                out[f"{path.relative_to(folder)}:{name}"] = value
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.tiny_models import tiny_causal_lm, tiny_encoder

    root = tmp_path_factory.mktemp("tiny")
    return {"lm": tiny_causal_lm(root / "lm"), "encoder": tiny_encoder(root / "enc")}


def _check(job: Job, tmp_path: Path, seed: int, result_of) -> None:
    finish(job, tmp_path / "reference")
    folder = tmp_path / "killed"
    killed = kill_loop(job, folder, seed=seed, kills=KILLS, jitter=0.5)
    assert killed >= 1, f"{job.name}: finished before the first kill"
    _same(result_of(tmp_path / "reference"), result_of(folder))


def test_train(tiny: dict[str, Path], tmp_path: Path) -> None:
    from tests.unit.train_tiny import write_train_config

    stages = {
        "source": {"data": {"path": "mini.conll", "limit": 2}, "epochs": 1, "batch_size": 1,
                   "checkpoint_every": 1, "log_every": 1},
        "target": {"data": {"path": "mini.conll", "types": ["PER", "LOC", "ORG", "MISC"]},
                   "epochs": 3, "batch_size": 2, "grad_accum": 1, "lr": 5e-3,
                   "checkpoint_every": 1, "log_every": 1},
    }
    config = write_train_config(tmp_path, tiny["lm"], stages, lora={"preset": "obp-llm"})

    def args(_folder: Path, again: bool) -> list[str]:
        return ["train", "--config", str(config), "--out", "run", "--no-progress",
                *(["--resume"] if again else [])]

    def progress(folder: Path) -> int:
        return sum(log_lines(p) for p in (folder / "run").glob("*/log.jsonl"))

    job = Job("train", args, lambda f: None, progress)
    _check(job, tmp_path, 3, lambda f: _weights(f / "run" / "adapter"))


def test_distill(tiny: dict[str, Path], tmp_path: Path) -> None:
    import yaml

    from fewner.data.io import write_corpus
    from tests.unit.distill_tiny import tiny_sentences

    sentences = tiny_sentences()
    write_corpus(sentences, tmp_path / "data" / "train.txt", "conll")
    write_corpus(sentences[:3], tmp_path / "data" / "test.txt", "conll")
    write_corpus(sentences, tmp_path / "data" / "teacher.jsonl", "jsonl")
    config = {
        "student": {"model": str(tiny["encoder"]), "max_length": 48},
        "data_root": str(tmp_path / "data"),
        "original": {"path": "train.txt"},
        "distilled": [{"path": str(tmp_path / "data" / "teacher.jsonl")}],
        "schedule": "simple_mix",
        "epochs": 6,
        "batch_size": 2,
        "lr": 1e-3,
        "threads": 1,
        "test": {"path": "test.txt"},
    }
    path = tmp_path / "distill.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")

    def args(_folder: Path, again: bool) -> list[str]:
        return ["distill", "--config", str(path), "--out", "run", *(["--resume"] if again else [])]

    job = Job("distill", args, lambda f: None, lambda f: log_lines(f / "run" / "log.jsonl"))
    _check(job, tmp_path, 4, lambda f: _weights(f / "run" / "student"))
    reference = json.loads((tmp_path / "reference" / "run" / "metrics.json").read_text())
    resumed = json.loads((tmp_path / "killed" / "run" / "metrics.json").read_text())
    assert resumed["test"]["micro"] == reference["test"]["micro"]


def test_fit_span(tiny: dict[str, Path], tmp_path: Path) -> None:
    from fewner.data.io import write_corpus
    from fewner.spanmodel.config import SpanModelConfig
    from fewner.spanmodel.predictor import SpanPredictor
    from fewner.spanmodel.span_model import SpanModel
    from fewner.types import Corpus
    from tests.unit.distill_tiny import tiny_sentences

    write_corpus(Corpus("tiny", tiny_sentences()), tmp_path / "support.jsonl", "jsonl")
    config = SpanModelConfig(encoder=str(tiny["encoder"]), max_width=4, hidden=16)
    SpanPredictor(SpanModel.build(config)).save(tmp_path / "base")

    def args(_folder: Path, _again: bool) -> list[str]:  # the same command resumes
        return ["fit", str(tmp_path / "support.jsonl"), "--recipe", "span",
                "--model", str(tmp_path / "base"), "--label-name", "PER=person",
                "--set", "steps=16", "--set", "batch_size=2", "--set", "checkpoint_every=1",
                "--set", "log_every=1", "-o", "out"]

    job = Job("fit", args, lambda f: None, lambda f: log_lines(f / "out" / "run" / "metrics.jsonl"))
    _check(job, tmp_path, 5, lambda f: _weights(f / "out" / "model"))


def test_span_training_loop(tiny: dict[str, Path], tmp_path: Path) -> None:
    job = Job(
        "span-train", lambda _f, _again: [str(tiny["encoder"])], lambda f: None,
        lambda f: log_lines(f / "run" / "metrics.jsonl"), script=HERE / "span_train_job.py",
    )
    _check(job, tmp_path, 6, lambda f: _tensors(f / "final.pt"))
