"""Every snippet of the README's Python section runs (tiny random models here; the real ones in
tests/docs/test_readme_python_real.py, marked slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.readme_snippets import make_student, python_blocks, run_blocks, write_unlabeled_pool

pytest.importorskip("torch")


def test_the_python_section_has_the_promised_programs() -> None:
    blocks = "\n".join(python_blocks())
    for needed in ('fewner.load("smollm2-135m-ner")', 'recipe="ner-sft"', 'recipe="icl"',
                   'fewner.load("fewner-span-minilm")', 'span5 = fewner.fit(examples)',
                   'fewner.load("runs/distill-D/student")', ".save(", 'fewner.load("my-ner")', 'recipe="calibrate"',
                   'recipe="distill-from"'):
        assert needed in blocks


def test_readme_python_snippets_run_on_tiny_models(tmp_path: Path, capsys) -> None:
    from tests.unit.distill_tiny import tiny_encoder
    from tests.unit.train_tiny import tiny_causal_lm

    lm = str(tiny_causal_lm(tmp_path / "lm"))
    from fewner.predictors.extractor import ExtractorPredictor

    tiny_ner = tmp_path / "tiny-ner"  # stands in for the shipped source-stage extractor
    ExtractorPredictor(lm, [], layout="sentence_first", backend_options={"device": "cpu"}).save(tiny_ner)
    make_student(tmp_path / "runs" / "distill-D" / "student", str(tiny_encoder(tmp_path / "enc")))
    write_unlabeled_pool(tmp_path)
    ns = run_blocks(tmp_path, {
        '"llamacpp:smollm2-135m-instruct"': f'"hf:{lm}"',
        '"llamacpp:gemma3-270m"': f'"hf:{lm}"',
        '"smollm2-135m-instruct"': f'"{lm}"',
        '"smollm2-135m-ner"': f'"{tiny_ner}"',
        'recipe="calibrate")': f'recipe="calibrate", model="{tiny_ner}", grid=[0.0, -1.0])',
        'fewner.fit(examples)': 'fewner.fit(examples, steps=3)',  # the real shipped span model, briefly adapted
        # the shipped source adapter fits SmolLM2 only: the tiny model trains a fresh LoRA, one epoch
        'recipe="ner-sft", out=': f'recipe="ner-sft", model="{lm}", overrides={{"init_adapter": None, '
                                  '"stages": {"target": {"epochs": 1}}}, out=',
        # the pipeline with the dictionary as its teacher (the LLM teacher: the slow suite)
        'recipe="distill-from",': 'recipe="distill-from", teacher="dictionary", epochs=1,',
    })
    printed = capsys.readouterr().out
    assert "[" in printed  # the predictions were printed
    assert (tmp_path / "my-ner" / "fewner.json").is_file()
    assert (tmp_path / "my-ner" / "adapter" / "adapter_config.json").is_file()
    assert (tmp_path / "my-icl" / "fewner.json").is_file()
    assert ns["ner"].labels == ["city", "company", "person"]
    assert ns["tuned"].none_bias in (0.0, -1.0) and len(ns["tuned"].metrics["calibration"]["grid"]) == 2
    assert ns["student"].labels == ["PER", "LOC", "ORG", "MISC"]
    assert ns["span5"].kind == "span" and (tmp_path / "my-span" / "fewner.json").is_file()
    assert ns["fast"].kind == "span" and (tmp_path / "runs" / "mine" / "model" / "fewner.json").is_file()
