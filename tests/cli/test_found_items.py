"""Issue 21's "Found" items (except shared caches): each failed before its fix.

The CLI-level cases of bad folders and files are in ``test_bad_inputs.py``; these check the
library behaviour under them and the cases that are not errors (warnings, limits, defaults).
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import pytest

from fewner.cli import main
from fewner.errors import ModelNotAvailableError


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_models import tiny_llama

    return tiny_llama(tmp_path_factory.mktemp("llama") / "llama")  # 256 positions


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FEWNER_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(name, "1")


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``fewner ARGS`` in-process: (exit code, stderr + stdout)."""
    code = 0
    try:
        main(args)
    except SystemExit as exited:
        code = int(exited.code or 0)
    captured = capsys.readouterr()
    return code, captured.err + captured.out


# ----- tracebacks instead of errors -------------------------------------------------------------
@pytest.mark.parametrize("name", ["/missing/path", "./nope", "~/no-such-model", "a/b/c", "x.gguf"])
def test_load_refuses_a_path_that_does_not_exist(name: str) -> None:
    import fewner

    with pytest.raises(ModelNotAvailableError, match="no such file or folder"):
        fewner.load(name)


def test_load_still_takes_catalogue_names_and_hub_ids() -> None:
    import fewner

    assert fewner.load("org/some-model").model == "org/some-model"  # nothing loads yet
    assert fewner.load("smollm2-135m-instruct").model == "smollm2-135m-instruct"


def test_adapter_folder_problems_are_named(llama: Path, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from fewner.models.adapters import check_adapter, check_adapter_fits
    from fewner.predictors.extractor import ExtractorPredictor

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "adapter_config.json").write_text("[1, 2")
    with pytest.raises(ModelNotAvailableError, match=r"bad/adapter_config.json: not valid JSON"):
        ExtractorPredictor(str(llama), ["PER"], adapter=bad)
    (bad / "adapter_config.json").write_text("[]")
    with pytest.raises(ModelNotAvailableError, match="expected a JSON object"):
        check_adapter(bad)
    (bad / "adapter_config.json").write_text("{}")
    with pytest.raises(ModelNotAvailableError, match="adapter weights missing"):
        check_adapter(bad)
    good = tmp_path / "good"
    lora = LoraConfig(r=2, target_modules=["q_proj", "v_proj"], lora_alpha=4)
    get_peft_model(AutoModelForCausalLM.from_pretrained(llama), lora).save_pretrained(good)
    assert check_adapter(good)["r"] == 2
    check_adapter_fits(good, llama, "tiny")  # its own base: no false alarm


def test_adapter_load_error_is_one_line() -> None:
    from fewner.models.adapters import adapter_load_error

    text = "Error(s) in loading state_dict for PeftModelForCausalLM:\n" + "\n".join(
        f"\tsize mismatch for base_model.model.layers.{i}.q_proj.lora_A.weight: copying a param "
        "with shape torch.Size([4, 48]) from checkpoint, the shape in current model is "
        "torch.Size([4, 32])."
        for i in range(200)
    )
    error = adapter_load_error("/x/adapter", "tiny", RuntimeError(text))
    assert isinstance(error, ModelNotAvailableError) and "\n" not in str(error)
    assert "200 of its tensors" in str(error) and "[4, 48] in the adapter" in str(error)
    other = RuntimeError("CUDA out of memory")
    assert adapter_load_error("/x", "tiny", other) is other


# ----- long input, cut answers ------------------------------------------------------------------
class _Measured:
    """A backend that knows its window: 1 token per word."""

    name = "measured"
    model_id = "measured:tiny"

    def context_length(self) -> int:
        return 50

    def count_tokens(self, prompt: str) -> int:
        return len(prompt.split())


class _Cache:
    def __init__(self, inner: object) -> None:
        self.inner = inner


def test_check_context_names_the_limit_through_a_cache() -> None:
    from fewner.backends.limits import ContextLengthError, check_context

    backend = _Cache(_Measured())
    check_context(backend, ["short prompt"] * 3, max_new_tokens=10)
    with pytest.raises(ContextLengthError) as info:
        check_context(backend, ["ok", "w " * 45], max_new_tokens=10)
    assert info.value.index == 1 and info.value.limit == 50 and info.value.tokens == 45
    assert "max_new_tokens=10" in str(info.value) and "(50 tokens)" in str(info.value)
    check_context(_Cache(object()), ["w " * 1000], max_new_tokens=10)  # cannot tell: passes


