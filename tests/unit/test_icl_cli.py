"""``fewner icl`` and its config: wiring, outputs, resume from the cache, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from fewner.cli import cli, main
from fewner.errors import ConfigError
from fewner.icl.config import apply_overrides, load_icl_config, parse_model_spec, read_config_file

REPO = Path(__file__).resolve().parents[2]

POOL = "Alice\tB-PER\nmet\tO\nCarol\tB-PER\n\nRome\tB-LOC\nis\tO\nfar\tO\n"
INPUT = "Bob\tB-PER\nflew\tO\nto\tO\nParis\tB-LOC\n\nit\tO\nrained\tO\n\nParis\tB-LOC\n!\tO\n"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "pool.txt").write_text(POOL, encoding="utf-8")
    (tmp_path / "input.txt").write_text(INPUT, encoding="utf-8")
    config = {
        "models": [
            # stage 1 always names Paris; stage 2 cannot be parsed (a failure per Paris span)
            {"model": "s1", "backend": "scripted", "options": {"default": " <<< Paris >>>"}},
        ],
        "retrieval": {"method": "random", "k": 1},
    }
    (tmp_path / "icl.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return {
        "pool": tmp_path / "pool.txt",
        "input": tmp_path / "input.txt",
        "config": tmp_path / "icl.yaml",
    }


def _args(files, out, *extra):
    return [
        "icl", str(files["input"]), "--pool", str(files["pool"]), "--config", str(files["config"]),
        "--gold", str(files["input"]), "-o", str(out), "--set", "extract.constrained=false", *extra,
    ]  # fmt: skip


@pytest.mark.parametrize("parallel", [[], ["--parallel"]], ids=["sequential", "parallel"])
def test_icl_run_writes_predictions_config_metrics_and_resumes(files, tmp_path, parallel):
    out = tmp_path / "run" / "preds.jsonl"
    result = CliRunner().invoke(cli, _args(files, out, "--json", *parallel))
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "preds.run" / "metrics.json").read_text())
    config = json.loads((tmp_path / "run" / "preds.run" / "config.json").read_text())
    assert metrics["sentences"] == 3
    assert metrics["models"]["s1"]["extract_failures"] == 0
    assert metrics["models"]["s1"]["classify_failures"] == 2  # two sentences contain Paris
    assert metrics["totals"]["kept"] == 2 and metrics["totals"].get("typed", 0) == 0
    assert metrics["scores"]["unvalidated"]["micro"]["support"] == 3
    assert metrics["scores"]["validated"]["micro"]["predicted"] == 0
    assert config["resolved"]["types"] == ["LOC", "PER"]  # labels of the pool
    assert config["resolved"]["retrieval"] == {"method": "random", "seed": 0}
    assert config["config"]["extract"]["constrained"] is False
    lines = out.read_text().splitlines()
    assert (
        len(lines) == 3
        and len((tmp_path / "run" / "preds.unvalidated.jsonl").read_text().splitlines()) == 3
    )
    answers = [
        json.loads(x) for x in (tmp_path / "run" / "preds.answers.jsonl").read_text().splitlines()
    ]
    assert [a["answers"][0]["stage"] for a in answers] == ["extract"] * 3
    assert metrics["cache"]["s1"]["misses"] > 0

    assert config["config"]["parallel"] is bool(parallel)
    again = CliRunner().invoke(cli, _args(files, out, "--json", *parallel))
    assert again.exit_code == 0, again.output
    rerun = json.loads((tmp_path / "run" / "preds.run" / "metrics.json").read_text())
    assert rerun["cache"]["s1"]["misses"] == 0 and rerun["cache"]["s1"]["hits"] > 0
    assert out.read_text().splitlines() == lines


def test_icl_help_explains_the_stages():
    result = CliRunner().invoke(cli, ["icl", "--help"])
    assert result.exit_code == 0
    for word in ("--models", "--pool", "--retrieval", "self-validation", "stage 1"):
        assert word in result.output


def test_bad_config_key_is_one_line_error(files, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(_args(files, tmp_path / "p.jsonl", "--set", "extract.treshold=0.3"))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown key(s) ['treshold']" in err and "Traceback" not in err


def test_preset_config_parses_with_three_models():
    from fewner.icl.config import resolve_icl_config

    config = resolve_icl_config(REPO / "configs" / "el4ner.yaml")
    assert [m.model for m in config.models] == [
        "smollm2-135m-instruct",
        "gemma3-270m",
        "qwen2.5-coder-0.5b-instruct",
    ]
    settings = config.pipeline_settings()
    assert (settings.k, settings.span_threshold, settings.validate) == (4, 0.5, True)
    assert config.retrieval.method == "span" and config.backend == "llamacpp"


def test_config_errors_and_model_specs():
    assert parse_model_spec("llamacpp:gemma3-270m").backend == "llamacpp"
    assert parse_model_spec("./models/x.gguf").model == "./models/x.gguf"
    assert parse_model_spec("C:/x.gguf").backend is None  # not a backend prefix
    with pytest.raises(ConfigError, match="at least one model"):
        load_icl_config({})
    with pytest.raises(ConfigError, match="unknown backend"):
        load_icl_config({"models": ["vllm:x"], "backend": "vllm"})
    with pytest.raises(ConfigError, match="expected an integer"):
        load_icl_config(apply_overrides({"models": ["a"]}, ["retrieval.k=two"]))
    with pytest.raises(ConfigError, match="validate_threshold"):
        load_icl_config({"models": ["a"], "validate": {"threshold": 1.5}})


def test_cli_choices_and_config_names_come_from_the_registries():
    from fewner.backends.factory import backend_names
    from fewner.icl.config import icl_backend_names
    from fewner.icl.retrieval import RETRIEVERS

    command = cli.get_command(None, "icl")  # type: ignore[arg-type]
    choices = {p.name: list(p.type.choices) for p in command.params if hasattr(p.type, "choices")}
    assert choices["retrieval"] == RETRIEVERS.names()
    assert choices["backend"] == icl_backend_names() == backend_names(user_facing=False)
    assert "scripted" in choices["backend"]  # dry runs
    assert parse_model_spec("openai:Qwen/Qwen2.5-7B-Instruct").backend == "openai"


def test_build_members_routes_options_names_duplicates_and_closes_on_failure():
    from fewner.backends.scripted import ScriptedBackend
    from fewner.icl.runner import build_members

    made: list[tuple[str, str, dict]] = []
    closed: list[str] = []

    class Recorded(ScriptedBackend):
        def close(self) -> None:
            closed.append(self.model_id)

    def make(kind, model, cache=None, **options):
        made.append((kind, model, options))
        if model == "broken":
            raise ConfigError("cannot load broken")
        return Recorded(model=model)

    config = load_icl_config(
        {
            "models": [
                "m1",
                {"model": "m1", "weight": 2.0},
                {
                    "model": "remote",
                    "backend": "openai",
                    "options": {"base_url": "http://h:8000/v1"},
                },
            ],
            "backend": "llamacpp",
            "backend_options": {"n_threads": 1},
        }
    )
    members = build_members(config, cache=None, make=make)
    assert [m.name for m in members] == ["m1", "m1#2", "remote"]
    assert [m.weight for m in members] == [1.0, 2.0, 1.0]
    assert made == [
        ("llamacpp", "m1", {"n_threads": 1}),
        ("llamacpp", "m1", {"n_threads": 1}),
        ("openai", "remote", {"base_url": "http://h:8000/v1"}),  # no llama.cpp options
    ]
    broken = load_icl_config({"models": ["m1", "broken"], "backend": "llamacpp"})
    with pytest.raises(ConfigError, match="broken"):
        build_members(broken, cache=None, make=make)
    assert closed == ["scripted:m1"]  # the model loaded before the failure was released


def test_restrict_pool_keeps_only_the_asked_types():
    from fewner.icl.runner import restrict_pool
    from tests.unit.icl_fakes import sent

    pool = [sent("Ann visited Rome", [(0, 1, "PER"), (2, 3, "LOC")], id="p")]
    kept, dropped = restrict_pool(pool, ["LOC"])
    assert [s.label for s in kept[0].spans] == ["LOC"] and dropped == 1


def test_start_and_limit_shard_the_input_and_the_shards_add_up(files, tmp_path):
    whole = tmp_path / "whole.jsonl"
    first = tmp_path / "first.jsonl"
    rest = tmp_path / "rest.jsonl"
    for out, extra in ((whole, []), (first, ["--limit", "2"]), (rest, ["--start", "2"])):
        result = CliRunner().invoke(cli, _args(files, out, "--json", *extra))
        assert result.exit_code == 0, result.output

    def metrics(out: Path) -> dict:
        return json.loads((out.parent / f"{out.stem}.run" / "metrics.json").read_text())

    ids = [[json.loads(x)["id"] for x in out.read_text().splitlines()] for out in (first, rest)]
    assert ids[0] + ids[1] == [json.loads(x)["id"] for x in whole.read_text().splitlines()]
    assert [len(i) for i in ids] == [2, 1]
    support = [metrics(out)["scores"]["unvalidated"]["micro"]["support"] for out in (first, rest)]
    assert support == [2, 1]  # gold paired by id: Bob + Paris, then the last Paris
    assert sum(support) == metrics(whole)["scores"]["unvalidated"]["micro"]["support"]
    config = json.loads((tmp_path / "rest.run" / "config.json").read_text())
    assert config["start"] == 2


def test_start_past_the_end_is_a_usage_error(files, tmp_path):
    result = CliRunner().invoke(cli, _args(files, tmp_path / "p.jsonl", "--start", "3"))
    assert result.exit_code == 2 and "past the end of INPUT (3 sentences)" in result.output


#: The resolved configs of configs/el4ner.yaml and configs/distill.yaml before the presets moved
#: into the package (captured from the previous loaders).
BEFORE = json.loads((Path(__file__).with_name("icl_distill_resolved_configs.json")).read_text())


def test_example_config_and_packaged_preset_resolve_as_before():
    from fewner.icl.config import resolve_icl_config

    example = REPO / "configs" / "el4ner.yaml"
    assert yaml.safe_load(example.read_text()) == {"recipe": "el4ner"}  # an example over the preset
    expected = BEFORE["icl"]["el4ner"]
    assert resolve_icl_config(example).to_dict() == expected
    assert resolve_icl_config().to_dict() == expected  # no file: the el4ner preset
    assert resolve_icl_config(recipe="el4ner").to_dict() == expected
    # the packaged file holds every key: read alone (no layering) it is the same config
    preset = REPO / "fewner" / "resources" / "icl" / "el4ner.yaml"
    assert load_icl_config(read_config_file(preset)).to_dict() == expected


def test_config_file_is_merged_over_its_recipe_then_flags_then_set(tmp_path):
    from fewner.icl.config import resolve_icl_config

    path = tmp_path / "mine.yaml"
    path.write_text("recipe: el4ner\nretrieval: {k: 6}\nmodels: [scripted:a]\n")
    config = resolve_icl_config(path, overrides=["retrieval.k=2", "extract.voter=weighted"])
    assert config.retrieval.k == 2 and config.retrieval.method == "span"  # merged key by key
    assert [m.model for m in config.models] == ["a"] and config.extract.voter == "weighted"
    assert config.backend_options == {"n_threads": 1, "n_ctx": 4096}  # from the preset
    plain = tmp_path / "plain.yaml"
    plain.write_text("models: [scripted:a]\n")  # no recipe: the built-in defaults
    assert resolve_icl_config(plain).backend_options == {}
    assert resolve_icl_config(plain, recipe="el4ner").backend_options == {"n_threads": 1, "n_ctx": 4096}
    with pytest.raises(ConfigError, match="unknown recipe 'nope'; known: el4ner"):
        resolve_icl_config(overrides=["recipe=nope"])


def test_list_recipes_and_a_run_without_config_uses_the_default_preset(files, tmp_path):
    listed = CliRunner().invoke(cli, ["icl", "--list-recipes"])  # no INPUT, --pool, -o needed
    assert listed.exit_code == 0 and listed.output.startswith("el4ner: EL4NER preset")
    out = tmp_path / "p.jsonl"
    args = ["icl", str(files["input"]), "--pool", str(files["pool"]), "-o", str(out),
            "--models", "scripted:s1", "--retrieval", "random", "--json"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "p.run" / "config.json").read_text())
    assert config["recipe"] == "el4ner" and config["config_file"] is None
    assert config["config"]["backend_options"] == {"n_threads": 1, "n_ctx": 4096}
    assert config["config"]["models"][0]["backend"] == "scripted"
    assert config["config"]["retrieval"]["method"] == "random"
