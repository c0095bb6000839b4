"""The bad-input matrix: every CLI command against a corpus of bad inputs.

Each case runs ``fewner.cli.main`` in-process (as the ``fewner`` entry point does) and asserts
what the README promises for a user's mistake: exit code 2, exactly one ``error:`` line that
names the file (or folder, or model) and the problem, no traceback, and nothing written where
the command writes its output (every failure here happens before work starts). Two cases run
the real entry point in a subprocess. Models are a tiny random Llama and the scripted backend,
so the whole matrix takes seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from fewner.cli import main

GOOD_TAGS = "EU\tB-ORG\nrejects\tO\nGerman\tB-MISC\ncall\tO\n\nPeter\tB-PER\nBlackburn\tI-PER\n"
ICL_CONFIG = {
    "models": [{"model": "s1", "backend": "scripted", "options": {"default": " <<< EU >>>"}}],
    "retrieval": {"method": "random", "k": 1},
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Good and bad files, folders and models, built once for the module."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tests.tiny_models import (
        LLAMA_CORPUS,
        byte_level_bpe,
        fast_tokenizer,
        random_llama,
        tiny_llama,
    )

    root = tmp_path_factory.mktemp("bad_inputs")
    files: dict[str, Path] = {"root": root}

    def write(name: str, data: str | bytes) -> Path:
        path = root / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        files[name.split(".")[0]] = path
        return path

    write("good.txt", GOOD_TAGS)
    write("empty.txt", "")
    write("blank.txt", "\n  \n\n")
    write("badbytes.txt", b"EU\tB-ORG\ncaf\xe9\tO\n")
    write("columns.txt", "EU\tNNP\tB-ORG\nrejects\tO\n")
    write("badjson.jsonl", '{"text": "EU rejects", "entities": []}\n{"text": "oops"\n')
    write("badtag.txt", "EU\tB-ORG\ncall\tX-PER\n")
    write("noentities.txt", "EU\tO\nrejects\tO\n")
    write("typesbad.txt", b"PER\n\xff\xfeLOC\n")
    write("long.txt", "EU rejects it .\n" + " ".join(["word"] * 3000) + "\n")
    write("bad.yaml", "models: [unclosed\n")
    write("latin.yaml", "PER: a person\nLOC: caf\xe9\n".encode("latin-1"))
    write("icl.yaml", yaml.safe_dump(ICL_CONFIG))
    files["missing"] = root / "no-such-file.txt"

    llama = tiny_llama(root / "llama")  # 256 positions: long.txt does not fit
    files["llama"] = llama
    lora = LoraConfig(r=2, target_modules=["q_proj", "v_proj"], lora_alpha=4)
    base = get_peft_model(AutoModelForCausalLM.from_pretrained(llama), lora)
    base.save_pretrained(root / "adapter-good")
    fast = fast_tokenizer(byte_level_bpe(LLAMA_CORPUS * 4, 400, full_alphabet=False))
    other = random_llama(fast, 0, hidden_size=48, intermediate_size=96, max_position_embeddings=256)
    get_peft_model(other, lora).save_pretrained(root / "adapter-other")
    config = json.loads((root / "adapter-other" / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "org/bigger-model"
    (root / "adapter-other" / "adapter_config.json").write_text(json.dumps(config))
    (root / "adapter-badjson").mkdir()
    (root / "adapter-badjson" / "adapter_config.json").write_text("{not json")
    (root / "adapter-noweights").mkdir()
    (root / "adapter-noweights" / "adapter_config.json").write_text(
        (root / "adapter-good" / "adapter_config.json").read_text()
    )
    for name in ("adapter-other", "adapter-badjson", "adapter-noweights"):
        files[name] = root / name
    return files


@dataclass(frozen=True)
class Case:
    """``args(files, out)`` -> the command line; the error line must contain every ``expect``."""

    name: str
    args: Callable[[dict[str, Path], Path], list[str]]
    expect: tuple[str, ...]


def _predict(*extra: str) -> Callable[[dict[str, Path], Path], list[str]]:
    def args(f: dict[str, Path], out: Path) -> list[str]:
        resolved = [str(f[x[1:]]) if x.startswith("@") else x for x in extra]
        return ["predict", "-m", str(f["llama"]), "--types", "PER", "-o", str(out), "--no-cache",
                "--threads", "1", *resolved]  # fmt: skip

    return args


# Reader failures every data-reading command must report the same way: file, line, problem.
READER_CASES = {
    "empty": ("empty.txt", "empty"),
    "blank": ("blank.txt", "empty"),
    "badbytes": ("badbytes.txt", "--encoding-errors replace"),
    "columns": ("columns.txt", "columns.txt:2"),
    "badjson": ("badjson.jsonl", "badjson.jsonl:2"),
    "badtag": ("badtag.txt", "badtag.txt:2"),
    "missing": ("no-such-file.txt", "no-such-file.txt"),
}

# command -> how a data file is passed to it (``{data}``: the bad file, ``{out}``: the output)
READING_COMMANDS: dict[str, Callable[[dict[str, Path], Path, Path], list[str]]] = {
    "data stats": lambda f, d, o: ["data", "stats", str(d)],
    "data convert": lambda f, d, o: ["data", "convert", str(d), str(o), "--to", "jsonl"],
    "episodes sample": lambda f, d, o: ["episodes", "sample", str(d), "-o", str(o), "-n", "1",
                                        "-k", "1", "-q", "1", "-e", "1"],
    "evaluate (gold)": lambda f, d, o: ["evaluate", str(d), str(f["good"]), "-o", str(o)],
    "evaluate (pred)": lambda f, d, o: ["evaluate", str(f["good"]), str(d), "-o", str(o)],
    "predict": lambda f, d, o: _predict(str(d))(f, o),
    "predict --gold": lambda f, d, o: _predict(str(f["good"]), "--gold", str(d))(f, o),
    "icl (input)": lambda f, d, o: ["icl", str(d), "--pool", str(f["good"]), "--config",
                                    str(f["icl"]), "-o", str(o)],
    "icl (pool)": lambda f, d, o: ["icl", str(f["good"]), "--pool", str(d), "--config",
                                   str(f["icl"]), "-o", str(o)],
    "annotate": lambda f, d, o: ["annotate", str(d), "-o", str(o), "-m", str(f["llama"]),
                                 "--types", "PER", "--threads", "1"],
    "fit": lambda f, d, o: ["fit", str(d), "--recipe", "dictionary", "-o", str(o)],
}  # fmt: skip

# Where click itself refuses a missing INPUT (exists=True), its "Error:" line names the path.
CLICK_CHECKS_EXISTENCE = {"predict", "icl (input)", "icl (pool)", "annotate", "fit",
                          "evaluate (gold)", "evaluate (pred)", "data stats", "data convert",
                          "episodes sample", "predict --gold"}  # fmt: skip

OTHER_CASES = [
    Case("adapter: malformed adapter_config.json",
         _predict("@good", "--adapter", "@adapter-badjson"),
         ("adapter-badjson", "not valid JSON", "--adapter")),
    Case("adapter: config but no weights",
         _predict("@good", "--adapter", "@adapter-noweights"),
         ("adapter-noweights", "weights missing", "--adapter")),
    Case("adapter: trained on another base model",
         _predict("@good", "--adapter", "@adapter-other", "--max-new-tokens", "8"),
         ("adapter-other", "org/bigger-model", "--model org/bigger-model")),
    Case("model: a missing path", lambda f, o: _predict("@good")(f, o)[:1]
         + ["-m", str(f["root"] / "gone" / "model")] + _predict("@good")(f, o)[3:],
         ("gone/model", "no such file or folder")),
    Case("model: unknown hub id, offline",
         lambda f, o: ["predict", "-m", "nobody/no-such-model", "--types", "PER", str(f["good"]),
                       "-o", str(o), "--no-cache"],
         ("nobody/no-such-model", "offline")),
    Case("predict: a line past the context window", _predict("@long"),
         ("long.txt:2", "context window", "256 tokens", "--documents lines")),
    Case("annotate: a line past the context window",
         lambda f, o: ["annotate", str(f["long"]), "-o", str(o), "-m", str(f["llama"]),
                       "-b", "hf", "--types", "PER", "--no-cache"],
         ("long.txt:2: the annotation prompt", "context window", "(256 tokens)")),
    Case("predict: undecodable --types-from",
         lambda f, o: _predict("@good")(f, o)[:3] + _predict("@good")(f, o)[5:]
         + ["--types-from", str(f["typesbad"])],
         ("typesbad.txt:2", "--encoding")),
    Case("icl: a type with no demonstration in the pool",
         lambda f, o: ["icl", str(f["good"]), "--pool", str(f["good"]), "--config",
                       str(f["icl"]), "-o", str(o), "--types", "PER,weapon"],
         ("good.txt", "'weapon'", "--allow-unseen-types")),
    Case("icl: a type without a definition",
         lambda f, o: ["icl", str(f["good"]), "--pool", str(f["good"]), "--config",
                       str(f["icl"]), "-o", str(o), "--types", "PER,MISC",
                       "--definitions", "wnut17"],
         ("definition", "MISC")),
    Case("icl: malformed config file",
         lambda f, o: ["icl", str(f["good"]), "--pool", str(f["good"]), "--config",
                       str(f["bad"]), "-o", str(o)],
         ("bad.yaml",)),
    Case("predict: definitions file not in UTF-8", _predict("@good", "--definitions", "@latin"),
         ("latin.yaml:2", "save the definitions file as UTF-8")),
    Case("predict: template file not in UTF-8", _predict("@good", "--template", "@latin"),
         ("latin.yaml:2", "save the template file as UTF-8")),
    Case("icl: config file not in UTF-8",
         lambda f, o: ["icl", str(f["good"]), "--pool", str(f["good"]), "--config",
                       str(f["latin"]), "-o", str(o)],
         ("latin.yaml:2", "save the config file as UTF-8")),
    Case("train: config file not in UTF-8",
         lambda f, o: ["train", "--config", str(f["latin"]), "--out", str(o)],
         ("latin.yaml:2", "UTF-8")),
    Case("train: malformed config file",
         lambda f, o: ["train", "--config", str(f["bad"]), "--out", str(o)], ("bad.yaml",)),
    Case("distill: malformed config file",
         lambda f, o: ["distill", "--config", str(f["bad"]), "--out", str(o)], ("bad.yaml",)),
    Case("generate: a missing model path",
         lambda f, o: ["generate", "-m", str(f["root"] / "gone"), "hello"],
         ("gone", "no such folder")),
    Case("serve: a missing model path",
         lambda f, o: ["serve", str(f["root"] / "gone" / "model"), "--port", "0"],
         ("gone/model", "no such file or folder")),
    Case("predict: a misspelt backend option", _predict("@good", "-O", "batchsize=2"),
         ("batchsize", "its options: adapter")),
    Case("generate: a transformers folder on the llamacpp backend",
         lambda f, o: ["generate", "-m", str(f["llama"]), "-b", "llamacpp", "hi"],
         ("llama", "is a folder", "-b hf")),
    Case("data stats: unknown tag scheme",
         lambda f, o: ["data", "stats", str(f["good"]), "--scheme", "bilou"], ("bilou",)),
    Case("bulk: a language model without --types",
         lambda f, o: ["bulk", str(f["good"]), "-o", str(o), "-m", str(f["llama"]),
                       "--engine", "local"],
         ("llama", "pass --types")),
    Case("bulk: an empty corpus",
         lambda f, o: ["bulk", str(f["empty"]), "-o", str(o), "-m", str(f["llama"]),
                       "--types", "PER", "--engine", "local"],
         ("empty.txt",)),
]  # fmt: skip


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.err + captured.out


def _assert_one_clear_line(code: int, output: str, expect: tuple[str, ...], out: Path) -> None:
    assert code == 2, output
    assert "Traceback" not in output, output
    errors = [ln for ln in output.splitlines() if ln.lower().startswith("error:")]
    assert len(errors) == 1, output
    for part in expect:
        assert part in errors[0], f"{part!r} not in {errors[0]!r}"
    leftovers = sorted(p.name for p in out.parent.iterdir()) if out.parent.exists() else []
    assert leftovers == [], f"written despite the error: {leftovers}"


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """--threads writes these for child processes; monkeypatch restores them afterwards."""
    for name in ("FEWNER_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(name, "1")


@pytest.mark.parametrize("reader_case", sorted(READER_CASES))
@pytest.mark.parametrize("command", sorted(READING_COMMANDS))
def test_reader_errors_on_every_reading_command(
    corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    command: str, reader_case: str,
) -> None:  # fmt: skip
    name, problem = READER_CASES[reader_case]
    data = corpus["root"] / name
    out = tmp_path / "out" / "result.jsonl"
    code, output = _run(READING_COMMANDS[command](corpus, data, out), capsys)
    if reader_case == "missing" and command in CLICK_CHECKS_EXISTENCE:
        problem = "does not exist"
    _assert_one_clear_line(code, output, (name, problem), out)


@pytest.mark.parametrize("case", OTHER_CASES, ids=lambda c: c.name)
def test_other_bad_inputs(
    corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], case: Case
) -> None:
    out = tmp_path / "out" / "result.jsonl"
    code, output = _run(case.args(corpus, out), capsys)
    _assert_one_clear_line(code, output, case.expect, out)


def test_bad_bytes_advice_names_options_the_command_has(corpus: dict[str, Path]) -> None:
    """The UTF-8 error's advice (--encoding-errors / --encoding) exists on every command that
    reads a data file, and following it works."""
    from click.testing import CliRunner

    from fewner.cli import cli

    for command in (["predict"], ["icl"], ["annotate"], ["evaluate"], ["fit"], ["train"],
                    ["episodes", "fixed"],
                    ["distill"], ["data", "stats"], ["data", "convert"], ["episodes", "sample"]):
        shown = CliRunner().invoke(cli, [*command, "--help"]).output
        assert "--encoding-errors" in shown and "--encoding " in shown, command
    replaced = CliRunner().invoke(
        cli, ["data", "stats", str(corpus["badbytes"]), "--encoding-errors", "replace"]
    )
    assert replaced.exit_code == 0, replaced.output


def test_every_compute_command_takes_threads() -> None:
    from click.testing import CliRunner

    from fewner.cli import cli

    for command in ("predict", "icl", "annotate", "train", "distill", "fit", "serve", "bulk",
                    "generate", "demo"):
        assert "--threads" in CliRunner().invoke(cli, [command, "--help"]).output, command


@pytest.mark.parametrize(
    "args, expect",
    [
        (["data", "stats", "{badbytes}"], ("badbytes.txt:2", "--encoding-errors replace")),
        (["predict", "-m", "{llama}", "--types", "PER", "--adapter", "{adapter-badjson}",
          "{good}", "-o", "{out}"], ("adapter-badjson", "not valid JSON")),
    ],
    ids=["data-stats-bad-bytes", "predict-bad-adapter"],
)  # fmt: skip
def test_the_real_entry_point(corpus: dict[str, Path], tmp_path: Path, args, expect) -> None:
    """The installed ``fewner`` script path (``python -m fewner.cli``), in a fresh process."""
    out = tmp_path / "out" / "result.jsonl"
    names = {**{k: str(v) for k, v in corpus.items()}, "out": str(out)}
    argv = [a.format(**names) if a.startswith("{") else a for a in args]
    done = subprocess.run(
        [sys.executable, "-m", "fewner.cli", *argv], capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
    )
    _assert_one_clear_line(done.returncode, done.stderr + done.stdout, expect, out)