def test_hf_backend_refuses_a_prompt_past_its_window(llama: Path) -> None:
    from fewner.backends.base import GenerationParams
    from fewner.backends.hf import HFBackend
    from fewner.backends.limits import ContextLengthError

    backend = HFBackend(str(llama), device="cpu")
    assert backend.context_length() == 256 and backend._model is None  # config only
    with pytest.raises(ContextLengthError, match="context window"):
        backend.generate(["The quick brown fox " * 80], GenerationParams(max_new_tokens=8))
    assert backend._model is None  # refused before the weights were even loaded


def test_a_long_line_fails_before_work_and_documents_mode_windows_it(
    llama: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "in.txt"
    data.write_text("EU rejects it .\n" + " ".join(["word"] * 100) + "\n")
    out = tmp_path / "out" / "p.jsonl"
    base = ["predict", "-m", str(llama), "--types", "PER", "-o", str(out), "--no-cache"]
    code, output = _run([*base, str(data)], capsys)
    assert code == 2 and "in.txt:2" in output and "context window" in output
    assert not out.parent.exists()  # checked before any work
    # --documents cuts the line into windows; a window whose prompt still does not fit the
    # tiny model is named with the fix (a smaller --window-words), never run past the window
    code, output = _run([*base, "--documents", "lines", str(data)], capsys)
    assert code == 2 and "--window-words" in output and "Traceback" not in output
    code, output = _run(
        [*base, "--documents", "lines", "--window-words", "6", "--window-overlap", "0",
         "--max-new-tokens", "4", str(data)], capsys,
    )  # fmt: skip
    assert code == 0, output
    assert len(out.read_text().splitlines()) == 2


def test_cut_answers_are_reported_plainly(
    llama: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "in.txt"
    data.write_text("EU rejects it\n")
    out = tmp_path / "p.jsonl"
    code, output = _run(
        ["predict", "-m", str(llama), "--types", "PER", str(data), "-o", str(out), "--no-cache",
         "--max-new-tokens", "2"], capsys,
    )  # fmt: skip
    assert code == 0, output
    assert "warning: 1 answer ended mid-mention, cut at max_new_tokens=2" in output
    assert "pass --max-new-tokens 4" in output
    metrics = json.loads((tmp_path / "p.run" / "metrics.json").read_text())
    assert metrics["answers_cut"] == 1 and metrics["max_new_tokens"] == 2
    assert metrics["warnings"] and "cut at max_new_tokens=2" in metrics["warnings"][0]


# ----- advice that points nowhere ---------------------------------------------------------------
def test_reading_options_reach_every_file_a_command_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Zürich\tB-LOC\nis\tO\n".encode("latin-1"))
    code, output = _run(["evaluate", str(latin), str(latin)], capsys)
    assert code == 2 and "--encoding latin-1" in output
    code, output = _run(["evaluate", str(latin), str(latin), "--encoding", "latin-1"], capsys)
    assert code == 0, output

    from fewner.data.io import read_corpus
    from fewner.data.reading import reading

    with reading("latin-1"):
        assert read_corpus(latin).sentences[0].text == "Zürich is"


# ----- silent acceptance ------------------------------------------------------------------------
def test_one_line_of_tab_separated_columns_is_not_plain_text(tmp_path: Path) -> None:
    from fewner.data.io import read_corpus_detailed

    three = tmp_path / "three.txt"
    three.write_text("EU\tNNP\tORG\n")
    read = read_corpus_detailed(three)
    assert read.format == "conll" and read.corpus.sentences[0].spans[0].label == "ORG"
    two = tmp_path / "two.txt"
    two.write_text("London\tlocation-GPE\n")
    assert read_corpus_detailed(two).format == "tags"
    words = tmp_path / "words.txt"
    words.write_text("EU NNP ORG\n")  # also a three-word sentence: stays text
    assert read_corpus_detailed(words).format == "text"


def test_a_data_spec_without_entities_warns(capsys: pytest.CaptureFixture[str]) -> None:
    from fewner.cli.common import plain_warnings
    from fewner.data.reading import DataWarning
    from fewner.data.spec import DataSpec

    spec = DataSpec(inline=[{"text": "EU rejects it", "entities": []}], types=["PER"])
    with pytest.warns(DataWarning, match="not one entity of PER"):
        spec.sentences_and_types()
    with plain_warnings():
        spec.sentences_and_types()
    shown = capsys.readouterr().err
    assert shown.startswith("warning: <1 inline examples>: not one entity") and "\n" == shown[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DataSpec(inline=[{"text": "Bob", "entities": [{"start": 0, "end": 3, "label": "PER"}]}]).sentences_and_types()


def test_icl_allow_unseen_types_turns_the_error_into_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    pool = tmp_path / "pool.txt"
    pool.write_text("Alice\tB-PER\nmet\tO\n")
    config = tmp_path / "icl.yaml"
    config.write_text(yaml.safe_dump({
        "models": [{"model": "s1", "backend": "scripted", "options": {"default": " <<< x >>>"}}],
        "retrieval": {"method": "random", "k": 1},
    }))  # fmt: skip
    args = ["icl", str(pool), "--pool", str(pool), "--config", str(config),
            "-o", str(tmp_path / "o.jsonl"), "--types", "PER,weapon"]  # fmt: skip
    code, output = _run(args, capsys)
    assert code == 2 and "'weapon'" in output
    code, output = _run([*args, "--allow-unseen-types"], capsys)
    assert code == 0 and "warning: no demonstration in the pool for weapon" in output


# ----- slow failure offline ---------------------------------------------------------------------
def test_unknown_hub_id_fails_at_once_offline_or_without_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fewner.models import hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(ModelNotAvailableError, match="offline mode is on"):
        hub.check_hub_model("nobody/no-such-model")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "_reachable", lambda endpoint, timeout: "Name or service not known")
    with pytest.raises(ModelNotAvailableError, match="cannot be reached"):
        hub.check_hub_model("nobody/no-such-model")
    assert time.perf_counter() - started < 2
    # the probe itself gives up within its timeout (a port nothing listens on)
    started = time.perf_counter()
    assert hub._reachable("http://127.0.0.1:9", 0.5) is not None
    assert time.perf_counter() - started < 2


# ----- threads ----------------------------------------------------------------------------------
def test_threads_setting_reaches_torch_and_llamacpp(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from fewner.backends import threads as threads_module
    from fewner.backends.llamacpp import default_threads as llama_threads

    monkeypatch.setattr(threads_module, "_chosen", None)
    monkeypatch.setenv("FEWNER_THREADS", "3")
    assert threads_module.default_threads() == 3 and llama_threads() == 3
    monkeypatch.delenv("FEWNER_THREADS")
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(threads_module.os, "sched_getaffinity", lambda _pid: set(range(16)))
    assert threads_module.default_threads() == 8  # half the cores, at most 8
    monkeypatch.setattr(threads_module.os, "sched_getaffinity", lambda _pid: {0, 1})
    assert threads_module.default_threads() == 1
    try:
        assert threads_module.set_threads(2) == 2
        assert torch.get_num_threads() == 2 and llama_threads() == 2
    finally:
        torch.set_num_threads(1)


def test_icl_and_annotate_report_cut_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from fewner.backends.scripted import ScriptedBackend
    from fewner.predictors.annotator import AnnotatorPredictor

    data = tmp_path / "pool.txt"
    data.write_text("Alice\tB-PER\nmet\tO\nBob\tB-PER\n")
    config = tmp_path / "icl.yaml"
    config.write_text(yaml.safe_dump({
        "models": [{"model": "s1", "backend": "scripted", "options": {"default": " <<< Bob"}}],
        "retrieval": {"method": "random", "k": 1}, "extract": {"constrained": False},
    }))  # fmt: skip
    code, output = _run(
        ["icl", str(data), "--pool", str(data), "--config", str(config), "-o",
         str(tmp_path / "icl.jsonl")], capsys,
    )  # fmt: skip
    assert code == 0, output
    assert "warning: s1: 1 extract answer ended mid-mention, cut at extract.max_new_tokens=48" in output
    assert "--set extract.max_new_tokens=96" in output

    scripted = ScriptedBackend(default='{"PER": ["Alice", "Bo')  # a dictionary cut short
    monkeypatch.setattr(AnnotatorPredictor, "backend", lambda self: scripted)
    code, output = _run(
        ["annotate", str(data), "-o", str(tmp_path / "ann.jsonl"), "-m", "x", "--types", "PER",
         "--no-cache", "--max-new-tokens", "20"], capsys,
    )  # fmt: skip
    assert code == 0, output
    assert "answer ended mid-mention, cut at max_new_tokens=20" in output


@pytest.mark.parametrize("fmt", ["conll", "tags", "jsonl", "text"])
def test_write_corpus_never_leaves_half_a_file(tmp_path: Path, fmt: str) -> None:
    from fewner.data.io import write_corpus
    from fewner.errors import DataFormatError
    from fewner.types import Sentence

    good = Sentence.from_words(["EU", "rejects"], [(0, 1, "ORG")], id="s0")
    bad = Sentence.from_words(["a\tb", "c\nd"], [], id="s1")  # no column or line format holds it
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    try:
        write_corpus([good] * 50 + [bad], target, fmt)
    except DataFormatError:
        assert target.read_text() == "old\n"  # the old file, whole
    else:
        assert target.read_text() != "old\n"  # the new file, whole (this format holds it)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # no temp file left
