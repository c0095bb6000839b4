"""The HF backend and ``fewner generate`` on the real SmolLM2-135M-Instruct (slow)."""

from __future__ import annotations

import json

import pytest

from fewner.backends.base import GenerationParams
from fewner.errors import FewnerError

pytestmark = pytest.mark.slow
MODEL = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def smol():
    pytest.importorskip("torch")
    from fewner.backends.hf import HFBackend

    try:
        backend = HFBackend(MODEL, device="cpu", batch_size=4)
    except FewnerError as err:
        pytest.skip(f"{MODEL} not available: {err}")
    yield backend
    backend.close()


def test_greedy_batched_equals_one_by_one_on_smollm2(smol) -> None:
    questions = [
        "What is the capital of France?",
        "List the people mentioned in: 'Barack Obama met Angela Merkel in Berlin on Tuesday.'",
        "Hi",
        "Name a city in Japan.",
    ]
    prompts = [smol.chat_prompt(q) for q in questions]
    params = GenerationParams(max_new_tokens=16)
    batched = smol.generate(prompts, params)
    single = [smol.generate([p], params)[0] for p in prompts]
    assert batched == single
    assert "Paris" in batched[0]


def test_logprobs_prefer_the_right_answer(smol) -> None:
    prompt = smol.chat_prompt("What is the capital of France? Answer with one word.")
    right, wrong = smol.logprobs([prompt, prompt], ["Paris", "Banana"])
    assert right > wrong


def test_stop_string_on_real_model(smol) -> None:
    prompt = smol.chat_prompt("Write one sentence about the sea.")
    full = smol.generate([prompt], GenerationParams(max_new_tokens=24))[0]
    assert " " in full.strip()
    stop = full.strip().split(" ")[1]  # the second word, cut mid-answer
    cut = smol.generate([prompt], GenerationParams(max_new_tokens=24, stop=(stop,)))[0]
    assert cut == full[: full.index(stop)]


def test_generate_command(tmp_path) -> None:
    pytest.importorskip("torch")
    from click.testing import CliRunner

    from fewner.cli import cli

    args = [
        "generate",
        "--model",
        MODEL,
        "--max-new-tokens",
        "12",
        "--jsonl",
        "--cache",
        str(tmp_path / "c.sqlite"),
    ]
    result = CliRunner().invoke(cli, [*args, "What is the capital of France?"])
    if isinstance(result.exception, FewnerError):
        pytest.skip(f"{MODEL} not available: {result.exception}")
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert "Paris" in line["completion"] and line["model"] == f"hf:{MODEL}"
    again = CliRunner().invoke(cli, [*args, "What is the capital of France?"])
    assert json.loads(again.stdout.strip().splitlines()[-1]) == line
