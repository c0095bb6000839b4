"""Named training recipes shipped inside the package: ``fewner/resources/recipes/<name>.yaml``.

A recipe is a whole run config (``obp-llm``, ``cllmfs``, ``grait``, ``demo``). The command line
runs one by name (``fewner train --recipe obp-llm``), a config file starts from one
(``recipe: obp-llm``, its own keys deep-merged over the recipe), and Python builds one with
:func:`recipe_config`. :func:`fit_config` is what ``fewner.fit`` trains: the recipe with the
user's examples as inline data of its ``target_stages`` (the stages that train on the target
data), no dev or test evaluation, and the stages whose data files are not there turned off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fewner.config_schema import list_presets, load_layered_config, preset_description, read_preset
from fewner.errors import ConfigError
from fewner.train.config import RECIPES, TrainConfig, parse_config

__all__ = ["fit_config", "list_recipes", "recipe_config", "recipe_description"]


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


def fit_config(
    recipe: str,
    examples: Sequence[Any],
    labels: Sequence[str],
    *,
    model: str | None = None,
    definitions: str | Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    **keys: Any,
) -> TrainConfig:
    """The config ``fewner.fit`` trains: ``recipe`` with ``examples`` (Sentence objects or fewner
    JSONL records) and ``labels`` as the inline data of every stage in its ``target_stages``,
    ``dev`` and ``test`` off, and every other enabled stage whose data file is not there (e.g.
    the CoNLL-2003 source stage without the shared data) turned off.

    ``model`` / ``definitions`` (a name, a path or a mapping ``label -> definition``) replace
    the recipe's; ``keys``: other top-level keys (``seed=1``, ``device="cpu"``);
    ``overrides``: dotted keys set last (:func:`recipe_config`).
    """
    targets = read_preset(RECIPES, recipe).get("target_stages") or []
    if not targets:
        raise ConfigError(f"recipe {recipe}: it names no target_stages to train on the examples")
    values: dict[str, Any] = {"dev": None, "test": None}
    data = {"inline": list(examples), "types": list(labels)}
    values.update({f"stages.{name}.data": data for name in targets})
    if model is not None:
        values["model"] = model
    if definitions is not None:
        values["definitions"] = dict(definitions) if isinstance(definitions, Mapping) else definitions
    values.update(keys)
    values.update(overrides or {})
    config = recipe_config(recipe, values)
    for name in config.stages_without_data():
        if name not in targets:
            config.stages[name].enabled = False
    return config
