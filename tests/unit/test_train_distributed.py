"""Data-parallel training under ``accelerate launch`` (two CPU processes, gloo) on a tiny model.

The claim of :mod:`fewner.train.distributed`: the number of processes does not change what a
step trains on, so with LoRA dropout 0 a 2-process run ends with the adapter of a 1-process run
(up to float summation order), writes each file once, and a DPO stage's pairs (made by rank 0)
are the pairs of a 1-process run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fewner.train.distributed import SingleProcess, shard
from tests.unit.train_tiny import tiny_causal_lm

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"


def test_shards_cover_a_batch_once_and_may_be_empty():
    batch = [7, 3, 9, 1, 4]
    parts = [shard(batch, r, 2) for r in range(2)]
    assert parts == [[7, 9, 4], [3, 1]]
    assert sorted(parts[0] + parts[1]) == sorted(batch)
    assert shard([5], 1, 2) == []  # the process then runs one example with loss x 0


def test_single_process_context_changes_nothing():
    one = SingleProcess()
    model = object()
    assert one.wrap(model) is model
    assert one.sum({"loss": 2.0}) == {"loss": 2.0}
    assert one.gather("x") == ["x"]
    assert (one.world, one.rank, one.is_main) == (1, 0, True)


def _config(tmp: Path, model: Path) -> Path:
    config = {
        "model": str(model),
        "template": "obp-llm",
        "definitions": "conll2003",
        "data_root": str(FIXTURES),
        "seed": 3,
        "device": "cpu",
        "lora": {"preset": "obp-llm", "dropout": 0.0},
        "stages": {
            # 3 sentences x 4 types = 12 examples; batch 11 x accum 2: one step per epoch, its
            # micro-batches 11 (6 + 5 per process, not synced) and 1 (rank 1's share is empty)
            "target": {
                "data": {"path": "mini.conll", "types": ["PER", "LOC", "ORG", "MISC"]},
                "epochs": 3,
                "batch_size": 11,
                "grad_accum": 2,
                "lr": 1.0e-2,
                "loss": [{"name": "nll"}],
            },
            "dpo": {
                "kind": "dpo",
                "data": {"path": "mini.conll", "types": ["PER", "LOC", "ORG", "MISC"]},
                "epochs": 1,
                "batch_size": 3,
                "lr": 1.0e-3,
                "preference": {"boundary_pairs": 1, "feedback_max_new_tokens": 12},
            },
        },
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _env() -> dict[str, str]:
    root = Path(__file__).resolve().parents[2]
    return {
        **os.environ,
        "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


def _adapter(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("ddp")
    config = _config(tmp, tiny_causal_lm(tmp / "tiny"))
    train = ["-m", "fewner.cli", "train", "--config", str(config)]
    one, two = tmp / "one", tmp / "two"
    subprocess.run(
        [sys.executable, *train, "--out", str(one)], check=True, env=_env(), timeout=300
    )
    launch = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",  # accelerate's multi-process launcher; CPU processes (gloo) without CUDA
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        "29517",
    ]
    subprocess.run(
        [*launch, *train, "--out", str(two)], check=True, env=_env(), timeout=300
    )
    return one, two


def test_two_processes_train_the_one_process_adapter(runs):
    import torch

    one, two = runs
    for stage in ("target", "dpo"):
        a, b = _adapter(one / stage / "adapter"), _adapter(two / stage / "adapter")
        assert a.keys() == b.keys() and a
        for key in a:
            assert torch.allclose(a[key], b[key], atol=2e-5, rtol=1e-4), (stage, key)
    changed = _adapter(two / "target" / "adapter")
    assert any(v.abs().sum() > 0 for k, v in changed.items() if "lora_B" in k)


def test_two_processes_log_each_step_once_with_the_global_loss(runs):
    one, two = runs
    for stage in ("target", "dpo"):
        logs = []
        for run in (one, two):
            lines = (run / stage / "log.jsonl").read_text(encoding="utf-8").splitlines()
            logs.append([json.loads(x) for x in lines if json.loads(x)["event"] == "step"])
        assert [r["step"] for r in logs[1]] == [r["step"] for r in logs[0]]
        for a, b in zip(*logs, strict=True):
            assert b["loss"] == pytest.approx(a["loss"], rel=1e-4, abs=1e-6)


def test_rank_zero_made_the_dpo_pairs_of_a_one_process_run(runs):
    one, two = runs
    a = (one / "dpo" / "pairs.jsonl").read_text(encoding="utf-8").splitlines()
    b = (two / "dpo" / "pairs.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(a) == len(b) > 0
    keys = ("sentence_id", "type", "chosen", "rejected", "source")
    for x, y in zip(a, b, strict=True):
        x, y = json.loads(x), json.loads(y)
        assert {k: x.get(k) for k in keys} == {k: y.get(k) for k in keys}
    metrics = json.loads((two / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics["stages"]) == {"target", "dpo"}
    assert {s["processes"] for s in metrics["stages"].values()} == {2}
    single = json.loads((one / "metrics.json").read_text(encoding="utf-8"))
    assert {s["processes"] for s in single["stages"].values()} == {1}
    assert (two / "adapter" / "adapter_model.safetensors").is_file()
