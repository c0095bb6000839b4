"""Stage kinds come from one registry: defaults, settings keys and validation follow the kind,
a new kind works by registering it, and ``fewner.train`` does not import ``fewner.grait``."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from fewner.errors import ConfigError
from fewner.train.config import StageSpec, config_to_dict, parse_config
from fewner.train.kinds import STAGE_KINDS, StageKind, TrainingItems
from fewner.train.settings import STAGE_LOOP_KEYS, LoopSettings

REPO = Path(__file__).resolve().parents[2]


def test_the_registered_kinds_and_their_defaults() -> None:
    kinds = STAGE_KINDS.load_all()
    assert {"sft", "dpo", "grait"} <= set(kinds)
    facts = {n: (k.default_lr, k.settings_key, k.abstains) for n, k in kinds.items()}
    assert facts["sft"] == (2e-4, None, False)
    assert facts["dpo"] == (5e-6, "preference", False)
    assert facts["grait"] == (2e-4, "refusal", True)
    assert kinds["dpo"].fixed_loss and kinds["sft"].fixed_loss is None
    with pytest.raises(ConfigError, match="unknown stage kind 'ppo'; known: dpo, grait, sft"):
        STAGE_KINDS["ppo"]


@dataclass
class ToySettings:
    level: int = 1

    def check(self, where: str) -> None:
        if self.level > 3:
            raise ConfigError(f"{where}.level must be <= 3")


@pytest.fixture
def toy_kind():
    def prepare(ctx, stage, folder):  # pragma: no cover - not run here
        return TrainingItems(stage.examples.examples)

    kind = StageKind("toy", 1e-3, prepare, settings=ToySettings, settings_key="toy")
    STAGE_KINDS.register("toy", kind)
    yield kind
    STAGE_KINDS.unregister("toy")


def test_a_registered_kind_brings_its_settings_key_and_defaults(toy_kind: StageKind) -> None:
    stages = {"a": {"data": {"path": "x"}}, "b": {"kind": "toy", "data": {"path": "x"}}}
    config = parse_config({"stages": stages})
    assert config.stages["b"].loop.lr == 1e-3 and config.stages["b"].settings == ToySettings()
    resolved = config_to_dict(config)
    assert resolved["stages"]["b"]["toy"] == {"level": 1}
    assert resolved["stages"]["a"]["toy"] is None  # every kind's key, null but its own
    assert parse_config(resolved) == config
    stages["b"]["toy"] = {"level": 2}
    assert parse_config({"stages": stages}).stages["b"].settings.level == 2
    for stage, message in [
        ({"kind": "toy", "toy": {"level": 9}}, "stages.b.toy.level must be <= 3"),
        ({"kind": "toy", "toy": {"lvl": 9}}, r"stages.b.toy: unknown key\(s\) \['lvl'\]"),
        ({"toy": {"level": 2}}, "stages.b.toy: only a kind: toy stage takes toy"),
        ({"kind": "toy", "preference": {}}, "only a kind: dpo stage takes preference"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_config({"stages": {"b": {"data": {"path": "x"}, **stage}}})


def test_a_stage_holds_its_loop_settings() -> None:
    spec = StageSpec.from_config(
        {"data": {"path": "x"}, "epochs": 3, "lr": 1e-3, "seed": 7, "max_length": 64}, "s"
    )
    assert spec.loop == LoopSettings(epochs=3, lr=1e-3) and spec.seed == 7
    settings = spec.loop_settings(seed=11, precision="bf16")
    assert (settings.epochs, settings.lr, settings.seed, settings.precision) == (3, 1e-3, 11, "bf16")
    flat = spec.to_config()
    assert set(STAGE_LOOP_KEYS) <= set(flat) and flat["seed"] == 7
    assert "precision" not in flat  # the run's, not a stage key
    with pytest.raises(ConfigError, match=r"s: unknown key\(s\) \['loop'\]"):
        StageSpec.from_config({"data": {"path": "x"}, "loop": {}}, "s")


def test_train_never_imports_grait() -> None:
    """The dependency runs grait -> train only: no module of fewner/train names fewner.grait,
    and importing the training run does not load it (it is registered lazily by name)."""
    pattern = re.compile(r"^\s*(from|import)\s+fewner\.grait\b|from fewner import grait", re.M)
    offenders = [
        p.name for p in (REPO / "fewner" / "train").glob("*.py") if pattern.search(p.read_text())
    ]
    assert offenders == []
    code = (
        "import sys, fewner.train.stages, fewner.train.config, fewner.train.recipes\n"
        "from fewner.train.config import load_config\n"
        "load_config(None, recipe='obp-llm')\n"
        "assert not [m for m in sys.modules if m.startswith('fewner.grait')], 'grait imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
