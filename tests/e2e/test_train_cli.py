"""``fewner train`` end to end on a tiny random model: stages, run folder, resume, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("peft")

import yaml  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from fewner.cli import main  # noqa: E402
from tests.unit.train_tiny import tiny_causal_lm, write_train_config  # noqa: E402


class Crash(RuntimeError):
    pass


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("tiny"))


def _config(tmp_path: Path, model_dir: Path, *, evaluate: bool = False) -> Path:
    stages = {
        "source": {"data": {"path": "mini.conll", "limit": 2}, "epochs": 1, "batch_size": 4},
        "target": {
            "data": {"path": "mini.conll", "types": ["PER", "LOC", "ORG", "MISC"]},
            "epochs": 2,
            "batch_size": 3,
            "grad_accum": 2,
            "lr": 5e-3,
            "loss": [{"name": "nll"}, {"name": "attn_contrastive", "weight": 0.01}],
        },
    }
    top: dict = {"lora": {"preset": "obp-llm"}}
    if evaluate:
        top["dev"] = {"data": {"path": "mini.conll", "limit": 1}, "max_new_tokens": 6}
        top["test"] = {"data": {"path": "mini.conll", "limit": 2}, "max_new_tokens": 6}
    return write_train_config(tmp_path, model_dir, stages, **top)


def _tensors(folder: Path) -> dict:
    return load_file(str(folder / "adapter_model.safetensors"))


def _assert_same_adapter(a: Path, b: Path) -> None:
    ta, tb = _tensors(a), _tensors(b)
    assert ta.keys() == tb.keys() and ta
    for key in ta:
        assert (ta[key] == tb[key]).all(), key


def test_train_runs_the_stages_and_writes_the_run_folder(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, model_dir, evaluate=True)
    run = tmp_path / "run"
    main(["train", "--config", str(config), "--out", str(run), "--no-progress"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["adapter"] == str(run / "adapter")
    assert set(summary["test"]) == {"f1", "precision", "recall", "sentences"}
    resolved = json.loads((run / "config.json").read_text())
    assert resolved["stages"]["target"]["warmup_ratio"] == 0.1  # defaults are written out
    assert resolved["lora"]["target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert "_run" in resolved
    metrics = json.loads((run / "metrics.json").read_text())
    assert list(metrics["stages"]) == ["source", "target"]
    for stage in ("source", "target"):
        folder = run / stage
        assert (folder / "adapter" / "adapter_model.safetensors").is_file()
        stage_metrics = json.loads((folder / "metrics.json").read_text())
        assert stage_metrics["completed"] and stage_metrics["steps"] > 0
        events = [json.loads(x)["event"] for x in (folder / "log.jsonl").read_text().splitlines()]
        assert events.count("eval") == 1 and "step" in events  # dev F1 at the end of the stage
    assert json.loads((run / "source" / "metrics.json").read_text())["types"] == [
        "MISC",
        "ORG",
        "PER",
    ]
    _assert_same_adapter(run / "adapter", run / "target" / "adapter")
    predictions = (run / "test" / "predictions.jsonl").read_text().splitlines()
    assert len(predictions) == 2 and "entities" in json.loads(predictions[0])
    assert json.loads((run / "test" / "metrics.json").read_text())["scores"]["sentences"] == 2

    # RUN/model: the adapter with its manifest, served with nothing else
    import fewner

    assert summary["model"] == str(run / "model")
    manifest = json.loads((run / "model" / "fewner.json").read_text())
    assert manifest["kind"] == "extractor" and manifest["training"]["stages"] == ["source", "target"]
    assert manifest["settings"]["template"] == resolved["template"] + "-v1"
    assert manifest["metrics"]["test"]["sentences"] == 2
    with fewner.load(run / "model") as ner:
        assert ner.labels == manifest["labels"] and ner.adapter == run / "model" / "adapter"
        assert isinstance(ner.predict("EU rejects German call .", ner.labels[:1]), list)


def test_crash_in_the_target_stage_then_resume_matches_an_uninterrupted_run(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fewner.train.config import load_config
    from fewner.train.stages import run_training

    config_path = _config(tmp_path, model_dir)
    config = load_config(config_path)
    run_training(config, tmp_path / "full")

    def crash(stage: str, step: int) -> None:
        if stage == "target" and step == 3:  # one step into the target stage's second epoch
            raise Crash

    with pytest.raises(Crash):
        run_training(config, tmp_path / "run", on_step=crash)
    assert not (tmp_path / "run" / "adapter").exists()
    main(
        [
            "train",
            "--config",
            str(config_path),
            "--out",
            str(tmp_path / "run"),
            "--resume",
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert "source: already completed" in err
    _assert_same_adapter(tmp_path / "full" / "adapter", tmp_path / "run" / "adapter")
    _assert_same_adapter(
        tmp_path / "full" / "source" / "adapter", tmp_path / "run" / "source" / "adapter"
    )


def test_stages_one_at_a_time_match_a_whole_run(model_dir: Path, tmp_path: Path) -> None:
    config = str(_config(tmp_path, model_dir))
    main(["train", "--config", config, "--out", str(tmp_path / "whole"), "--no-progress"])
    staged = str(tmp_path / "staged")
    main(["train", "--config", config, "--out", staged, "--stage", "source", "--no-progress"])
    assert not (tmp_path / "staged" / "target").exists()
    main(["train", "--config", config, "--out", staged, "--stage", "target", "--no-progress"])
    _assert_same_adapter(
        tmp_path / "whole" / "target" / "adapter", tmp_path / "staged" / "target" / "adapter"
    )


def test_skipping_the_source_stage(model_dir: Path, tmp_path: Path) -> None:
    config = str(_config(tmp_path, model_dir))
    run = tmp_path / "run"
    main(
        [
            "train",
            "--config",
            config,
            "--out",
            str(run),
            "--set",
            "stages.source.enabled=false",
            "--no-progress",
        ]
    )
    assert not (run / "source").exists() and (run / "target" / "adapter").is_dir()
    assert json.loads((run / "config.json").read_text())["stages"]["source"]["enabled"] is False


def _dpo_config(tmp_path: Path, model_dir: Path) -> Path:
    """The tiny config with its source stage off and a dpo stage after the target stage."""
    config = yaml.safe_load(_config(tmp_path, model_dir).read_text(encoding="utf-8"))
    config["stages"]["source"]["enabled"] = False
    config["stages"]["dpo"] = {
        "kind": "dpo",
        "data": {"path": "mini.conll", "types": ["PER", "LOC", "ORG", "MISC"]},
        "epochs": 2,
        "batch_size": 3,
        "lr": 1e-3,
        "preference": {"boundary_pairs": 2, "feedback_max_new_tokens": 6},
    }
    path = tmp_path / "dpo.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")  # stage order
    return path


def test_dpo_stage_pairs_reference_and_resume(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fewner.train.config import load_config
    from fewner.train.stages import run_training

    config_path = _dpo_config(tmp_path, model_dir)
    config = load_config(config_path)
    full = tmp_path / "full"
    run_training(config, full)
    metrics = json.loads((full / "dpo" / "metrics.json").read_text())
    pairs = [json.loads(x) for x in (full / "dpo" / "pairs.jsonl").read_text().splitlines()]
    assert metrics["pairs"]["boundary"] > 0 and metrics["examples"] == len(pairs)
    assert sum(metrics["pairs"].values()) == len(pairs)
    assert all(p["chosen"] != p["rejected"] and p["ref_chosen"] < 0 for p in pairs)
    steps = [json.loads(x) for x in (full / "dpo" / "log.jsonl").read_text().splitlines()]
    first = next(r for r in steps if r["event"] == "step")
    assert {"dpo", "sft_chosen", "reward_margin", "reward_accuracy"} <= set(first)
    assert first["dpo"] == pytest.approx(0.6931, abs=0.02)  # policy == reference at the start
    target = _tensors(full / "target" / "adapter")
    final = _tensors(full / "adapter")
    assert any(not (target[k] == final[k]).all() for k in target)  # DPO moved the adapter

    def crash(stage: str, step: int) -> None:
        if stage == "dpo" and step == 2:
            raise Crash

    with pytest.raises(Crash):
        run_training(config, tmp_path / "run", on_step=crash)
    main(["train", "--config", str(config_path), "--out", str(tmp_path / "run"), "--resume"])
    assert "read from" in capsys.readouterr().err  # the pairs file, not a second generation
    _assert_same_adapter(full / "adapter", tmp_path / "run" / "adapter")

    # --stage dpo: continue a finished target-SFT run folder with the dpo stage alone
    staged = str(tmp_path / "staged")
    cfg = str(config_path)
    main(["train", "--config", cfg, "--out", staged, "--stage", "target", "--no-progress"])
    main(["train", "--config", cfg, "--out", staged, "--stage", "dpo", "--no-progress"])
    _assert_same_adapter(full / "dpo" / "adapter", tmp_path / "staged" / "dpo" / "adapter")


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    return capsys.readouterr().err


def test_user_errors_are_one_line(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(_config(tmp_path, model_dir))
    run = str(tmp_path / "run")
    err = _fails(["train", "--config", config, "--set", "stages.target.epochs=0"], capsys)
    assert "stages.target.epochs must be >= 1" in err and "Traceback" not in err
    err = _fails(
        ["train", "--config", config, "--out", run, "--set", "stages.target.data.path=nope.conll"],
        capsys,
    )
    assert "data file not found" in err
    err = _fails(
        ["train", "--config", config, "--out", run, "--set", "stages.target.loss=[{name: nope}]"],
        capsys,
    )
    assert "unknown term 'nope'" in err
    err = _fails(["train", "--config", config, "--out", run, "--stage", "middle"], capsys)
    assert "no such stage" in err
    main(
        [
            "train",
            "--config",
            config,
            "--out",
            run,
            "--set",
            "stages.source.enabled=false",
            "--no-progress",
        ]
    )
    err = _fails(
        ["train", "--config", config, "--out", run, "--set", "stages.source.enabled=false"], capsys
    )
    assert "already holds a run" in err
    err = _fails(
        [
            "train",
            "--config",
            config,
            "--out",
            run,
            "--resume",
            "--set",
            "stages.target.lr=0.1",
            "--set",
            "stages.source.enabled=false",
        ],
        capsys,
    )
    assert "stages.target.lr" in err
    err = _fails(["train", "--config", config, "--resume"], capsys)
    assert "--resume needs --out" in err


def test_list_recipes(capsys: pytest.CaptureFixture[str]) -> None:
    main(["train", "--list-recipes"])
    listed = capsys.readouterr().out
    for name in ("obp-llm", "cllmfs", "grait", "demo"):
        assert f"{name}: " in listed


def test_train_a_packaged_recipe_by_name(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--recipe demo`` with no config file: the recipe's stages and loss, our data and model."""
    config = yaml.safe_load(_config(tmp_path, model_dir).read_text(encoding="utf-8"))
    sets = {
        "model": str(model_dir),
        "definitions": "conll2003",
        "init_adapter": "null",  # the recipe starts from SmolLM2's shipped adapter; not this model's
        "data_root": config["data_root"],
        "stages.target.data.path": "mini.conll",
        "stages.target.epochs": 1,
        "test.data.path": "mini.conll",
        "test.data.limit": 2,
        "test.max_new_tokens": 6,
    }
    run = tmp_path / "run"
    argv = ["train", "--recipe", "demo", "--out", str(run), "--no-progress"]
    main(argv + [x for k, v in sets.items() for x in ("--set", f"{k}={v}")])
    assert json.loads(capsys.readouterr().out)["adapter"] == str(run / "adapter")
    resolved = json.loads((run / "config.json").read_text())
    assert list(resolved["stages"]) == ["target"] and resolved["target_stages"] == ["target"]
    assert resolved["stages"]["target"]["loss"] == [{"name": "nll"}]
    assert resolved["stages"]["target"]["packing"] is True and resolved["layout"] == "sentence_first"
    assert resolved["stages"]["target"]["lr"] == 1e-4
    assert (run / "test" / "predictions.jsonl").is_file()
    err = _fails(["train", "--out", str(run)], capsys)
    assert "give --config FILE or --recipe NAME" in err


