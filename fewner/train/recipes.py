"""Named training recipes shipped inside the package: ``fewner/resources/recipes/<name>.yaml``.

A recipe is a whole run config (``obp-llm``, ``cllmfs``, ``grait``, ``demo``). The command line
runs one by name (``fewner train --recipe obp-llm``), a config file starts from one
(``recipe: obp-llm``, its own keys deep-merged over the recipe), and Python builds one with
:func:`recipe_config`, which is what ``fewner.fit`` does with the user's examples in the
recipe's ``target_stages`` (the stages that train on the target data) as inline data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fewner.config_schema import list_presets, load_layered_config, preset_description
from fewner.train.config import RECIPES, TrainConfig, parse_config

__all__ = ["list_recipes", "recipe_config", "recipe_description"]


def list_recipes() -> list[str]:
    """Names of the packaged recipes (sorted)."""
    return list_presets(RECIPES)


def recipe_description(name: str) -> str:
    """The recipe's one-line description (the first comment line of its file)."""
    return preset_description(RECIPES, name)


def recipe_config(
    recipe: str, overrides: Mapping[str, Any] | None = None, **keys: Any
) -> TrainConfig:
    """A validated :class:`TrainConfig` from the packaged ``recipe`` and Python overrides.

    ``overrides``: dotted keys set to Python values, each *replacing* the recipe's value at that
    path (like ``--set``), e.g. ``{"stages.target.data": {"inline": sentences, "types": labels},
    "test": None}``; inline examples may be :class:`~fewner.types.Sentence` objects or fewner
    JSONL records. ``keys``: top-level keys (``model="..."``, ``seed=1``), set after
    ``overrides``. Unknown recipes, keys and bad values raise
    :class:`~fewner.errors.ConfigError` naming them.
    """
    values = {**(overrides or {}), **keys}
    data = load_layered_config(None, preset_kind=RECIPES, preset=recipe, overrides=values)
    return parse_config(data, source=f"recipe {recipe}")