def test_train_on_examples_in_memory(model_dir: Path, tmp_path: Path) -> None:
    """What ``fewner.fit`` trains (``fit_config``): a recipe, the examples inline in its target
    stages, the stages whose data files are missing turned off; no data file is read or
    written."""
    from fewner.train.recipes import fit_config
    from fewner.train.stages import run_training
    from tests.unit.train_tiny import mini_sentences

    config = fit_config(
        "cllmfs",
        mini_sentences(),
        ["LOC", "PER"],
        model=str(model_dir),
        definitions={"LOC": "a place", "PER": "a person"},
        data_root=str(tmp_path / "no-data-here"),
        overrides={"stages.target.epochs": 1, "stages.target.batch_size": 4},
    )
    assert config.target_stages == ["target"] and config.enabled_stages() == ["target"]
    metrics = run_training(config, tmp_path / "run")
    assert list(metrics["stages"]) == ["target"]
    assert metrics["stages"]["target"]["sentences"] == 4
    assert metrics["stages"]["target"]["types"] == ["LOC", "PER"]
    resolved = json.loads((tmp_path / "run" / "config.json").read_text())
    inline = resolved["stages"]["target"]["data"]["inline"]
    assert [r["text"] for r in inline] == [s.text for s in mini_sentences()]
    assert resolved["definitions"] == {"LOC": "a place", "PER": "a person"}
    assert (tmp_path / "run" / "adapter" / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "no-data-here").exists()
